"""Ingest: accept a webhook durably, then turn it into a lead, an event and a fresh score."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock
from bot.domain.leads import LeadProfile, LeadState, StoredLead
from bot.domain.lifecycle import state_after_scoring
from bot.scoring import ScoringRules, score_lead
from bot.sources.generic import FieldError, ParsedLead, PayloadError, parse_event, parse_lead
from bot.storage.deliveries import DeliveryStore
from bot.storage.errors import DATABASE_UNAVAILABLE
from bot.storage.leads import LeadStore

log = logging.getLogger(__name__)

# Processing a delivery is a few database statements; the lease only decides how soon a
# delivery left by a killed process is picked up again (re-processing it is idempotent).
LEASE = timedelta(seconds=20)
LEAD = "lead"
EVENT = "event"
MAX_RETRY_LATER_ATTEMPTS = 10  # a delivery waiting on a vendor is retried about every LEASE

OnHot = Callable[[int], Awaitable[None]]


class RetryLater(Exception):
    """Processing needs something briefly unavailable (a vendor's API): try again later."""


class LeadDecoder(Protocol):
    async def decode_lead(self, source: str, body: str) -> ParsedLead | None:
        """The lead in a stored vendor body, or None for a generic JSON lead."""


@dataclass(frozen=True)
class Accepted:
    delivery_id: int
    duplicate: bool
    status: str
    unknown_fields: tuple[str, ...]


@dataclass(frozen=True)
class ScoringPolicy:
    rules: ScoringRules
    hot_threshold: int
    strong_signals: Collection[str]  # event types that override a return cooldown
    event_window: timedelta  # how far back events are read for scoring


def _implicit_key(kind: str, data: Any, body: bytes) -> str:
    """Without an id, identical bodies are one delivery (a sender retrying after a timeout) —
    except events with no ``occurred_at``: two page views a minute apart are two events."""
    if kind == EVENT and isinstance(data, dict) and data.get("occurred_at") is None:
        return f"unkeyed:{uuid.uuid4()}"
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise PayloadError([FieldError("body", "must be UTF-8 encoded JSON")]) from None
    except json.JSONDecodeError as exc:
        raise PayloadError([FieldError("body", f"not valid JSON: {exc}")]) from None


class IngestService:
    def __init__(
        self,
        deliveries: DeliveryStore,
        leads: LeadStore,
        policy: ScoringPolicy,
        clock: Clock,
        on_hot: OnHot | None = None,
        decoder: LeadDecoder | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._leads = leads
        self._policy = policy
        self._clock = clock
        self._on_hot = on_hot
        self._decoder = decoder

    async def accept(
        self, kind: str, source: str, body: bytes, idempotency_key: str | None
    ) -> Accepted:
        """Validate and store a delivery. Raises PayloadError naming each bad field."""
        now = self._clock()
        data = _parse_json(body)
        if kind == LEAD:
            lead = parse_lead(data)
            delivery_id, unknown = lead.delivery_id, lead.unknown_fields
        else:
            event = parse_event(data, now)
            delivery_id, unknown = event.delivery_id, event.unknown_fields
        key = idempotency_key or delivery_id or _implicit_key(kind, data, body)
        saved = await self._deliveries.save(kind, source, key, body.decode(), now)
        return Accepted(saved.delivery_id, saved.duplicate, saved.status, unknown)

    async def process_due(self) -> int:
        """Process every delivery nobody is working on; returns how many were processed."""
        done = 0
        for delivery_id in await self._deliveries.list_due_ids(self._clock()):
            if await self.process(delivery_id):
                done += 1
        return done

    async def process(self, delivery_id: int) -> bool:
        if not await self._deliveries.lease(delivery_id, self._clock(), LEASE):
            return False  # another worker or replica has it
        delivery = await self._deliveries.get(delivery_id)
        try:
            lead = await self._apply(
                delivery.id, delivery.kind, delivery.body, delivery.received_at, delivery.source
            )
        except DATABASE_UNAVAILABLE:
            # Not the delivery's fault: its lease runs out and it is processed again later.
            log.warning("database unavailable while processing delivery %s", delivery_id)
            raise
        except RetryLater as exc:
            if delivery.attempts < MAX_RETRY_LATER_ATTEMPTS:
                # Left leased: when the lease runs out, a worker (on any replica) tries again.
                log.warning(
                    "delivery %s waits: %s (attempt %s)", delivery_id, exc, delivery.attempts
                )
                return False
            await self._deliveries.mark_failed(
                delivery_id, f"gave up after {delivery.attempts} attempts: {exc}", self._clock()
            )
            return False
        except Exception as exc:
            log.exception("delivery %s failed", delivery_id)
            await self._deliveries.mark_failed(
                delivery_id, f"{type(exc).__name__}: {exc}", self._clock()
            )
            return False
        await self._deliveries.mark_processed(delivery_id, lead.id, self._clock())
        if lead.state == LeadState.HOT and self._on_hot is not None:
            await self._on_hot(lead.id)
        return True

    async def _apply(
        self, delivery_id: int, kind: str, body: str, received_at: datetime, source: str
    ) -> StoredLead:
        actor = f"delivery:{delivery_id}"
        if kind == LEAD:
            # A vendor's body (HubSpot, Typeform, a website form) is decoded by its source.
            decoded = await self._decoder.decode_lead(source, body) if self._decoder else None
            parsed = decoded or parse_lead(json.loads(body))
            lead, _ = await self._leads.upsert(parsed.profile, actor, self._clock())
            return await self.rescore(lead.id, "lead", actor)
        now = self._clock()
        data = json.loads(body)
        event = parse_event(data, received_at)
        lead, _ = await self._leads.upsert(LeadProfile(email=event.email), actor, now)
        await self._leads.add_event(lead.id, event.event, delivery_id, now)
        return await self.rescore(lead.id, f"event:{event.event.type}", actor)

    async def rescore(self, lead_id: int, trigger: str, actor: str) -> StoredLead:
        """Score the lead from its profile and recent events; move it hot/nurturing if due."""
        now = self._clock()
        lead = await self._leads.get(lead_id)
        if lead is None:
            raise LookupError(f"lead {lead_id} not found")
        events = await self._leads.list_events(lead_id, now - self._policy.event_window)
        score = score_lead(lead.profile, events, self._policy.rules, now)
        strong = trigger.removeprefix("event:") in self._policy.strong_signals
        new_state = state_after_scoring(
            lead.state, score.points, self._policy.hot_threshold, lead.cooldown_until, strong, now
        )
        await self._leads.save_score(lead_id, score, trigger, lead.state, new_state, actor, now)
        stored = await self._leads.get(lead_id)
        if stored is None:
            raise LookupError(f"lead {lead_id} vanished while scoring")
        return stored
