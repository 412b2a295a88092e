"""The generic JSON lead and event payloads: validation and normalisation, no I/O.

The pydantic models below are the contract: they validate requests and generate the OpenAPI
document served at /openapi.json. What the database can hold, and how an odd optional field
keeps its lead, is decided in `bot.sources.validation`, shared by every source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from bot.domain.leads import EngagementEvent, LeadProfile
from bot.sources.countries import normalise_country
from bot.sources.validation import (
    FieldError,
    FieldWarning,
    PayloadError,
    clean_json,
    field_errors,
    storable_timestamp,
    validate_keeping_odd_fields,
)

__all__ = [
    "EventPayload",
    "FieldError",
    "FieldWarning",
    "LeadPayload",
    "ParsedEvent",
    "ParsedLead",
    "PayloadError",
    "normalise_country",
    "parse_event",
    "parse_lead",
]

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_SIZE_RANGE = re.compile(r"^\s*(\d[\d,]*)\s*(?:-|–|to)\s*(\d[\d,]*)\s*$")
_SIZE_PLUS = re.compile(r"^\s*(\d[\d,]*)\s*\+\s*$")
MAX_FUTURE_SKEW = timedelta(minutes=5)
# No company employs more; also far inside the 32-bit column PostgreSQL stores it in.
MAX_COMPANY_SIZE = 10_000_000
_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}$"
)
UtmValue = Annotated[str, StringConstraints(max_length=200)]
# Senders use numbers or strings for their own ids; both become the same idempotency key.
DeliveryId = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
    StringConstraints(min_length=1, max_length=200),
    WithJsonSchema(
        {
            "anyOf": [{"type": "string", "minLength": 1, "maxLength": 200}, {"type": "integer"}],
            "description": "the sender's own id for this delivery: a retry with the same id "
            "is answered 200 duplicate and stored once",
        }
    ),
]
EVENT_TYPE = re.compile(r"[a-z][a-z0-9_.:-]{0,63}")
RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)
# As published in the OpenAPI document: surrounding spaces and upper case are accepted.
EVENT_TYPE_SCHEMA = r"^\s*[A-Za-z][A-Za-z0-9_.:-]{0,63}\s*$"
# A bad value in any other lead field keeps the lead (the value moves to `custom`).
REQUIRED_LEAD_FIELDS = frozenset({"id", "email", "custom"})


@dataclass(frozen=True)
class ParsedLead:
    profile: LeadProfile
    delivery_id: str | None
    unknown_fields: tuple[str, ...] = ()
    warnings: tuple[FieldWarning, ...] = ()


@dataclass(frozen=True)
class ParsedEvent:
    email: str
    event: EngagementEvent
    delivery_id: str | None
    unknown_fields: tuple[str, ...] = field(default=())
    warnings: tuple[FieldWarning, ...] = ()


def normalise_email(email: str) -> str:
    return email.strip().lower()


def parse_company_size(value: int | str) -> int:
    """Employees as a number; a band like "51-200" or "1000+" counts as its lower bound."""
    if isinstance(value, str):
        text = value.strip()
        digits = text.replace(",", "")
        band = _SIZE_RANGE.match(text) or _SIZE_PLUS.match(text)
        if digits.isascii() and digits.isdigit() and len(digits) <= 12:
            value = int(digits)
        elif band and len(band.group(1)) <= 12:
            value = int(band.group(1).replace(",", ""))
        else:
            raise ValueError(
                f"expected a number of employees or a band like '51-200', got {value[:50]!r}"
            )
    if not 0 <= value <= MAX_COMPANY_SIZE:
        raise ValueError(f"must be between 0 and {MAX_COMPANY_SIZE:,} employees")
    return value


def normalise_website(value: str) -> str:
    """A web address as given ("acme.io", "https://www.acme.io/about"), if it is one."""
    text = value.strip()
    try:
        parts = urlsplit(text if "://" in text else f"https://{text}")
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        host = ""
    if parts.scheme not in ("http", "https") or not _HOSTNAME.match(host.lower()):
        raise ValueError("not a web address such as acme.io or https://acme.io")
    return text


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", str_max_length=10_000)

    id: DeliveryId | None = None
    email: EmailStr


class LeadPayload(_Payload):
    first_name: str | None = Field(default=None, max_length=200)
    last_name: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=300)
    company: str | None = Field(default=None, max_length=300)
    company_size: int | str | None = None
    industry: str | None = Field(default=None, max_length=200)
    country: str | None = None
    phone: str | None = Field(default=None, max_length=64)
    website: str | None = Field(default=None, max_length=500)
    source: str | None = Field(default=None, max_length=200)
    utm: dict[str, UtmValue] = Field(default_factory=dict)
    utm_source: UtmValue | None = None
    utm_medium: UtmValue | None = None
    utm_campaign: UtmValue | None = None
    utm_term: UtmValue | None = None
    utm_content: UtmValue | None = None
    custom: dict[str, Any] = Field(default_factory=dict)

    _blanks = field_validator(
        "first_name",
        "last_name",
        "title",
        "company",
        "industry",
        "country",
        "phone",
        "website",
        "source",
        "company_size",
        mode="before",
    )(_blank_to_none)

    @field_validator("company_size", mode="before")
    @classmethod
    def _size_not_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("expected a number of employees, got true/false")
        return value

    @field_validator("website")
    @classmethod
    def _website(cls, value: str | None) -> str | None:
        return None if value is None else normalise_website(value)

    @field_validator("company_size")
    @classmethod
    def _size(cls, value: int | str | None) -> int | str | None:
        return None if value is None else parse_company_size(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else normalise_country(value)


class EventPayload(_Payload):
    type: str = Field(json_schema_extra={"pattern": EVENT_TYPE_SCHEMA})
    occurred_at: Annotated[
        datetime | None,
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": "string", "format": "date-time"},
                    {"type": "number", "description": "Unix seconds"},
                    {"type": "null"},
                ],
                "description": "when it happened; default: when received",
            }
        ),
    ] = None
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        value = value.strip()
        # ASCII before lower-casing: the Kelvin sign lower-cases to "k".
        if not (value.isascii() and EVENT_TYPE.fullmatch(value.lower())):
            raise ValueError("expected a short lower-case name such as 'page_view'")
        return value.lower()

    @field_validator("occurred_at", mode="before")
    @classmethod
    def _rfc3339(cls, value: Any) -> Any:
        # As documented: an RFC 3339 string or a number of Unix seconds. Pydantic alone would
        # also read the string "1700000000" as a time, which the schema cannot describe.
        unix_seconds = isinstance(value, int | float) and not isinstance(value, bool)
        if value is None or unix_seconds or (isinstance(value, str) and RFC3339.fullmatch(value)):
            return value
        raise ValueError(
            "expected a date-time like 2026-11-24T10:00:00Z (RFC 3339) or Unix seconds"
        )

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return None if value is None else storable_timestamp(value)


def _require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PayloadError([FieldError("body", "expected a JSON object")])
    return data


def _delivery_id(payload: _Payload) -> str | None:
    return None if payload.id is None else str(payload.id)


def _park_in_custom(payload: dict[str, Any], name: str, raw: Any) -> str:
    """Keep an odd field's raw value in the lead's `custom`, next to the sender's own keys."""
    custom = payload.get("custom")
    custom = dict(custom) if isinstance(custom, dict) else {}
    key = name if name not in custom else f"raw_{name}"
    custom[key] = raw
    payload["custom"] = custom
    return f"in custom.{key}"


