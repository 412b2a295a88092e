"""The outbox table: at most once per dedupe key, disjoint leases, one lead's items in order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.storage.models import OutboxItem
from bot.storage.outbox import NewItem, OutboxStore

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=30)


async def test_a_dedupe_key_is_queued_once(db: str) -> None:
    store = OutboxStore()
    item = NewItem("slack", "chat.postMessage", {"channel": "C1"}, 1, dedupe_key="card:1:1")
    assert await store.enqueue(item, NOW) is True
    assert await store.enqueue(item, NOW) is False
    assert await OutboxItem.all().count() == 1


async def test_concurrent_workers_lease_disjoint_items(db: str) -> None:
    store = OutboxStore()
    for n in range(30):
        await store.enqueue(NewItem("slack", "chat.postMessage", {"n": n}), NOW)
    batches = await asyncio.gather(*(store.lease_due(NOW, LEASE, 10) for _ in range(4)))
    leased = [item.id for batch in batches for item in batch]
    assert len(leased) == len(set(leased)) == 30
    # Leased items are invisible to other workers until the lease runs out.
    assert await store.lease_due(NOW, LEASE, 10) == []
    again = await store.lease_due(NOW + LEASE + timedelta(seconds=1), LEASE, 50)
    assert len(again) == 30


async def test_one_leads_items_go_out_in_order(db: str) -> None:
    store = OutboxStore()
    for step in ("post card", "update card", "post DM"):
        await store.enqueue(NewItem("slack", "chat.postMessage", {"step": step}, lead_id=7), NOW)
    await store.enqueue(NewItem("slack", "chat.postMessage", {"step": "other lead"}, 8), NOW)
    first = await store.lease_due(NOW, LEASE, 10)
    assert [i.payload["step"] for i in first] == ["post card", "other lead"]
    assert await store.lease_due(NOW, LEASE, 10) == []  # the update waits for the post
    await store.retry_later(first[0].id, "Slack 500", NOW + timedelta(seconds=5))
    assert await store.lease_due(NOW + timedelta(seconds=1), LEASE, 10) == []  # still waits
    await store.mark_sent(first[0].id, {"ts": "1"}, NOW)
    nxt = await store.lease_due(NOW + timedelta(seconds=1), LEASE, 10)
    assert [i.payload["step"] for i in nxt] == ["update card"]
