"""The generic JSON lead and event payloads: validation and normalisation, no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import pycountry
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from bot.domain.leads import EngagementEvent, LeadProfile

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
_SIZE_RANGE = re.compile(r"^\s*(\d[\d,]*)\s*(?:-|–|to)\s*(\d[\d,]*)\s*$")
_SIZE_PLUS = re.compile(r"^\s*(\d[\d,]*)\s*\+\s*$")
MAX_FUTURE_SKEW = timedelta(minutes=5)
UtmValue = Annotated[str, StringConstraints(max_length=200)]
# Senders use numbers or strings for their own ids; both become the same idempotency key.
DeliveryId = Annotated[
    str,
    BeforeValidator(lambda v: str(v) if isinstance(v, int) and not isinstance(v, bool) else v),
    StringConstraints(max_length=200),
]
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.:-]{0,63}$")


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True)
class ParsedLead:
    profile: LeadProfile
    delivery_id: str | None
    unknown_fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedEvent:
    email: str
    event: EngagementEvent
    delivery_id: str | None
    unknown_fields: tuple[str, ...] = field(default=())


class PayloadError(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_country(value: str) -> str:
    """ISO alpha-2 from a code ("es", "ESP") or a name ("Spain", "United Kingdom")."""
    text = value.strip()
    try:
        country = pycountry.countries.lookup(text)
    except LookupError:
        try:
            matches = pycountry.countries.search_fuzzy(text) if len(text) > 3 else []
        except LookupError:
            matches = []
        if len(matches) != 1:
            raise ValueError(f"unknown country {value!r}: use an ISO code or name") from None
        country = matches[0]
    return str(country.alpha_2)


def parse_company_size(value: int | str) -> int:
    """Employees as a number; a band like "51-200" or "1000+" counts as its lower bound."""
    if isinstance(value, int):
        if value < 0:
            raise ValueError("must not be negative")
        return value
    text = value.strip()
    if text.replace(",", "").isdigit():
        return int(text.replace(",", ""))
    band = _SIZE_RANGE.match(text) or _SIZE_PLUS.match(text)
    if band:
        return int(band.group(1).replace(",", ""))
    raise ValueError(f"expected a number of employees or a band like '51-200', got {value!r}")


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

    @field_validator("company_size")
    @classmethod
    def _size(cls, value: int | str | None) -> int | str | None:
        return None if value is None else parse_company_size(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return None if value is None else normalise_country(value)


class EventPayload(_Payload):
    type: str
    occurred_at: datetime | None = None
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        value = value.strip().lower()
        if not EVENT_TYPE.match(value):
            raise ValueError("expected a short lower-case name such as 'page_view'")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a timezone, e.g. 2026-11-24T10:00:00Z")
        return None if value is None else value.astimezone(UTC)


def _field_errors(exc: ValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "body"
        message = err["msg"].removeprefix("Value error, ")
        errors.append(FieldError(loc, message))
    return errors


def _require_object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PayloadError([FieldError("body", "expected a JSON object")])
    return data


def _delivery_id(payload: _Payload) -> str | None:
    return None if payload.id is None else str(payload.id)


def parse_lead(data: Any) -> ParsedLead:
    """Validate a generic lead body; raises PayloadError naming every bad field."""
    try:
        payload = LeadPayload.model_validate(_require_object(data))
    except ValidationError as exc:
        raise PayloadError(_field_errors(exc)) from None
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
    return ParsedLead(profile, _delivery_id(payload), tuple(sorted(extras)))


def parse_event(data: Any, received_at: datetime) -> ParsedEvent:
    """Validate an engagement event; one without ``occurred_at`` happened when received."""
    try:
        payload = EventPayload.model_validate(_require_object(data))
    except ValidationError as exc:
        raise PayloadError(_field_errors(exc)) from None
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
    return ParsedEvent(normalise_email(payload.email), event, _delivery_id(payload), extras)
