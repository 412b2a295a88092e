"""The durable outbox: Slack calls and webhooks queued in the database, leased, retried.

Guarantees: an item is delivered at least once (a crash after sending but before marking can
repeat it), items of one lead go out in the order they were queued, a ``dedupe_key`` makes an
item exist at most once (e.g. one card per lead and hand-off cycle), and with several replicas
each item is leased by exactly one of them at a time.

Fencing: every lease carries a fresh token. Renewing, marking sent, rescheduling and failing
are conditional on the row still holding that token, so a worker whose lease ran out (a slow
Slack, a paused process) and was taken over by another can neither send under a renewed lease
nor overwrite the other worker's outcome. Due items are leased by ``priority`` first (cards and
owner DMs before Home refreshes and digests), then in queue order.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.functions import Count, Min
from tortoise.transactions import in_transaction

from bot.storage.models import OutboxItem

PENDING = "pending"
SENT = "sent"
FAILED = "failed"

CARD_PRIORITY = 0  # lead cards, owner and offer DMs, their updates: what a rep acts on
NORMAL_PRIORITY = 1  # nudges, marketing returns, webhooks
BACKGROUND_PRIORITY = 2  # Home tab refreshes, digests, files: nobody waits on them


@dataclass(frozen=True)
class QueuedItem:
    id: int
    kind: str
    method: str
    payload: dict[str, Any]
    lead_id: int | None
    attempts: int
    lease_token: str = ""
    dedupe_key: str | None = None
    last_error: str | None = None  # of the previous attempt; None after a crash or a stop
    created_at: datetime | None = None
    leased_until: datetime | None = None  # as leased (renewals are not reflected here)
    followed: bool = False  # another item of its lead waits behind it (due once it is done)


@dataclass(frozen=True)
class NewItem:
    kind: str
    method: str
    payload: dict[str, Any]
    lead_id: int | None = None
    dedupe_key: str | None = None
    priority: int | None = None  # None: derived from kind and method (``priority_of``)


def priority_of(item: NewItem) -> int:
    if item.priority is not None:
        return item.priority
    if item.method in {"views.publish", "files_upload_v2"}:
        return BACKGROUND_PRIORITY
    if item.kind == "card":
        return CARD_PRIORITY
    if item.kind == "slack" and item.lead_id is None:
        return BACKGROUND_PRIORITY  # digests and other lead-less notices
    return NORMAL_PRIORITY


# One statement on PostgreSQL: pick due items whose lead has no older item pending, skip rows
# another worker is leasing right now, and lease them under one token.
_LEASE_DUE_POSTGRES = """
WITH due AS (
    SELECT o.id FROM outbox o
    WHERE o.status = 'pending' AND o.next_attempt_at <= $1
      AND (o.leased_until IS NULL OR o.leased_until < $1)
      AND (o.lead_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM outbox older
          WHERE older.lead_id = o.lead_id AND older.status = 'pending' AND older.id < o.id))
    ORDER BY o.priority, o.id
    LIMIT $2
    FOR UPDATE OF o SKIP LOCKED
)
UPDATE outbox SET leased_until = $3, lease_token = $4, attempts = outbox.attempts + 1
FROM due WHERE outbox.id = due.id
RETURNING outbox.id, outbox.kind, outbox.method, outbox.payload, outbox.lead_id,
          outbox.attempts, outbox.dedupe_key, outbox.last_error, outbox.priority,
          outbox.created_at,
          (outbox.lead_id IS NOT NULL AND EXISTS (
              SELECT 1 FROM outbox newer
              WHERE newer.lead_id = outbox.lead_id AND newer.status = 'pending'
                AND newer.id > outbox.id)) AS followed
