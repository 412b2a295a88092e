"""The outbox sender that writes a lead's moves to its HubSpot contact.

One item per move (see `bot.services.lifecycle.build_lifecycle_items`). At send time: find the
contact (the id kept from the HubSpot source, else by email, else create it), set the owner to
the claimer's HubSpot owner (found by the rep's Slack email, cached), set lead status and
lifecycle stage, add the return note. Items are not ordered per lead (a HubSpot outage must not
hold back the lead's Slack messages), so a move older than one already written skips the
properties and only adds its note.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.crm.hubspot import HubSpotClient, HubSpotError, HubSpotRateLimited, HubSpotUnavailable
from bot.domain.hubspot_mapping import LIFECYCLE_STAGE, OWNER, HubSpotConfig, moves_lifecycle_back
from bot.outbox import PermanentError, RetryAfter, RetryPolicy
from bot.storage.crm import CrmStore
from bot.storage.outbox import QueuedItem

log = logging.getLogger(__name__)

HUBSPOT = "hubspot"  # outbox kind

EmailLookup = Callable[[str], Awaitable[str | None]]


class HubSpotWriteback:
    def __init__(
        self,
        client: HubSpotClient,
        store: CrmStore,
        config: HubSpotConfig,
        rep_email: EmailLookup,
        clock: Clock,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._config = config
        self._rep_email = rep_email
        self._clock = clock
        self._retry = retry or RetryPolicy()

    async def send(self, item: QueuedItem) -> dict[str, Any] | None:
        try:
            return await self._write(item.payload)
        except HubSpotRateLimited as exc:
            raise RetryAfter(exc.wait_seconds, f"HubSpot rate limit ({exc.policy})") from None
        except HubSpotUnavailable as exc:
            raise RetryAfter(self._retry.delay(item.attempts), str(exc)) from None
        except HubSpotError as exc:
            if exc.transient:
                raise RetryAfter(self._retry.delay(item.attempts), str(exc)) from None
            raise PermanentError(f"HubSpot refused {item.method}: {exc.message}") from None

    async def _write(self, payload: dict[str, Any]) -> dict[str, Any]:
        lead_id = int(payload["lead_id"])
        now = self._clock()
        contact_id = await self.find_contact(
            lead_id, str(payload["email"]), payload.get("contact_id"), payload.get("create") or {}
        )
        if contact_id is None:
            return {"skipped": "no HubSpot contact with this email"}
        properties: dict[str, str] = dict(payload.get("properties") or {})
        owner_user = payload.get("owner_user")
        if owner_user and self._config.set_owner:
            owner_id = await self.owner_for(str(owner_user))
            if owner_id is not None:
                properties[OWNER] = owner_id
        result: dict[str, Any] = {"contact_id": contact_id}
        occurred_at = datetime.fromisoformat(str(payload["occurred_at"]))
        if properties and await self._store.claim_newest(lead_id, occurred_at, now):
            await self._update(contact_id, properties)
            result["properties"] = properties
        elif properties:
            result["skipped_properties"] = "a newer move was already written"
        note = payload.get("note")
        if note:
            created = await self._client.create_note(
                contact_id, str(note), int(occurred_at.timestamp() * 1000)
            )
            result["note_id"] = created.get("id")
        return result

    async def _update(self, contact_id: str, properties: dict[str, str]) -> None:
        stage = properties.get(LIFECYCLE_STAGE)
        if stage:
            current = await self._client.get_contact(contact_id, [LIFECYCLE_STAGE])
            current_stage = ((current or {}).get("properties") or {}).get(LIFECYCLE_STAGE)
            if moves_lifecycle_back(current_stage, stage):
                # HubSpot only moves a stage forward; a returned lead goes back by clearing it.
                await self._client.update_contact(contact_id, {LIFECYCLE_STAGE: ""})
        await self._client.update_contact(contact_id, properties)

    async def find_contact(
        self,
        lead_id: int,
        email: str,
        source_contact_id: str | None,
        create: dict[str, str],
    ) -> str | None:
        """The id kept from the HubSpot source (or matched before), else by email, else new."""
        known = source_contact_id or await self._store.get_contact_id(lead_id)
        if known and await self._client.get_contact(str(known), ["email"]) is not None:
            await self._store.save_contact_id(lead_id, str(known), self._clock())
            return str(known)
        found = await self._client.find_contact_by_email(email)
        if found is None:
            if not self._config.create_missing_contacts:
                return None
            properties = {"email": email, **{k: v for k, v in create.items() if v}}
            try:
                found = await self._client.create_contact(properties)
            except HubSpotError as exc:
                # Created a moment ago by someone else (search is eventually consistent).
                if exc.category != "CONFLICT" or "Existing ID:" not in exc.message:
                    raise
                found = {"id": exc.message.rsplit("Existing ID:", 1)[1].strip()}
        contact_id = str(found["id"])
        await self._store.save_contact_id(lead_id, contact_id, self._clock())
        return contact_id

    async def owner_for(self, user_id: str) -> str | None:
        """The rep's HubSpot owner id; unmatched reps are remembered for `handoff doctor`."""
        now = self._clock()
        cached = await self._store.get_owner(user_id, now - self._config.owner_cache)
        if cached is not None:
            return cached.owner_id
        email = await self._rep_email(user_id)
        owner = await self._client.find_owner_by_email(email) if email else None
        owner_id = None if owner is None else str(owner["id"])
        if owner_id is None:
            log.warning("no HubSpot owner for Slack user %s (email %s)", user_id, email)
        await self._store.save_owner(user_id, email, owner_id, now)
        return owner_id
