"""Endpoint health and the owner cache, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.storage.crm import CrmStore

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


async def test_an_endpoint_is_marked_failing_once_per_outage(db: str) -> None:
    store = CrmStore()
    first = await store.record_failure("nurture", "https://x.io/h", "answered 500", T0)
    assert first.failing_since == T0
    later = await store.record_failure("nurture", "https://x.io/h", "timeout", T0 + 2 * HOUR)
    assert later.failing_since == T0 and later.last_error == "timeout"
    assert not await store.mark_failing("nurture", HOUR, T0 + HOUR / 2)  # not an hour yet
    marks = await asyncio.gather(
        *(store.mark_failing("nurture", HOUR, T0 + 2 * HOUR) for _ in range(3))
    )
    assert sorted(marks) == [False, False, True]  # replicas racing: one tells managers
    recovered = await store.record_success("nurture", "https://x.io/h", T0 + 3 * HOUR)
    assert recovered is not None and recovered.marked_failing_at == T0 + 2 * HOUR
    [health] = await store.list_endpoints()
    assert (health.failing_since, health.marked_failing_at) == (None, None)
    assert health.last_success_at == T0 + 3 * HOUR
    assert await store.record_success("nurture", "https://x.io/h", T0 + 4 * HOUR) is None
    # A new outage starts a new clock and may be told again.
    await store.record_failure("nurture", "https://x.io/h", "answered 503", T0 + 5 * HOUR)
    assert await store.mark_failing("nurture", HOUR, T0 + 6 * HOUR)


async def test_owner_cache_and_unmatched_reps(db: str) -> None:
    store = CrmStore()
    await store.save_owner("U0ANA", "ana@sales.io", "4001", T0)
    await store.save_owner("U0BOB", "bob@sales.io", None, T0)
    cached = await store.get_owner("U0ANA", T0 - HOUR)
    assert cached is not None and cached.owner_id == "4001"
    assert await store.get_owner("U0ANA", T0 + HOUR) is None  # stale: look it up again
    assert [(m.user_id, m.email) for m in await store.list_unmatched_owners()] == [
        ("U0BOB", "bob@sales.io")
    ]


async def test_an_older_move_never_overwrites_a_newer_one(db: str) -> None:
    store = CrmStore()
    await store.save_contact_id(7, "1001", T0)
    assert await store.claim_newest(7, T0 + 2 * HOUR, T0)
    assert not await store.claim_newest(7, T0 + HOUR, T0)  # retried late: skipped
    assert await store.claim_newest(7, T0 + 2 * HOUR, T0)  # the same move again is fine
    assert await store.get_contact_id(7) == "1001"