"""


def _free_lease(now: datetime) -> Q:
    return Q(leased_until__isnull=True) | Q(leased_until__lt=now)


class OutboxStore:
    async def enqueue(self, item: NewItem, now: datetime) -> bool:
        """Queue an item; False when its dedupe key was queued before (nothing added)."""
        try:
            await OutboxItem.create(
                kind=item.kind,
                method=item.method,
                payload=item.payload,
                lead_id=item.lead_id,
                dedupe_key=item.dedupe_key,
                priority=priority_of(item),
                next_attempt_at=now,
                created_at=now,
            )
        except IntegrityError:
            return False
        return True

    async def lease_due(
        self,
        now: datetime,
        lease_for: timedelta,
        limit: int,
        then: Callable[[list[QueuedItem]], Awaitable[None]] | None = None,
    ) -> list[QueuedItem]:
        """Lease up to ``limit`` due items under one new token, at most one per lead (its
        oldest pending item), highest priority first. A fixed number of statements however
        many items: one on PostgreSQL, four on SQLite (one writer, so no row locks needed).

        ``then`` runs with the leased items in the lease's transaction (reads what sending
        them needs; an error there hands the lease back by rolling it back)."""
        if then is None:
            return await self._lease_due(now, lease_for, limit)
        async with in_transaction():
            items = await self._lease_due(now, lease_for, limit)
            if items:
                await then(items)
            return items

    async def _lease_due(self, now: datetime, lease_for: timedelta, limit: int) -> list[QueuedItem]:
        token = uuid.uuid4().hex
        conn = Tortoise.get_connection("default")
        if conn.capabilities.dialect == "postgres":
            _, rows = await conn.execute_query(
                _LEASE_DUE_POSTGRES, [now, limit, now + lease_for, token]
            )
            leased = sorted(rows, key=lambda row: (row["priority"], row["id"]))
            return [
                QueuedItem(
                    id=row["id"],
                    kind=row["kind"],
                    method=row["method"],
                    payload=_json(row["payload"]),
                    lead_id=row["lead_id"],
                    attempts=row["attempts"],
                    lease_token=token,
                    dedupe_key=row["dedupe_key"],
                    last_error=row["last_error"],
                    created_at=row["created_at"],
                    leased_until=now + lease_for,
                    followed=bool(row["followed"]),
                )
                for row in leased
            ]
        # SQLite has one connection per process: a transaction makes the steps one unit, so
        # two workers in one process lease one after the other instead of racing.
        async with in_transaction():
            return await self._lease_due_by_steps(now, lease_for, limit, token)

    async def _lease_due_by_steps(
        self, now: datetime, lease_for: timedelta, limit: int, token: str
    ) -> list[QueuedItem]:
        candidates = await (
            OutboxItem.filter(_free_lease(now), status=PENDING, next_attempt_at__lte=now)
            .order_by("priority", "id")
            .limit(limit * 4)
            .values_list("id", "lead_id")
        )
        lead_ids = {lead_id for _, lead_id in candidates if lead_id is not None}
        oldest_pending: dict[int, int] = {}
        pending_count: dict[int, int] = {}
        if lead_ids:
            firsts = await (
                OutboxItem.filter(lead_id__in=list(lead_ids), status=PENDING)
                .annotate(first=Min("id"), pending=Count("id"))
                .group_by("lead_id")
                .values_list("lead_id", "first", "pending")
            )
            oldest_pending = {int(lead_id): int(first) for lead_id, first, _ in firsts}
            pending_count = {int(lead_id): int(n) for lead_id, _, n in firsts}
        chosen = [
            item_id
            for item_id, lead_id in candidates
            if lead_id is None or oldest_pending.get(lead_id) == item_id
        ][:limit]
        if not chosen:
            return []
        await OutboxItem.filter(_free_lease(now), id__in=chosen, status=PENDING).update(
            leased_until=now + lease_for, lease_token=token, attempts=F("attempts") + 1
        )
        rows = await OutboxItem.filter(id__in=chosen, lease_token=token).order_by("priority", "id")
        return [
            QueuedItem(
                id=row.id,
                kind=row.kind,
                method=row.method,
                payload=row.payload,
                lead_id=row.lead_id,
                attempts=row.attempts,
                lease_token=token,
                dedupe_key=row.dedupe_key,
                last_error=row.last_error,
                created_at=row.created_at,
                leased_until=row.leased_until,
                followed=row.lead_id is not None and pending_count.get(row.lead_id, 0) > 1,
            )
            for row in rows
        ]

    def _held(self, item: QueuedItem) -> Any:
        return OutboxItem.filter(id=item.id, lease_token=item.lease_token, status=PENDING)

    async def renew(self, item: QueuedItem, now: datetime, lease_for: timedelta) -> bool:
        """Extend the lease if this worker still holds it; False means another worker took the
        item over (its lease ran out), and this one must not send it."""
        return bool(await self._held(item).update(leased_until=now + lease_for))

    async def mark_sent(
        self,
        item: QueuedItem,
        result: dict[str, Any] | None,
        now: datetime,
        record: Callable[[], Awaitable[None]] | None = None,
    ) -> bool:
        """Mark the item sent, where this worker still holds it. ``record`` (what the send
        taught us, e.g. a card's message ts) is written in the same transaction, whether or not
        the lease still held: the message exists either way, and its ts keeps the worker that
        took the item over from posting it again."""
        if record is None:
            return await self._mark_sent(item, result, now)
        async with in_transaction():
            await record()
            return await self._mark_sent(item, result, now)

    async def _mark_sent(
        self, item: QueuedItem, result: dict[str, Any] | None, now: datetime
    ) -> bool:
        return bool(
            await self._held(item).update(
                status=SENT, sent_at=now, result=result, leased_until=None, last_error=None
            )
        )

    async def retry_later(self, item: QueuedItem, error: str, at: datetime) -> bool:
        return bool(
            await self._held(item).update(
                next_attempt_at=at, leased_until=None, lease_token=None, last_error=error[:2000]
            )
        )

    async def mark_failed(self, item: QueuedItem, error: str, now: datetime) -> bool:
        return bool(
            await self._held(item).update(
                status=FAILED, leased_until=None, last_error=error[:2000], sent_at=now
            )
        )

    async def release(self, items: Iterable[QueuedItem]) -> None:
        """Hand leased items back at once (a graceful stop), where this worker still holds them."""
        by_token: dict[str, list[int]] = {}
        for item in items:
            by_token.setdefault(item.lease_token, []).append(item.id)
        for token, ids in by_token.items():
            await OutboxItem.filter(id__in=ids, lease_token=token, status=PENDING).update(
                leased_until=None, lease_token=None
            )

    async def list_failed(self, limit: int = 100) -> list[tuple[int, str, str | None]]:
        rows = await OutboxItem.filter(status=FAILED).order_by("id").limit(limit)
        return [(r.id, r.method, r.last_error) for r in rows]

    async def requeue_failed(self, now: datetime) -> int:
        """Send failed items again (after the cause is fixed); their dedupe keys still hold."""
        return await OutboxItem.filter(status=FAILED).update(
            status=PENDING,
            attempts=0,
            next_attempt_at=now,
            leased_until=None,
            lease_token=None,
            sent_at=None,
        )

    async def count_by_status(self) -> dict[str, int]:
        return {s: await OutboxItem.filter(status=s).count() for s in (PENDING, SENT, FAILED)}


def _json(value: Any) -> dict[str, Any]:
    """asyncpg hands jsonb back as text (no codec set); Tortoise decodes only its own reads."""
    decoded = json.loads(value) if isinstance(value, str | bytes) else value
    return decoded if isinstance(decoded, dict) else {}
