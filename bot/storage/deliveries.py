"""Raw inbound deliveries: stored first, processed once, retried or replayed on failure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from bot.storage.models import Delivery
from bot.storage.sql import DialectSql

PENDING = "pending"
PROCESSING = "processing"
PROCESSED = "processed"
FAILED = "failed"


@dataclass(frozen=True)
class StoredDelivery:
    id: int
    kind: str
    source: str
    body: str
    received_at: datetime
    attempts: int


@dataclass(frozen=True)
class SaveResult:
    delivery_id: int
    duplicate: bool
    status: str
    lead_id: int | None


GENERIC_SOURCE = "generic"  # the signed JSON webhook; every other source is a vendor's body


# Due: new deliveries, and ones whose worker died mid-way (its lease ran out). The statuses
# are written out, not bound: the lease reads a partial index of the unprocessed deliveries
# (`deliveries_due`, migration 0009), and a database can use a partial index only when it
# can see the query's condition imply the index's. With the statuses bound as parameters,
# PostgreSQL's generic plan (which asyncpg's prepared statements get after five runs) and
# SQLite both walked every processed delivery instead: 400 ms per lease behind 200k of them.
Sources = Literal["generic", "vendor", "all"]  # which bodies a lease takes
_UNPROCESSED_SQL = f"status IN ('{PENDING}', '{PROCESSING}')"
_DUE_SQL = (
    f"{_UNPROCESSED_SQL} AND (status = '{PENDING}' "
    f"OR (status = '{PROCESSING}' AND leased_until < :now))"
)


async def fetch_due(
    connection: BaseDBAsyncClient | None,
    now: datetime,
    limit: int,
    *,
    sources: Sources = "all",
    only: Sequence[int] | None = None,
    leased: bool = False,
    lock: bool = False,
) -> list[StoredDelivery]:
    """The oldest due deliveries (``leased``: every unprocessed one, leases included), of
    ``sources``, only those in ``only`` if given, on ``connection`` (a transaction's; None:
    the default one). ``lock``: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so concurrent
    workers and replicas take disjoint sets (SQLite runs one transaction at a time and has
    no row locks)."""
    if only is not None and not only:
        return []
    sql = DialectSql(connection)
    params: dict[str, Any] = {"now": now, "limit": limit}
    where = [_UNPROCESSED_SQL if leased else _DUE_SQL]
    if sources == "generic":
        where.append(f"source = '{GENERIC_SOURCE}'")
    elif sources == "vendor":
        where.append(f"source <> '{GENERIC_SOURCE}'")
    if only is not None:
        params |= {f"only_{n}": delivery_id for n, delivery_id in enumerate(only)}
        where.append(f"id IN ({', '.join(f':only_{n}' for n in range(len(only)))})")
    query = (
        "SELECT id, kind, source, body, received_at, attempts FROM deliveries "  # noqa: S608
        f"WHERE {' AND '.join(where)} ORDER BY id LIMIT :limit"
    )
    if lock and sql.postgres:
        query += " FOR UPDATE SKIP LOCKED"
    received_at = Delivery._meta.fields_map["received_at"]
    return [
        StoredDelivery(
            row["id"],
            row["kind"],
            row["source"],
            row["body"],
            received_at.to_python_value(row["received_at"]),
            row["attempts"],
        )
        for row in await sql.fetch(query, params)
    ]


class DeliveryStore:
    async def save(
        self, kind: str, source: str, idempotency_key: str, body: str, now: datetime
    ) -> SaveResult:
        """Store a body once per key; a second delivery with the same key is a duplicate."""
        key = f"{kind}:{idempotency_key}"
        try:
            row = await Delivery.create(
                kind=kind, source=source, idempotency_key=key, body=body, received_at=now
            )
        except IntegrityError:
            existing = await Delivery.get(idempotency_key=key)
            return SaveResult(existing.id, True, existing.status, existing.lead_id)
        return SaveResult(row.id, False, row.status, None)

    async def lease(self, delivery_id: int, now: datetime, lease_for: timedelta) -> bool:
        """Take one delivery for processing; exactly one worker (or replica) wins."""
        updated = await Delivery.filter(
            Q(status=PENDING) | Q(status=PROCESSING, leased_until__lt=now), id=delivery_id
        ).update(status=PROCESSING, leased_until=now + lease_for, attempts=F("attempts") + 1)
        return updated == 1

    async def get(self, delivery_id: int) -> StoredDelivery:
        row = await Delivery.get(id=delivery_id)
        return StoredDelivery(row.id, row.kind, row.source, row.body, row.received_at, row.attempts)

    async def mark_processed(self, delivery_id: int, lead_id: int, now: datetime) -> None:
        await Delivery.filter(id=delivery_id).update(
            status=PROCESSED, processed_at=now, lead_id=lead_id, error=None, leased_until=None
        )

    async def mark_failed(self, delivery_id: int, error: str, now: datetime) -> None:
        await Delivery.filter(id=delivery_id).update(
            status=FAILED, error=error[:4000], processed_at=now, leased_until=None
        )

    async def list_due_ids(
        self, now: datetime, limit: int = 100, *, vendor: bool | None = None
    ) -> list[int]:
        """Deliveries nobody is working on: new ones, and ones whose worker died mid-way.
        ``vendor`` True: only vendor bodies (HubSpot, Typeform, forms, tokens); False: none."""
        sources: Sources = "all" if vendor is None else "vendor" if vendor else "generic"
        return [d.id for d in await fetch_due(None, now, limit, sources=sources)]

    async def requeue_failed(self) -> int:
        """Put every failed delivery back in the queue (for ``handoff replay``)."""
        return await Delivery.filter(status=FAILED).update(status=PENDING, leased_until=None)

    async def count_by_status(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for status in (PENDING, PROCESSING, PROCESSED, FAILED):
            counts[status] = await Delivery.filter(status=status).count()
        return counts

    async def count_failed(self) -> int:
        return await Delivery.filter(status=FAILED).count()

    async def list_failed(self, limit: int = 50) -> list[tuple[int, str, str | None]]:
        rows = await Delivery.filter(status=FAILED).order_by("id").limit(limit)
        return [(r.id, r.kind, r.error) for r in rows]
