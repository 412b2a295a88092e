"""Raw inbound deliveries: stored first, processed once, retried or replayed on failure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from bot.storage.models import Delivery

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


def due(now: datetime) -> Q:
    """New deliveries, and ones whose worker died mid-way (its lease ran out)."""
    return Q(status=PENDING) | Q(status=PROCESSING, leased_until__lt=now)


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
        query = Delivery.filter(due(now))
        if vendor is not None:
            query = (
                query.exclude(source=GENERIC_SOURCE)
                if vendor
                else query.filter(source=GENERIC_SOURCE)
            )
        rows = await query.order_by("id").limit(limit)
        return [row.id for row in rows]

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
