"""Raw deliveries: stored once per key, processed by one worker, picked up again after a crash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.storage.deliveries import DeliveryStore

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


async def test_same_key_is_one_delivery(db: str) -> None:
    store = DeliveryStore()
    first = await store.save("lead", "generic", "k1", "{}", NOW)
    again = await store.save("lead", "generic", "k1", "{}", NOW)
    other_kind = await store.save("event", "generic", "k1", "{}", NOW)
    assert (first.duplicate, again.duplicate, other_kind.duplicate) == (False, True, False)
    assert again.delivery_id == first.delivery_id


async def test_one_worker_wins_a_delivery(db: str) -> None:
    store = DeliveryStore()
    saved = await store.save("lead", "generic", "k1", "{}", NOW)
    wins = await asyncio.gather(*(store.lease(saved.delivery_id, NOW, LEASE) for _ in range(5)))
    assert sorted(wins) == [False, False, False, False, True]


async def test_a_delivery_left_by_a_crashed_worker_is_picked_up_after_its_lease(db: str) -> None:
    store = DeliveryStore()
    saved = await store.save("lead", "generic", "k1", "{}", NOW)
    assert await store.lease(saved.delivery_id, NOW, LEASE)  # then the worker dies
    assert await store.list_due_ids(NOW + timedelta(minutes=1)) == []
    later = NOW + LEASE + timedelta(seconds=1)
    assert await store.list_due_ids(later) == [saved.delivery_id]
    assert await store.lease(saved.delivery_id, later, LEASE)
    assert (await store.get(saved.delivery_id)).attempts == 2
