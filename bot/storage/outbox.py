"""The durable outbox: Slack calls and webhooks queued in the database, leased, retried.

Guarantees: an item is delivered at least once (a crash after sending but before marking can
repeat it), items of one lead go out in the order they were queued, a ``dedupe_key`` makes an
item exist at most once (e.g. one card per lead and hand-off cycle), and with several replicas
each item is leased by exactly one of them at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from bot.storage.models import OutboxItem

PENDING = "pending"
SENT = "sent"
FAILED = "failed"


@dataclass(frozen=True)
class QueuedItem:
    id: int
    kind: str
    method: str
    payload: dict[str, Any]
    lead_id: int | None
    attempts: int


@dataclass(frozen=True)
class NewItem:
    kind: str
    method: str
    payload: dict[str, Any]
    lead_id: int | None = None
    dedupe_key: str | None = None


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
                next_attempt_at=now,
                created_at=now,
            )
        except IntegrityError:
            return False
        return True

    async def lease_due(self, now: datetime, lease_for: timedelta, limit: int) -> list[QueuedItem]:
        """Lease up to ``limit`` due items, skipping any lead that has an older item unsent."""
        candidates = (
            await OutboxItem.filter(
                Q(leased_until__isnull=True) | Q(leased_until__lt=now),
                status=PENDING,
                next_attempt_at__lte=now,
            )
            .order_by("id")
            .limit(limit * 4)
        )
        leased: list[QueuedItem] = []
        blocked_leads: set[int] = set()
        for row in candidates:
            if len(leased) >= limit:
                break
            if row.lead_id is not None:
                if row.lead_id in blocked_leads:
                    continue
                older_unsent = await OutboxItem.filter(
                    lead_id=row.lead_id, status=PENDING, id__lt=row.id
                ).exists()
                blocked_leads.add(row.lead_id)  # one item per lead per round keeps order
                if older_unsent:
                    continue
            won = await OutboxItem.filter(
                Q(leased_until__isnull=True) | Q(leased_until__lt=now), id=row.id, status=PENDING
            ).update(leased_until=now + lease_for, attempts=F("attempts") + 1)
            if won:
                leased.append(
                    QueuedItem(
                        row.id, row.kind, row.method, row.payload, row.lead_id, row.attempts + 1
                    )
                )
        return leased

    async def mark_sent(self, item_id: int, result: dict[str, Any] | None, now: datetime) -> None:
        await OutboxItem.filter(id=item_id).update(
            status=SENT, sent_at=now, result=result, leased_until=None, last_error=None
        )

    async def retry_later(self, item_id: int, error: str, at: datetime) -> None:
        await OutboxItem.filter(id=item_id).update(
            next_attempt_at=at, leased_until=None, last_error=error[:2000]
        )

    async def mark_failed(self, item_id: int, error: str, now: datetime) -> None:
        await OutboxItem.filter(id=item_id).update(
            status=FAILED, leased_until=None, last_error=error[:2000], sent_at=now
        )

    async def release(self, item_ids: set[int]) -> None:
        await OutboxItem.filter(id__in=list(item_ids), status=PENDING).update(leased_until=None)

    async def list_failed(self, limit: int = 100) -> list[tuple[int, str, str | None]]:
        rows = await OutboxItem.filter(status=FAILED).order_by("id").limit(limit)
        return [(r.id, r.method, r.last_error) for r in rows]

    async def requeue_failed(self, now: datetime) -> int:
        """Send failed items again (after the cause is fixed); their dedupe keys still hold."""
        return await OutboxItem.filter(status=FAILED).update(
            status=PENDING, attempts=0, next_attempt_at=now, leased_until=None, sent_at=None
        )

    async def count_by_status(self) -> dict[str, int]:
        return {s: await OutboxItem.filter(status=s).count() for s in (PENDING, SENT, FAILED)}
