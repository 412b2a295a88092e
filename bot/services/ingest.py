"""Ingest: accept a webhook durably, then turn it into a lead, an event and a fresh score."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.domain.leads import LeadProfile, LeadState, StoredLead
from bot.domain.lifecycle import state_after_scoring
from bot.scoring import ScoringRules, score_lead
from bot.sources.generic import FieldWarning, parse_event, parse_lead
from bot.sources.validation import parse_json_body
from bot.storage.deliveries import DeliveryStore
from bot.storage.errors import DATABASE_UNAVAILABLE
from bot.storage.leads import LeadStore

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
LEAD = "lead"
EVENT = "event"

OnHot = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Accepted:
    delivery_id: int
    duplicate: bool
    status: str
    unknown_fields: tuple[str, ...]
    warnings: tuple[FieldWarning, ...] = ()


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


class IngestService:
    def __init__(
        self,
        deliveries: DeliveryStore,
        leads: LeadStore,
        policy: ScoringPolicy,
        clock: Clock,
        on_hot: OnHot | None = None,
    ) -> None:
        self._deliveries = deliveries
        self._leads = leads
        self._policy = policy
        self._clock = clock
        self._on_hot = on_hot

    async def accept(
        self, kind: str, source: str, body: bytes, idempotency_key: str | None
    ) -> Accepted:
        """Validate and store a delivery. Raises PayloadError naming each bad field."""
        now = self._clock()
        data = parse_json_body(body)
        if kind == LEAD:
            lead = parse_lead(data)
            delivery_id, unknown, warnings = lead.delivery_id, lead.unknown_fields, lead.warnings
        else:
            event = parse_event(data, now)
            delivery_id, unknown, warnings = event.delivery_id, event.unknown_fields, event.warnings
        key = idempotency_key or delivery_id or _implicit_key(kind, data, body)
        saved = await self._deliveries.save(kind, source, key, body.decode(), now)
        return Accepted(saved.delivery_id, saved.duplicate, saved.status, unknown, warnings)

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
                delivery.id, delivery.kind, delivery.body, delivery.received_at
            )
        except DATABASE_UNAVAILABLE:
            # Not the delivery's fault: its lease runs out and it is processed again later.
            log.warning("database unavailable while processing delivery %s", delivery_id)
            raise
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
        self, delivery_id: int, kind: str, body: str, received_at: datetime
    ) -> StoredLead:
        now = self._clock()
        actor = f"delivery:{delivery_id}"
        data = parse_json_body(body.encode())  # as accepted: the same checks, the same result
        if kind == LEAD:
            parsed = parse_lead(data)
            lead, _ = await self._leads.upsert(parsed.profile, actor, now)
            return await self.rescore(lead.id, "lead", actor)
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
