"""Processing deliveries in batches: the deliveries are locked, and every lead, event, score,
audit row and delivery status the batch produces is written, in ONE transaction with a fixed
handful of statements (about ten per batch, whatever its size).

A crash (or any error) mid-batch rolls the whole batch back: its deliveries are pending again
at once, and no half-applied lead is left behind.
"""

from __future__ import annotations

import bisect
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F
from tortoise.fields import JSONField
from tortoise.models import Model
from tortoise.transactions import in_transaction

from bot.domain.leads import EngagementEvent, LeadProfile, LeadState, StoredLead
from bot.logs import log_transition
from bot.scoring.result import Score
from bot.storage.deliveries import (
    FAILED,
    GENERIC_SOURCE,
    PROCESSED,
    Sources,
    StoredDelivery,
    fetch_due,
)
from bot.storage.leads import PROFILE_FIELDS, merge_profile, to_stored_lead
from bot.storage.models import Delivery, Event, Lead, ScoreSnapshot, Transition

# Every column a batch may change on a lead; one bulk UPDATE writes them all.
_LEAD_COLUMNS = (
    *PROFILE_FIELDS,
    "campaign",
    "email_domain",
    "score",
    "grade",
    "score_reasons",
    "scored_at",
    "updated_at",
    "state",
    "hot_at",
)


@dataclass(frozen=True)
class DeliveryEffect:
    """What one parsed delivery asks for: merge ``profile``, add ``event`` if any, rescore."""

    delivery_id: int
    profile: LeadProfile
    event: EngagementEvent | None
    trigger: str  # "lead" or "event:<type>", kept on the score snapshot

    @property
    def actor(self) -> str:
        return f"delivery:{self.delivery_id}"


@dataclass(frozen=True)
class Rescored:
    score: Score
    state: LeadState


# Pure: (lead as it stands, its events in the scoring window, trigger) -> score and next state.
Rescore = Callable[[StoredLead, Sequence[EngagementEvent], str], Rescored]


@dataclass(frozen=True)
class BatchResult:
    lead_by_delivery: dict[int, int]
    hot_lead_ids: tuple[int, ...]  # leads left hot by this batch, waiting to be routed
    leads: dict[int, StoredLead] = field(default_factory=dict)  # by id, as committed


def _new_lead(profile: LeadProfile, now: datetime) -> dict[str, Any]:
    return {
        **{name: getattr(profile, name) for name in PROFILE_FIELDS},
        "email_domain": profile.email_domain,
        "campaign": profile.utm.get("campaign"),
        "state": LeadState.NURTURING.value,
        "score": 0,
        "grade": "D",
        "score_reasons": [],
        "cycle": 0,
        "created_at": now,
        "updated_at": now,
    }


def _transition(
    lead_id: int,
    actor: str,
    action: str,
    from_state: str | None,
    to_state: str,
    detail: dict[str, Any],
    at: datetime,
) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "actor": actor,
        "action": action,
        "from_state": from_state,
        "to_state": to_state,
        "detail": detail,
        "at": at,
    }


@dataclass(frozen=True)
class Batch:
    """Deliveries locked for processing, inside the transaction that will write their effects."""

    deliveries: tuple[StoredDelivery, ...]
    connection: BaseDBAsyncClient  # the batch's transaction
    # Due vendor deliveries seen by the same query (``open_batch(vendor=True)``): not part of
    # the batch; each goes through its lease and decoder once the batch has committed.
    vendor_ids: tuple[int, ...] = ()
    full: bool = False  # the query hit its limit: more may be due
    # Transitions written, logged once the transaction has committed: a log line for a
    # change that rolled back would be false, and logging inside it kept the SQLite
    # connection (which the webhook acks wait for) busy longer.
    written: list[dict[str, Any]] = field(default_factory=list)


