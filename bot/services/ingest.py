"""Ingest: accept a webhook durably, then turn it into a lead, an event and a fresh score.

Accepted deliveries are processed in batches, one transaction each (bot/storage/ingest.py);
the leads a batch leaves hot are routed right after it commits, ahead of the next batch.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.clock import Clock
from bot.domain.leads import EngagementEvent, LeadProfile, StoredLead
from bot.domain.lifecycle import state_after_scoring
from bot.scoring import ScoringRules, score_lead
from bot.sources.generic import FieldWarning, ParsedLead, parse_event, parse_lead
from bot.sources.validation import parse_json_body
from bot.storage.deliveries import DeliveryStore, StoredDelivery
from bot.storage.errors import DATABASE_UNAVAILABLE
from bot.storage.ingest import Batch, BatchResult, DeliveryEffect, IngestStore, Rescored
from bot.storage.leads import LeadStore

log = logging.getLogger(__name__)

# Deliveries leased and written per transaction. Bigger batches cost fewer statements per lead
# but hold SQLite's single connection longer, which the webhook acks wait behind.
BATCH_SIZE = 100
MAX_ROUNDS = 10
# A vendor delivery (HubSpot, Typeform, a form) is decoded outside any transaction, since
# decoding may call the vendor's API; its lease decides how soon a delivery left by a killed
# process, or waiting on the vendor, is tried again (re-processing it is idempotent).
VENDOR_LEASE = timedelta(seconds=20)
LEAD = "lead"
EVENT = "event"
MAX_RETRY_LATER_ATTEMPTS = 10  # a delivery waiting on a vendor is retried about every LEASE

# Called with each lead a batch (or a rescore) left hot, as it was committed.
OnHot = Callable[[StoredLead], Awaitable[None]]


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


def _effect(delivery: StoredDelivery, decoded: ParsedLead | None = None) -> DeliveryEffect:
    """What a stored body asks for (``decoded``: a vendor body's lead, decoded beforehand);
    raises when it no longer parses (e.g. a stricter parser)."""
    if decoded is not None:
        return DeliveryEffect(delivery.id, decoded.profile, None, "lead")
    data = parse_json_body(delivery.body.encode())  # as accepted: the same checks
    if delivery.kind == LEAD:
        return DeliveryEffect(delivery.id, parse_lead(data).profile, None, "lead")
    parsed = parse_event(data, delivery.received_at)
    return DeliveryEffect(
        delivery.id, LeadProfile(email=parsed.email), parsed.event, f"event:{parsed.event.type}"
    )


class IngestService:
    def __init__(
        self,
        deliveries: DeliveryStore,
        leads: LeadStore,
        policy: ScoringPolicy,
        clock: Clock,
        on_hot: OnHot | None = None,
        decoder: LeadDecoder | None = None,
        *,
        batches: IngestStore | None = None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self._deliveries = deliveries
        self._batches = batches or IngestStore()
        self._batch_size = batch_size
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
        """Process due deliveries in batches (a few rounds, so the worker can stop between
        them); returns how many deliveries were handled, processed or failed."""
        handled, _ = await self._process_rounds()
        return handled

    async def drain(self) -> bool:
        """One round for the queue worker: True when more may be due at once (every batch
        was full until the round limit)."""
        _, more = await self._process_rounds()
        return more

    async def _process_rounds(self) -> tuple[int, bool]:
        handled = 0
        for _ in range(MAX_ROUNDS):
            done, vendor_ids, full = await self._process_batch()
            handled += done + await self._process_vendor_deliveries(vendor_ids)
            if not full:  # the batch took everything due: no empty batch to find that out
                return handled, False
        return handled, True

    async def _process_batch(self) -> tuple[int, tuple[int, ...], bool]:
        """One batch: (deliveries handled, due vendor deliveries seen, whether it was full)."""
        try:
            async with self._batches.open_batch(
                self._clock(), self._batch_size, vendor=self._decoder is not None
            ) as batch:
                result = await self._apply(batch)
        except DATABASE_UNAVAILABLE:
            # Not the deliveries' fault: they stay pending and are processed again later.
            log.warning("database unavailable while processing deliveries")
            raise
        except Exception:
            # One bad delivery must not fail the others: the batch rolled back as a whole, so
            # take its deliveries again one by one and mark only the guilty one failed.
            log.exception("a batch of deliveries failed; retrying them one by one")
            done = await self._process_one_by_one()
            return done, (), done >= self._batch_size
        await self._route(result)
        return len(batch.deliveries), batch.vendor_ids, batch.full

    async def _process_vendor_deliveries(self, delivery_ids: Sequence[int]) -> int:
        """Vendor bodies one by one: lease, decode (maybe calling the vendor's API, outside any
        transaction), then write the lead in a batch of one."""
        if self._decoder is None:
            return 0
        handled = 0
        for delivery_id in delivery_ids:
            if await self._process_vendor(self._decoder, delivery_id):
                handled += 1
        return handled

    async def _process_vendor(self, decoder: LeadDecoder, delivery_id: int) -> bool:
        if not await self._deliveries.lease(delivery_id, self._clock(), VENDOR_LEASE):
            return False  # another worker or replica has it
        delivery = await self._deliveries.get(delivery_id)
        try:
            parsed = await decoder.decode_lead(delivery.source, delivery.body)
        except DATABASE_UNAVAILABLE:
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
            return True
        except Exception as exc:
            log.exception("delivery %s failed", delivery_id)
            await self._deliveries.mark_failed(
                delivery_id, f"{type(exc).__name__}: {exc}", self._clock()
            )
            return True
        decoded = {delivery_id: parsed} if parsed is not None else {}
        try:
            async with self._batches.open_batch(
                self._clock(), 1, [delivery_id], leased=True
            ) as one:
                result = await self._apply(one, decoded)
        except DATABASE_UNAVAILABLE:
            raise
        except Exception as exc:
            log.exception("delivery %s failed", delivery_id)
            await self._deliveries.mark_failed(
                delivery_id, f"{type(exc).__name__}: {exc}", self._clock()
            )
            return True
        await self._route(result)
        return True

    async def _process_one_by_one(self) -> int:
        async with self._batches.open_batch(self._clock(), self._batch_size) as batch:
            ids = [delivery.id for delivery in batch.deliveries]  # read only, nothing written
        hot: dict[int, StoredLead] = {}
        for delivery_id in ids:
            try:
                async with self._batches.open_batch(self._clock(), 1, [delivery_id]) as one:
                    result = await self._apply(one)
            except DATABASE_UNAVAILABLE:
                raise
            except Exception as exc:
                log.exception("delivery %s failed", delivery_id)
                await self._deliveries.mark_failed(
                    delivery_id, f"{type(exc).__name__}: {exc}", self._clock()
                )
                continue
            hot.update((i, result.leads[i]) for i in result.hot_lead_ids)
        await self._route_leads(list(hot.values()))
        return len(ids)

    async def _apply(
        self, batch: Batch, decoded: dict[int, ParsedLead] | None = None
    ) -> BatchResult:
        """Parse the batch's bodies and write what they ask for; a body that no longer parses
        (a stricter parser since it was accepted) marks only its delivery failed."""
        now = self._clock()
        effects: list[DeliveryEffect] = []
        failed: list[tuple[int, str]] = []
        for delivery in batch.deliveries:
            try:
                effects.append(_effect(delivery, (decoded or {}).get(delivery.id)))
            except Exception as exc:
                log.warning("delivery %s failed: %s", delivery.id, exc)
                failed.append((delivery.id, f"{type(exc).__name__}: {exc}"))

        def decide(lead: StoredLead, events: Sequence[EngagementEvent], trigger: str) -> Rescored:
            return self._decide(lead, events, trigger, now)

        return await self._batches.apply(
            batch, effects, failed, now - self._policy.event_window, decide, now
        )

    async def _route(self, result: BatchResult) -> None:
        await self._route_leads([result.leads[lead_id] for lead_id in result.hot_lead_ids])

    async def _route_leads(self, hot: Sequence[StoredLead]) -> None:
        """Hot leads are routed as soon as their batch commits, before any further batch,
        from the rows the batch wrote (routing re-checks them under the lead's lock)."""
        if self._on_hot is None:
            return
        for lead in hot:
            await self._on_hot(lead)

    def _decide(
        self, lead: StoredLead, events: Sequence[EngagementEvent], trigger: str, now: datetime
    ) -> Rescored:
        score = score_lead(lead.profile, events, self._policy.rules, now)
        strong = trigger.removeprefix("event:") in self._policy.strong_signals
        state = state_after_scoring(
            lead.state, score.points, self._policy.hot_threshold, lead.cooldown_until, strong, now
        )
        return Rescored(score, state)

    async def rescore(self, lead_id: int, trigger: str, actor: str) -> StoredLead:
        """Score the lead from its profile and recent events; move it hot/nurturing if due."""
        now = self._clock()
        lead = await self._leads.get(lead_id)
        if lead is None:
            raise LookupError(f"lead {lead_id} not found")
        events = await self._leads.list_events(lead_id, now - self._policy.event_window)
        decided = self._decide(lead, events, trigger, now)
        await self._leads.save_score(
            lead_id, decided.score, trigger, lead.state, decided.state, actor, now
        )
        stored = await self._leads.get(lead_id)
        if stored is None:
            raise LookupError(f"lead {lead_id} vanished while scoring")
        return stored
