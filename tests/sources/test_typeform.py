"""Typeform's form_response becomes the generic lead: refs, hidden UTM fields, choice labels."""

from __future__ import annotations

from typing import Any

import pytest

from bot.sources.generic import ParsedLead, PayloadError
from bot.sources.mapping import parse_mapped
from bot.sources.typeform import MISSING_EMAIL, TypeformResponse, map_form_response
from tests.sources.payloads import load

FORMS = {"lT4Z3j": ({"role": "title", "team_size": "company_size"}, {})}


def _parse(body: Any, forms: Any = FORMS) -> tuple[TypeformResponse, ParsedLead]:
    response = map_form_response(body, forms)
    return response, parse_mapped(response.mapped, "typeform", missing_email_hint=MISSING_EMAIL)


def test_documented_form_response_maps_answers_by_ref_and_hidden_utm_values() -> None:
    response, parsed = _parse(load("typeform/form_response.json"))
    lead = parsed.profile
    assert response.event_id == "LtWXD3crgy"
    assert parsed.delivery_id == "typeform:LtWXD3crgy"
    assert lead.email == "laura@contoso.com"  # the email question, though its ref is work_email
    assert (lead.first_name, lead.title, lead.company) == ("Laura", "Director of Sales", "Contoso")
    assert lead.company_size == 201  # the choice's label "201-1000"
    assert lead.country == "GB"
    assert lead.utm == {"source": "linkedin", "campaign": "q1-demo"}
    assert lead.source == "typeform"
    assert lead.custom == {
        "interests": "Routing, Reporting",
        "may_call": True,
        "hidden.user_id": "abc123456",
    }
    assert set(parsed.unknown_fields) == {
        "form_response.answers[ref=interests]",
        "form_response.answers[ref=may_call]",
        "form_response.hidden.user_id",
    }


def test_unconfigured_form_still_maps_refs_named_like_lead_fields() -> None:
    _, parsed = _parse(load("typeform/form_response.json"), forms={})
    assert parsed.profile.title is None
    assert parsed.profile.custom["role"] == "Director of Sales"


def test_bad_answer_is_named_by_its_ref() -> None:
    body = load("typeform/form_response.json")
    body["form_response"]["answers"][0]["email"] = "laura-at-contoso"
    with pytest.raises(PayloadError) as caught:
        _parse(body)
    assert [e.field for e in caught.value.errors] == ["form_response.answers[ref=work_email]"]


def test_response_without_an_email_answer_is_refused_with_the_fix() -> None:
    body = load("typeform/form_response.json")
    body["form_response"]["answers"] = body["form_response"]["answers"][1:]
    with pytest.raises(PayloadError) as caught:
        _parse(body)
    assert "sources.typeform.forms" in caught.value.errors[0].message


def test_missing_event_id_is_refused() -> None:
    body = load("typeform/form_response.json")
    del body["event_id"]
    with pytest.raises(PayloadError) as caught:
        _parse(body)
    assert caught.value.errors[0].field == "event_id"