def parse_lead(data: Any) -> ParsedLead:
    """Validate a generic lead body. Raises PayloadError naming every bad required field or
    value no database can hold; odd optional fields keep the lead and come back as warnings."""
    cleaned, warnings = clean_json(_require_object(data))
    payload, odd = validate_keeping_odd_fields(
        LeadPayload, cleaned, REQUIRED_LEAD_FIELDS, _park_in_custom
    )
    utm = {k.removeprefix("utm_"): v for k, v in payload.utm.items()}
    for key in UTM_KEYS:
        value = getattr(payload, key)
        if value:
            utm[key.removeprefix("utm_")] = value
    extras = dict(payload.model_extra or {})
    custom = {**extras, **payload.custom}  # unknown keys are kept, never dropped
    size = payload.company_size
    profile = LeadProfile(
        email=normalise_email(payload.email),
        first_name=payload.first_name,
        last_name=payload.last_name,
        title=payload.title,
        company=payload.company,
        company_size=size if isinstance(size, int) else None,
        industry=payload.industry,
        country=payload.country,
        phone=payload.phone,
        website=payload.website,
        source=payload.source,
        utm=utm,
        custom=custom,
    )
    return ParsedLead(profile, _delivery_id(payload), tuple(sorted(extras)), tuple(warnings + odd))


def parse_event(data: Any, received_at: datetime) -> ParsedEvent:
    """Validate an engagement event; one without ``occurred_at`` happened when received."""
    cleaned, warnings = clean_json(_require_object(data))
    try:
        payload = EventPayload.model_validate(cleaned)
    except ValidationError as exc:
        raise PayloadError(field_errors(exc)) from None
    if payload.occurred_at is not None and payload.occurred_at > received_at + MAX_FUTURE_SKEW:
        raise PayloadError(
            [
                FieldError(
                    "occurred_at",
                    "is in the future; send when it happened, in UTC or with its offset",
                )
            ]
        )
    event = EngagementEvent(
        type=payload.type,
        occurred_at=payload.occurred_at or received_at,
        properties={**(payload.model_extra or {}), **payload.properties},
    )
    extras = tuple(sorted(payload.model_extra or {}))
    return ParsedEvent(
        normalise_email(payload.email), event, _delivery_id(payload), extras, tuple(warnings)
    )