def _converters(model: type[Model], columns: Sequence[str]) -> list[Callable[[Any], Any]]:
    """How each column's Python value goes to the driver. Only JSON needs encoding: both
    drivers take str, int and aware datetimes as they are (Tortoise's per-value
    ``to_db_value`` re-validated every string and was a fifth of the batch's time)."""
    fields = model._meta.fields_map
    out: list[Callable[[Any], Any]] = []
    for column in columns:
        field_ = fields[column]
        out.append(field_.encoder if isinstance(field_, JSONField) else _as_is)
    return out


def _as_is(value: Any) -> Any:
    return value


def _db_time(moment: datetime) -> Any:
    return Delivery._meta.fields_map["processed_at"].to_db_value(moment, Delivery)


def _marks(connection: BaseDBAsyncClient, count: int) -> list[str]:
    if connection.capabilities.dialect == "postgres":
        return [f"${n}" for n in range(1, count + 1)]
    return ["?"] * count


async def _insert(
    connection: BaseDBAsyncClient,
    model: type[Model],
    rows: Sequence[dict[str, Any]],
    *,
    ignore_conflicts: bool = False,
) -> None:
    """One plain ``INSERT`` run for every row: building a Tortoise model instance per row cost
    more than the database did."""
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(f'"{c}"' for c in columns)
    sql = (
        f'INSERT INTO "{model._meta.db_table}" ({names}) '  # noqa: S608 - our own identifiers
        f"VALUES ({', '.join(_marks(connection, len(columns)))})"
        + (" ON CONFLICT DO NOTHING" if ignore_conflicts else "")
    )
    convert = _converters(model, columns)
    values = [[to_db(row[c]) for c, to_db in zip(columns, convert, strict=True)] for row in rows]
    await connection.execute_many(sql, values)


async def _update_by_id(
    connection: BaseDBAsyncClient, model: type[Model], rows: Sequence[Model], columns: Sequence[str]
) -> None:
    """One ``UPDATE ... WHERE id = ?`` run for every row (asyncpg pipelines executemany).

    Tortoise's ``bulk_update`` builds one CASE per column over every row: at a hundred rows and
    twenty-odd columns that statement took longer to build and plan than the whole batch.
    """
    if not rows:
        return
    marks = _marks(connection, len(columns) + 1)
    assignments = ", ".join(f'"{c}" = {m}' for c, m in zip(columns, marks, strict=False))
    sql = f'UPDATE "{model._meta.db_table}" SET {assignments} WHERE "id" = {marks[-1]}'  # noqa: S608
    convert = _converters(model, columns)
    values = [
        [to_db(getattr(row, c)) for c, to_db in zip(columns, convert, strict=True)] + [row.pk]
        for row in rows
    ]
    await connection.execute_many(sql, values)


