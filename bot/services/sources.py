"""Lead sources: accept a vendor's delivery durably, and decode it again when it is processed.

Every source stores its body first (HubSpot and Typeform exactly as received; a website form as
its submitted fields, JSON-encoded) and answers at once; the ingest worker then decodes it here,
through the same generic validation as ``POST /webhooks/leads``. A HubSpot event names a contact
without its data: the worker reads the contact from HubSpot, and retries later if it cannot.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.clock import Clock
from bot.config import SourcesConfig, TypeformSource
from bot.services.ingest import LEAD, RetryLater
from bot.sources import forms, hubspot, typeform
from bot.sources.generic import FieldError, ParsedLead, PayloadError, parse_lead
from bot.sources.mapping import MappedLead, parse_mapped, warnings_of
from bot.storage.deliveries import DeliveryStore
from bot.storage.lead_lookup import LeadLookup

HUBSPOT = "hubspot"
TYPEFORM = "typeform"
FORM_PREFIX = "form:"
TOKEN_PREFIX = "token:"  # noqa: S105 - a prefix for source names, not a secret


class ContactReader(Protocol):
    """What the worker needs from HubSpot's CRM API (``bot.crm.hubspot.HubSpotClient``)."""

    async def get_contact(
        self, contact_id: str, properties: Sequence[str]
    ) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class SavedDelivery:
    delivery_id: int
    duplicate: bool
    vendor_id: str | None = None


@dataclass(frozen=True)
class SourceAccepted:
    deliveries: tuple[SavedDelivery, ...]
    unknown_fields: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()  # events Handoff has no use for (e.g. deal.creation)
    warnings: tuple[Any, ...] = ()  # the generic validation's, named by the vendor's fields

    @property
    def duplicate(self) -> bool:
        return bool(self.deliveries) and all(d.duplicate for d in self.deliveries)

    @property
    def new(self) -> bool:
        return any(not d.duplicate for d in self.deliveries)


def _typeform_maps(config: TypeformSource) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    return {form_id: (dict(f.fields), dict(f.hidden)) for form_id, f in config.forms.items()}


def form_source(form_id: str) -> str:
    return FORM_PREFIX + form_id


def token_source(name: str) -> str:
    return TOKEN_PREFIX + name


def _body_key(prefix: str, body: bytes) -> str:
    return f"{prefix}:sha256:{hashlib.sha256(body).hexdigest()}"


def _json(body: bytes | str) -> Any:
    try:
        return json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except UnicodeDecodeError:
        raise PayloadError([FieldError("body", "must be UTF-8 encoded JSON")]) from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise PayloadError([FieldError("body", f"not valid JSON: {exc}")]) from None


