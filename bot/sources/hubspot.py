"""HubSpot payloads -> the generic lead: workflow "Send a webhook" bodies and Webhooks API events.

Three shapes reach ``POST /webhooks/hubspot``:

* a contact-based workflow sending *all properties*: the contact record, either the classic
  ``{"vid": 1, "properties": {"email": {"value": "..."}}}`` or the v3 CRM object
  ``{"id": "1", "properties": {"email": "..."}}``;
* a workflow with a *customised body*: flat key-value pairs chosen in the workflow editor;
* a Webhooks API batch: ``[{"eventId", "subscriptionId", "portalId", "occurredAt",
  "subscriptionType", "objectId", "propertyName", "propertyValue", ...}]``. Events carry no
  contact data; the worker fetches the contact from the CRM API (see ``services/sources.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.sources.generic import FieldError, PayloadError
from bot.sources.mapping import CUSTOM_PREFIX, LEAD_FIELDS, MappedLead

# HubSpot's standard contact properties and the lead fields they fill.
DEFAULT_PROPERTIES: dict[str, str] = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "jobtitle": "title",
    "company": "company",
    "numemployees": "company_size",
    "industry": "industry",
    "country": "country",
    "phone": "phone",
    "website": "website",
    "utm_source": "utm_source",
    "utm_medium": "utm_medium",
    "utm_campaign": "utm_campaign",
    "utm_term": "utm_term",
    "utm_content": "utm_content",
}
CONTACT_EVENTS = frozenset({"contact.creation", "contact.propertyChange"})
# Apps on HubSpot's newer developer platform send generic object events; 0-1 means contacts.
OBJECT_EVENTS = frozenset({"object.creation", "object.propertyChange"})
CONTACT_OBJECT_TYPE = "0-1"
_ID_KEYS = ("hs_object_id", "vid", "canonical-vid", "objectId", "contact_id", "id")
MISSING_EMAIL = (
    "the HubSpot payload has no email: include the contact's email property "
    "(or a key mapped to email under sources.hubspot.properties)"
)


@dataclass(frozen=True)
class HubSpotEvent:
    event_id: str
    subscription_id: str
    portal_id: str
    subscription_type: str
    object_id: str
    property_name: str | None
    property_value: str | None
    raw: dict[str, Any]
    object_type_id: str | None = None

    @property
    def about_a_contact(self) -> bool:
        if self.subscription_type in OBJECT_EVENTS:
            return self.object_type_id == CONTACT_OBJECT_TYPE
        return self.subscription_type in CONTACT_EVENTS

    @property
    def is_property_change(self) -> bool:
        return self.subscription_type.endswith(".propertyChange")

    @property
    def idempotency_key(self) -> str:
        """HubSpot resends an event with the same ids (only ``attemptNumber`` grows)."""
        return f"hubspot:{self.portal_id}:{self.subscription_id}:{self.event_id}"


def property_map(overrides: Mapping[str, str]) -> dict[str, str]:
    return {**DEFAULT_PROPERTIES, **overrides}


def is_event_batch(data: Any) -> bool:
    return isinstance(data, list)


def is_event(data: Any) -> bool:
    return isinstance(data, dict) and "subscriptionType" in data


def _id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 40:
        return value.strip()
    return None


def parse_event(raw: Any, where: str = "body") -> HubSpotEvent:
    """One Webhooks API event; PayloadError names the bad key (``[0].objectId``)."""
    if not isinstance(raw, dict):
        raise PayloadError([FieldError(where, "expected a HubSpot event object")])
    errors = []
    ids: dict[str, str] = {}
    for key in ("eventId", "subscriptionId", "portalId", "objectId"):
        value = _id(raw.get(key))
        if value is None:
            errors.append(FieldError(f"{where}.{key}", "expected HubSpot's numeric id"))
        else:
            ids[key] = value
    kind = raw.get("subscriptionType")
    if not isinstance(kind, str) or not kind:
        errors.append(FieldError(f"{where}.subscriptionType", "expected e.g. contact.creation"))
    if errors:
        raise PayloadError(errors)
    name, value = raw.get("propertyName"), raw.get("propertyValue")
    return HubSpotEvent(
        event_id=ids["eventId"],
        subscription_id=ids["subscriptionId"],
        portal_id=ids["portalId"],
        subscription_type=str(kind),
        object_id=ids["objectId"],
        property_name=name if isinstance(name, str) else None,
        property_value=None if value is None else str(value),
        raw=raw,
        object_type_id=str(raw["objectTypeId"]) if raw.get("objectTypeId") else None,
    )


def parse_event_batch(data: list[Any]) -> list[HubSpotEvent]:
    events, errors = [], []
    for index, raw in enumerate(data):
        try:
            events.append(parse_event(raw, f"[{index}]"))
        except PayloadError as exc:
            errors += exc.errors
    if errors:
        raise PayloadError(errors)
    return events


def _value(raw: Any) -> Any:
    """A property as the classic contact record ({"value": ...}) or a v3 object (plain) has it."""
    if isinstance(raw, dict):
        return raw.get("value")
    return raw


def _contact_id(record: Mapping[str, Any], properties: Mapping[str, Any]) -> str | None:
    for key in _ID_KEYS:
        found = _id(_value(properties.get(key))) or _id(record.get(key))
        if found:
            return found
    return None


def map_contact(record: Any, properties_map: Mapping[str, str]) -> MappedLead:
    """A contact record (classic or v3): mapped properties fill the lead, the rest is ignored.

    A workflow sending all properties sends hundreds of HubSpot's own; keeping them would bury
    what the rep needs, so only mapped ones are kept.
    """
    if not isinstance(record, dict):
        raise PayloadError([FieldError("body", "expected a HubSpot contact object")])
    properties = record.get("properties")
    if not isinstance(properties, dict):
        raise PayloadError([FieldError("properties", "expected an object of contact properties")])
    mapped = MappedLead(hubspot_contact_id=_contact_id(record, properties))
    for name, target in properties_map.items():
        if name in properties:
            mapped.put(target, _value(properties[name]), f"properties.{name}")
    return mapped


def map_key_values(body: dict[str, Any], properties_map: Mapping[str, str]) -> MappedLead:
    """A customised workflow body: keys named as HubSpot properties or as our lead fields."""
    mapped = MappedLead(hubspot_contact_id=_contact_id(body, body))
    for key, value in body.items():
        if key in _ID_KEYS:
            continue
        target = properties_map.get(key) or (key if key in LEAD_FIELDS else None)
        if target is not None:
            mapped.put(target, value, key)
        elif not key.startswith(CUSTOM_PREFIX):
            mapped.keep_unmapped(key, value, key)
    return mapped


def map_workflow_body(data: Any, properties_map: Mapping[str, str]) -> MappedLead:
    if not isinstance(data, dict):
        raise PayloadError([FieldError("body", "expected a JSON object or an array of events")])
    if isinstance(data.get("properties"), dict):
        return map_contact(data, properties_map)
    return map_key_values(data, properties_map)


def map_property_change(
    event: HubSpotEvent, email: str, properties_map: Mapping[str, str]
) -> MappedLead:
    """A property change applied to a lead we already know, when the CRM cannot be asked."""
    mapped = MappedLead(hubspot_contact_id=event.object_id)
    mapped.put("email", email, "lead email")
    target = properties_map.get(event.property_name or "")
    if target is not None:
        mapped.put(target, event.property_value, f"propertyValue ({event.property_name})")
    return mapped
