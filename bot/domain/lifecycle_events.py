"""Lifecycle events sent to subscribers (`webhooks:` in handoff.yml): types, ids, JSON shape.

Pure: the caller passes the lead, the actor and the instant. The body is documented as a JSON
Schema in `bot/domain/lifecycle_event.schema.json`; its keys only ever grow. Every event has an
id that is the same however often the same move is retried, so subscribers can deduplicate on
it (it is also the `Idempotency-Key` header).
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain.leads import StoredLead

EventType = Literal[
    "lead.hot",
    "lead.routed",
    "lead.claimed",
    "lead.contacted",
    "lead.returned",
    "lead.recontact_due",
    "lead.won",
    "lead.lost",
    "lead.disqualified",
    "lead.sla_breached",
    "lead.reassigned",
]
EVENT_TYPES: tuple[str, ...] = EventType.__args__  # type: ignore[attr-defined]
SCHEMA_VERSION = 1

_ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*")
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
_EVENT_NAMESPACE = uuid.UUID("6f1c8a52-3c1e-4d0a-9a59-2f1e7f3c9b10")


class WebhookSubscription(BaseModel):
    """One subscriber: where to send, which events, and the env var holding its HMAC secret."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="short name, shown to managers when the endpoint fails")
    url: str
    events: list[EventType] = Field(min_length=1)
    secret_env: str = Field(description="environment variable holding the signing secret")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not _NAME_RE.fullmatch(value):
            raise ValueError(f"{value!r}: use lower case letters, digits, - and _")
        return value

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value

    @field_validator("secret_env")
    @classmethod
    def _check_env(cls, value: str) -> str:
        # Only *_SECRET variables are read for subscriptions, so no other variable leaks out.
        if not _ENV_NAME_RE.fullmatch(value) or not value.endswith("_SECRET"):
            raise ValueError(f"{value!r}: name an environment variable ending in _SECRET")
        return value


# `marketing.webhook_url` is this subscription, signed with HANDOFF_WEBHOOK_SECRET as before.
MARKETING_SUBSCRIPTION = "marketing"


def event_id(event_type: str, lead_id: int, cycle: int, at: datetime) -> str:
    """Stable for one move: the same event retried gets the same id."""
    key = f"{event_type}:{lead_id}:{cycle}:{at.isoformat()}"
    return f"evt_{uuid.uuid5(_EVENT_NAMESPACE, key).hex}"


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def lead_fields(lead: StoredLead) -> dict[str, Any]:
    profile = lead.profile
    return {
        "id": lead.id,
        "email": profile.email,
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "company": profile.company,
        "title": profile.title,
        "source": profile.source,
        "utm": profile.utm,
        "score": lead.score,
        "grade": lead.grade,
        "state": lead.state.value,
        "channel": lead.route_channel,
        "owner": lead.claimed_by,
        "cycle": lead.cycle,
    }


def returned_fields(lead: StoredLead, reason_labels: dict[str, str]) -> dict[str, Any]:
    """The `lead.returned` fields, exactly as the original marketing webhook sent them."""
    return {
        "reason": lead.return_reason,
        "reason_label": reason_labels.get(lead.return_reason or "", "Other"),
        "note": lead.return_note,
        "recontact_after": lead.recontact_after.date().isoformat()
        if lead.recontact_after
        else None,
        "returned_by": lead.returned_by,
        "cooldown_until": _iso(lead.cooldown_until),
    }


def build_event_body(
    event_type: str,
    lead: StoredLead,
    actor: str,
    now: datetime,
    detail: dict[str, Any] | None = None,
    reason_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON body of one event. `detail` carries what only this move knows (e.g. the
    previous owner of a reassigned lead, the SLA timer that was breached)."""
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown lifecycle event {event_type!r}")
    body: dict[str, Any] = {
        "id": event_id(event_type, lead.id, lead.cycle, now),
        "event": event_type,
        "schema_version": SCHEMA_VERSION,
        "occurred_at": now.isoformat(),
        "actor": actor,
        "lead": lead_fields(lead),
        "detail": dict(detail or {}),
    }
    if event_type == "lead.returned":
        body.update(returned_fields(lead, reason_labels or {}))
    if event_type in ("lead.won", "lead.lost", "lead.disqualified"):
        body["closed_at"] = _iso(lead.closed_at)
    if event_type == "lead.claimed":
        body["claimed_at"] = _iso(lead.claimed_at)
    if event_type == "lead.contacted":
        body["contacted_at"] = _iso(lead.contacted_at)
    if event_type == "lead.routed":
        body["routed_at"] = _iso(lead.routed_at)
        body["route_rule"] = lead.route_rule
    return body
