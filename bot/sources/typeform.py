"""Typeform's ``form_response`` webhook -> the generic lead.

Answers are mapped by their field ``ref`` (``sources.typeform.forms.<form_id>.fields``); a ref
named like a lead field (``email``, ``company``...) maps itself, and an ``email`` answer fills
the email when nothing else does. Hidden fields carry UTM values (``utm_source``...). Choice
answers count by their label. ``event_id`` is the idempotency key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.sources.generic import FieldError, PayloadError
from bot.sources.mapping import LEAD_FIELDS, MappedLead

FORM_RESPONSE = "form_response"
MISSING_EMAIL = (
    "no answer maps to email: give the email question the ref `email`, or map its ref to email "
    "under sources.typeform.forms.<form_id>.fields"
)


@dataclass(frozen=True)
class TypeformResponse:
    event_id: str
    form_id: str
    mapped: MappedLead


def answer_value(answer: Mapping[str, Any]) -> Any:
    """The value of one answer, by its documented ``type``; choices by their labels."""
    kind = answer.get("type")
    if kind == "choice":
        choice = answer.get("choice") or {}
        return choice.get("label") or choice.get("other")
    if kind == "choices":
        choices = answer.get("choices") or {}
        labels = list(choices.get("labels") or [])
        if choices.get("other"):
            labels.append(choices["other"])
        return ", ".join(str(label) for label in labels) or None
    if kind == "payment":
        return None  # amounts and card details are not lead data
    if isinstance(kind, str) and kind in answer:
        return answer[kind]
    return None


def _require(data: Any, path: str, kind: type, what: str) -> Any:
    if not isinstance(data, kind):
        raise PayloadError([FieldError(path, f"expected {what}")])
    return data


def event_type(data: Any) -> str | None:
    return data.get("event_type") if isinstance(data, dict) else None


def map_form_response(
    data: Any,
    forms: Mapping[str, tuple[Mapping[str, str], Mapping[str, str]]],
) -> TypeformResponse:
    """``forms``: form id -> (field ref -> lead field, hidden field -> lead field)."""
    body = _require(data, "body", dict, "a JSON object")
    event_id = body.get("event_id")
    if not isinstance(event_id, str) or not event_id.strip() or len(event_id) > 200:
        raise PayloadError([FieldError("event_id", "expected Typeform's event id")])
    response = _require(body.get("form_response"), "form_response", dict, "an object")
    form_id = response.get("form_id")
    if not isinstance(form_id, str) or not form_id:
        raise PayloadError([FieldError("form_response.form_id", "expected the form's id")])
    answers = _require(response.get("answers", []), "form_response.answers", list, "a list")
    hidden = _require(response.get("hidden") or {}, "form_response.hidden", dict, "an object")
    field_map, hidden_map = forms.get(form_id, ({}, {}))

    mapped = MappedLead(delivery_id=f"typeform:{event_id}")
    targeted: list[tuple[Mapping[str, Any], str, str | None]] = []
    for index, answer in enumerate(answers):
        if not isinstance(answer, dict):
            raise PayloadError(
                [FieldError(f"form_response.answers[{index}]", "expected an answer object")]
            )
        field = answer.get("field")
        field = field if isinstance(field, dict) else {}
        ref = str(field.get("ref") or field.get("id") or index)
        targeted.append((answer, ref, field_map.get(ref) or (ref if ref in LEAD_FIELDS else None)))
    if all(target != "email" for _, _, target in targeted):
        # Nothing mapped to email: the first email question is the lead's email.
        for position, (answer, ref, target) in enumerate(targeted):
            if target is None and answer.get("type") == "email":
                targeted[position] = (answer, ref, "email")
                break
    for answer, ref, target in targeted:
        origin = f"form_response.answers[ref={ref}]"
        if target is not None:
            mapped.put(target, answer_value(answer), origin)
        else:
            mapped.keep_unmapped(ref, answer_value(answer), origin)
    for key, value in hidden.items():
        origin = f"form_response.hidden.{key}"
        target = hidden_map.get(key) or (key if key in LEAD_FIELDS else None)
        if target is not None:
            mapped.put(target, value, origin)
        else:
            mapped.keep_unmapped(f"hidden.{key}", value, origin)
    return TypeformResponse(event_id, form_id, mapped)