class IngestStore:
    @asynccontextmanager
    async def open_batch(
        self,
        now: datetime,
        limit: int,
        only: Sequence[int] | None = None,
        *,
        leased: bool = False,
        vendor: bool = False,
    ) -> AsyncIterator[Batch]:
        """Open the batch's transaction and lock up to ``limit`` due deliveries, oldest first
        (only those in ``only`` if given). Everything written before the block ends commits
        together; an exception rolls all of it back and the deliveries are due again at once.

        ``FOR UPDATE SKIP LOCKED`` gives concurrent workers and replicas disjoint batches on
        PostgreSQL; SQLite runs one transaction at a time in our single process. No separate
        lease is written: the row locks are the lease, and they end with the transaction.

        ``vendor``: the same query also finds due vendor deliveries (``Batch.vendor_ids``),
        which saves the worker a query of its own to look for them.
        """
        async with in_transaction() as connection:
            sources: Sources = (
                "all" if leased or vendor else "generic"  # vendor bodies: leased, decoded first
            )
            rows = await fetch_due(
                connection, now, limit, sources=sources, only=only, leased=leased, lock=True
            )
            generic = [r for r in rows if leased or r.source == GENERIC_SOURCE]
            batch = Batch(
                tuple(replace(r, attempts=r.attempts + 1) for r in generic),
                connection,
                vendor_ids=tuple(r.id for r in rows if not (leased or r.source == GENERIC_SOURCE)),
                full=len(rows) >= limit,
            )
            yield batch
        for t in batch.written:  # committed: a bulk insert skips the audit table's listener
            log_transition(t["lead_id"], t["from_state"], t["to_state"], t["actor"], t["action"])

    async def apply(
        self,
        batch: Batch,
        effects: Sequence[DeliveryEffect],
        failed: Sequence[tuple[int, str]],
        events_since: datetime,
        rescore: Rescore,
        now: datetime,
    ) -> BatchResult:
        """Inside ``open_batch``: apply ``effects`` in order and record ``failed`` (delivery
        id, error). Effects must come from ``batch``'s deliveries.

        The batch's leads are read ``FOR UPDATE`` (ordered by id, so two workers never
        deadlock), which keeps a claim from landing between scoring and saving; SQLite holds
        its single connection for the whole transaction anyway.
        """
        mine = {delivery.id for delivery in batch.deliveries}
        if any(e.delivery_id not in mine for e in effects) or any(d not in mine for d, _ in failed):
            raise ValueError("effects for deliveries outside the batch")
        rows = await self._lock_leads(batch.connection, effects, now)
        events_by_lead, stored_deliveries = await self._load_events(rows, events_since)
        transitions: list[dict[str, Any]] = [
            _transition(row.id, actor, "created", None, row.state, {}, now)
            for row, actor in rows.created
        ]
        new_events: list[dict[str, Any]] = []
        snapshots: list[dict[str, Any]] = []
        lead_by_delivery: dict[int, int] = {}
        for effect in effects:
            row = rows.by_email[effect.profile.email]
            self._merge_into(row, effect, transitions, now)
            if effect.event is not None and effect.delivery_id not in stored_deliveries:
                new_events.append(
                    {
                        "lead_id": row.id,
                        "type": effect.event.type,
                        "occurred_at": effect.event.occurred_at,
                        "properties": effect.event.properties,
                        "delivery_id": effect.delivery_id,
                        "created_at": now,
                    }
                )
                if effect.event.occurred_at >= events_since:
                    bisect.insort(
                        events_by_lead.setdefault(row.id, []),
                        effect.event,
                        key=lambda e: e.occurred_at,
                    )
            events = events_by_lead.get(row.id, [])
            decided = rescore(to_stored_lead(row), events, effect.trigger)
            snapshots.append(self._apply_score(row, decided, effect, transitions, now))
            lead_by_delivery[effect.delivery_id] = row.id
        touched = list({row.id: row for row in rows.by_email.values()}.values())
        connection = batch.connection
        await _insert(connection, Event, new_events, ignore_conflicts=True)
        await _insert(connection, ScoreSnapshot, snapshots)
        await _update_by_id(connection, Lead, touched, _LEAD_COLUMNS)
        await _insert(connection, Transition, transitions)
        batch.written.extend(transitions)
        await self._mark_deliveries(batch.connection, lead_by_delivery, failed, now)
        leads = {row.id: to_stored_lead(row) for row in touched}
        hot = tuple(lead_id for lead_id, lead in leads.items() if lead.state == LeadState.HOT)
        return BatchResult(lead_by_delivery, hot, leads)

    async def _lock_leads(
        self, connection: BaseDBAsyncClient, effects: Sequence[DeliveryEffect], now: datetime
    ) -> _LockedLeads:
        emails = sorted({effect.profile.email for effect in effects})
        locked = _LockedLeads()
        if not emails:
            return locked
        for row in await Lead.filter(email__in=emails).order_by("id").select_for_update():
            locked.by_email[row.email] = row
        first_seen: dict[str, DeliveryEffect] = {}
        for effect in effects:
            if effect.profile.email not in locked.by_email:
                first_seen.setdefault(effect.profile.email, effect)
        if first_seen:
            # A concurrent replica inserting the same email makes ours a no-op, then we merge.
            await _insert(
                connection,
                Lead,
                [_new_lead(e.profile, now) for e in first_seen.values()],
                ignore_conflicts=True,
            )
            created = (
                await Lead.filter(email__in=list(first_seen)).order_by("id").select_for_update()
            )
            for row in created:
                locked.by_email[row.email] = row
                locked.created.append((row, first_seen[row.email].actor))
        return locked

    async def _load_events(
        self, rows: _LockedLeads, since: datetime
    ) -> tuple[dict[int, list[EngagementEvent]], set[int]]:
        """Each lead's events in the scoring window, oldest first, in one query; and which
        deliveries already stored theirs (a delivery retried after an old partial run)."""
        ids = [row.id for row in rows.by_email.values()]
        by_lead: dict[int, list[EngagementEvent]] = {}
        stored: set[int] = set()
        if not ids:
            return by_lead, stored
        for event in await Event.filter(lead_id__in=ids, occurred_at__gte=since).order_by(
            "occurred_at", "id"
        ):
            by_lead.setdefault(event.lead_id, []).append(  # type: ignore[attr-defined]
                EngagementEvent(event.type, event.occurred_at, event.properties)
            )
            if event.delivery_id is not None:
                stored.add(event.delivery_id)
        return by_lead, stored

    @staticmethod
    def _merge_into(
        row: Lead, effect: DeliveryEffect, transitions: list[dict[str, Any]], now: datetime
    ) -> None:
        changes = merge_profile(row, effect.profile)
        row.campaign = (row.utm or {}).get("campaign")
        row.email_domain = effect.profile.email_domain
        if not changes:
            return
        row.updated_at = now
        detail = {k: {"from": old, "to": new} for k, (old, new) in changes.items()}
        transitions.append(
            _transition(row.id, effect.actor, "profile_updated", row.state, row.state, detail, now)
        )

    @staticmethod
    def _apply_score(
        row: Lead,
        decided: Rescored,
        effect: DeliveryEffect,
        transitions: list[dict[str, Any]],
        now: datetime,
    ) -> dict[str, Any]:
        score = decided.score
        reasons = [[r.points, r.text, r.group] for r in score.reasons]
        row.score, row.grade, row.score_reasons = score.points, score.grade, reasons
        row.scored_at = row.updated_at = now
        before = LeadState(row.state)
        if decided.state != before:
            row.state = decided.state.value
            if decided.state == LeadState.HOT:
                row.hot_at = now
            detail = {"score": score.points, "trigger": effect.trigger}
            transitions.append(
                _transition(
                    row.id, effect.actor, "scored", before.value, decided.state.value, detail, now
                )
            )
        return {
            "lead_id": row.id,
            "points": score.points,
            "grade": score.grade,
            "reasons": reasons,
            "trigger": effect.trigger,
            "created_at": now,
        }

    @staticmethod
    async def _mark_deliveries(
        connection: BaseDBAsyncClient,
        lead_by_delivery: dict[int, int],
        failed: Sequence[tuple[int, str]],
        now: datetime,
    ) -> None:
        if lead_by_delivery:
            postgres = connection.capabilities.dialect == "postgres"
            a, b, c = ("$1", "$2", "$3") if postgres else ("?", "?", "?")
            await connection.execute_many(
                f"UPDATE deliveries SET status = '{PROCESSED}', processed_at = {a}, "  # noqa: S608
                f"lead_id = {b}, error = NULL, leased_until = NULL WHERE id = {c}",
                [[_db_time(now), lead, d] for d, lead in lead_by_delivery.items()],
            )
        for delivery_id, error in failed:
            await Delivery.filter(id=delivery_id).update(
                status=FAILED,
                error=error[:4000],
                processed_at=now,
                leased_until=None,
                attempts=F("attempts") + 1,
            )


@dataclass
class _LockedLeads:
    by_email: dict[str, Lead] = field(default_factory=dict)
    created: list[tuple[Lead, str]] = field(default_factory=list)  # (row, creating actor)