class SourceIntake:
    def __init__(
        self,
        deliveries: DeliveryStore,
        config: SourcesConfig,
        clock: Clock,
        hubspot_contacts: ContactReader | None = None,
        lookup: LeadLookup | None = None,
        on_new: Callable[[], None] | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._config = config
        self._clock = clock
        self._contacts = hubspot_contacts
        self._lookup = lookup or LeadLookup()
        self._on_new = on_new
        self._hubspot_properties = hubspot.property_map(config.hubspot.properties)
        self._typeform_forms = _typeform_maps(config.typeform)

    def set_kick(self, on_new: Callable[[], None]) -> None:
        """Wake the delivery worker when something new is stored (it is built after us)."""
        self._on_new = on_new

    # --- accepting -------------------------------------------------------------------------

    async def _save(self, source: str, key: str, body: str) -> SavedDelivery:
        saved = await self._deliveries.save(LEAD, source, key, body, self._clock())
        return SavedDelivery(saved.delivery_id, saved.duplicate)

    def _kick(self, accepted: SourceAccepted) -> SourceAccepted:
        if accepted.new and self._on_new is not None:
            self._on_new()
        return accepted

    async def accept_hubspot(self, body: bytes) -> SourceAccepted:
        """A workflow webhook (one contact) or a Webhooks API batch (one delivery per event)."""
        data = _json(body)
        if not hubspot.is_event_batch(data):
            mapped = hubspot.map_workflow_body(data, self._hubspot_properties)
            parsed = self._parse(mapped, self._config.hubspot.source, hubspot.MISSING_EMAIL)
            stored = await self._save(HUBSPOT, _body_key(HUBSPOT, body), body.decode())
            return self._kick(
                SourceAccepted((stored,), parsed.unknown_fields, warnings=warnings_of(parsed))
            )
        events = hubspot.parse_event_batch(data)
        saved, ignored = [], []
        for event in events:
            if not event.about_a_contact:
                ignored.append(event.subscription_type)
                continue
            stored = await self._save(HUBSPOT, event.idempotency_key, json.dumps(event.raw))
            saved.append(SavedDelivery(stored.delivery_id, stored.duplicate, event.event_id))
        return self._kick(SourceAccepted(tuple(saved), ignored=tuple(ignored)))

    async def accept_typeform(self, body: bytes) -> SourceAccepted:
        data = _json(body)
        kind = typeform.event_type(data)
        if kind != typeform.FORM_RESPONSE:
            return SourceAccepted((), ignored=(str(kind),))
        response = typeform.map_form_response(data, self._typeform_forms)
        parsed = self._parse(
            response.mapped, self._typeform_source(response.form_id), typeform.MISSING_EMAIL
        )
        stored = await self._save(TYPEFORM, f"typeform:{response.event_id}", body.decode())
        return self._kick(
            SourceAccepted((stored,), parsed.unknown_fields, warnings=warnings_of(parsed))
        )

    async def accept_form(self, form_id: str, fields: forms.FormFields) -> SourceAccepted:
        form = self._config.forms[form_id]
        mapped = forms.map_form(fields, form.fields)
        parsed = self._parse(mapped, form.source or form_source(form_id), forms.MISSING_EMAIL)
        body = json.dumps({"form_id": form_id, "fields": fields}, sort_keys=True)
        stored = await self._save(
            form_source(form_id), _body_key(form_source(form_id), body.encode()), body
        )
        return self._kick(
            SourceAccepted((stored,), parsed.unknown_fields, warnings=warnings_of(parsed))
        )

    @staticmethod
    def _parse(mapped: MappedLead, source: str, hint: str) -> ParsedLead:
        return parse_mapped(mapped, source, missing_email_hint=hint)

    def _typeform_source(self, form_id: str) -> str:
        form = self._config.typeform.forms.get(form_id)
        return (form.source if form else None) or self._config.typeform.source

    # --- processing (the ingest worker) ----------------------------------------------------

    async def decode_lead(self, source: str, body: str) -> ParsedLead | None:
        if source == HUBSPOT:
            return await self._decode_hubspot(body)
        if source == TYPEFORM:
            response = typeform.map_form_response(_json(body), self._typeform_forms)
            return self._parse(
                response.mapped, self._typeform_source(response.form_id), typeform.MISSING_EMAIL
            )
        if source.startswith(FORM_PREFIX):
            data = _json(body)
            form_id = source.removeprefix(FORM_PREFIX)
            form = self._config.forms.get(form_id)
            if form is None:
                raise LookupError(f"form {form_id!r} is no longer under sources.forms")
            mapped = forms.map_form(data["fields"], form.fields)
            return self._parse(mapped, form.source or source, forms.MISSING_EMAIL)
        if source.startswith(TOKEN_PREFIX):
            parsed = parse_lead(_json(body))
            if parsed.profile.source:
                return parsed
            name = source.removeprefix(TOKEN_PREFIX)
            return _with_source(parsed, name)
        return None

    async def _decode_hubspot(self, body: str) -> ParsedLead:
        data = _json(body)
        source_name = self._config.hubspot.source
        if not hubspot.is_event(data):
            mapped = hubspot.map_workflow_body(data, self._hubspot_properties)
            return self._parse(mapped, source_name, hubspot.MISSING_EMAIL)
        event = hubspot.parse_event(data)
        if self._contacts is not None:
            contact = await self._fetch_contact(self._contacts, event.object_id)
            mapped = hubspot.map_contact(contact, self._hubspot_properties)
            mapped.hubspot_contact_id = event.object_id
            return self._parse(mapped, source_name, hubspot.MISSING_EMAIL)
        email = await self._lookup.email_for_hubspot_contact(event.object_id)
        if event.is_property_change and email is not None:
            mapped = hubspot.map_property_change(event, email, self._hubspot_properties)
            return self._parse(mapped, source_name, hubspot.MISSING_EMAIL)
        raise LookupError(
            f"{event.subscription_type} for HubSpot contact {event.object_id} carries no contact "
            "data: set HUBSPOT_ACCESS_TOKEN so Handoff reads the contact from HubSpot, then run "
            "`handoff replay`"
        )

    async def _fetch_contact(self, contacts: ContactReader, contact_id: str) -> dict[str, Any]:
        try:
            contact = await contacts.get_contact(contact_id, list(self._hubspot_properties))
        except Exception as exc:
            # However the CRM call fails (network, 429, 5xx, a bad token), the stored event is
            # kept and asked about again; after several attempts it is marked failed for replay.
            raise RetryLater(f"reading HubSpot contact {contact_id}: {exc}") from exc
        if contact is None:
            raise LookupError(f"HubSpot has no contact {contact_id} (deleted or merged?)")
        return contact


def _with_source(parsed: ParsedLead, name: str) -> ParsedLead:
    return dataclasses.replace(parsed, profile=dataclasses.replace(parsed.profile, source=name))
