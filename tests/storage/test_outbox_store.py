"""The outbox table: at most once per dedupe key, disjoint leases, one lead's items in order."""

from __future__ import annotations

import asyncio
from dataclasses import replace
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
    assert await store.retry_later(first[0], "Slack 500", NOW + timedelta(seconds=5))
    assert await store.lease_due(NOW + timedelta(seconds=1), LEASE, 10) == []  # still waits
    [again] = await store.lease_due(NOW + timedelta(seconds=5), LEASE, 10)
    assert again.payload["step"] == "post card"
    assert await store.mark_sent(again, {"ts": "1"}, NOW + timedelta(seconds=5))
    nxt = await store.lease_due(NOW + timedelta(seconds=6), LEASE, 10)
    assert [i.payload["step"] for i in nxt] == ["update card"]


async def test_two_workers_hold_disjoint_leases_and_each_marks_only_its_own(db: str) -> None:
    store = OutboxStore()
    for n in range(6):
        await store.enqueue(NewItem("slack", "chat.postMessage", {"n": n}, lead_id=n), NOW)
    first = await store.lease_due(NOW, LEASE, 3)
    second = await store.lease_due(NOW, LEASE, 3)
    assert len(first) == len(second) == 3
    assert not {i.id for i in first} & {i.id for i in second}
    assert first[0].lease_token != second[0].lease_token
    # A worker cannot mark an item leased by the other one, even knowing its id.
    stolen = replace(second[0], lease_token=first[0].lease_token)
    assert await store.mark_sent(stolen, {"ts": "x"}, NOW) is False
    assert await store.mark_sent(second[0], {"ts": "1"}, NOW) is True
    assert await store.count_by_status() == {"pending": 5, "sent": 1, "failed": 0}


async def test_a_worker_whose_lease_was_taken_over_can_no_longer_mark_or_renew(db: str) -> None:
    store = OutboxStore()
    await store.enqueue(NewItem("card", "chat.postMessage", {}, lead_id=1), NOW)
    [slow] = await store.lease_due(NOW, LEASE, 10)
    later = NOW + LEASE + timedelta(seconds=1)  # the slow worker's lease ran out
    [taker] = await store.lease_due(later, LEASE, 10)
    assert taker.id == slow.id and taker.attempts == 2
    assert await store.renew(slow, later, LEASE) is False
    assert await store.mark_sent(slow, {"ts": "late"}, later) is False
    assert await store.retry_later(slow, "timeout", later) is False
    assert await store.mark_failed(slow, "gave up", later) is False
    await store.release([slow])  # a stopping worker hands back only what it still holds
    assert await store.lease_due(later, LEASE, 10) == []
    assert await store.mark_sent(taker, {"ts": "1"}, later) is True
    row = await OutboxItem.get(id=taker.id)
    assert (row.status, row.result) == ("sent", {"ts": "1"})


async def test_renewing_keeps_the_item_from_other_workers(db: str) -> None:
    store = OutboxStore()
    await store.enqueue(NewItem("card", "chat.postMessage", {}, lead_id=1), NOW)
    [held] = await store.lease_due(NOW, LEASE, 10)
    almost = NOW + LEASE - timedelta(seconds=1)
    assert await store.renew(held, almost, LEASE) is True
    assert await store.lease_due(NOW + LEASE + timedelta(seconds=1), LEASE, 10) == []
    assert await store.mark_sent(held, None, almost + timedelta(seconds=5)) is True
    # An expired lease that nobody took over is still this worker's: renewing is safe.
    await store.enqueue(NewItem("card", "chat.postMessage", {}, lead_id=2), NOW)
    [idle] = await store.lease_due(NOW, LEASE, 10)
    assert await store.renew(idle, NOW + 2 * LEASE, LEASE) is True


async def test_cards_and_dms_are_leased_before_home_refreshes_and_digests(db: str) -> None:
    store = OutboxStore()
    queued = [
        NewItem("card", "views.publish", {"user_id": "U1"}, lead_id=1),
        NewItem("slack", "chat.postMessage", {"channel": "CMGR"}, dedupe_key="digest:w1"),
        NewItem("file", "files_upload_v2", {"channel": "CMGR"}),
        NewItem("slack", "chat.postMessage", {"channel": "C1", "thread_ts": "1"}, lead_id=2),
        NewItem("card", "chat.postMessage", {}, lead_id=3),
        NewItem("card", "chat.postMessage", {"dm_to": "U1"}, lead_id=4),
    ]
    for item in queued:
        await store.enqueue(item, NOW)
    leased = await store.lease_due(NOW, LEASE, 3)
    assert [(i.kind, i.lead_id) for i in leased] == [("card", 3), ("card", 4), ("slack", 2)]
    rest = await store.lease_due(NOW, LEASE, 10)
    assert [i.method for i in rest] == ["views.publish", "chat.postMessage", "files_upload_v2"]


async def test_a_leads_older_home_refresh_still_goes_before_its_card(db: str) -> None:
    # Priority orders different leads; one lead's items keep their queue order.
    store = OutboxStore()
    await store.enqueue(NewItem("card", "views.publish", {"user_id": "U1"}, lead_id=1), NOW)
    await store.enqueue(NewItem("card", "chat.update", {}, lead_id=1), NOW)
    leased = await store.lease_due(NOW, LEASE, 10)
    assert [i.method for i in leased] == ["views.publish"]


async def test_a_leased_item_says_whether_its_lead_has_more_queued_behind_it(db: str) -> None:
    store = OutboxStore()
    await store.enqueue(NewItem("card", "chat.postMessage", {}, lead_id=1), NOW)
    await store.enqueue(NewItem("card", "chat.postMessage", {"offer_to": "U1"}, lead_id=1), NOW)
    await store.enqueue(NewItem("card", "chat.postMessage", {}, lead_id=2), NOW)
    await store.enqueue(NewItem("webhook", "lead.hot", {"url": "http://x"}), NOW)
    leased = await store.lease_due(NOW, LEASE, 10)
    assert {(i.lead_id, i.followed) for i in leased} == {(1, True), (2, False), (None, False)}
    assert all(i.leased_until == NOW + LEASE for i in leased)
    first = next(i for i in leased if i.lead_id == 1)
    assert await store.mark_sent(first, None, NOW)
    [second] = await store.lease_due(NOW, LEASE, 10)
    assert (second.payload, second.followed) == ({"offer_to": "U1"}, False)


async def test_what_a_send_taught_is_recorded_with_its_mark_even_after_a_takeover(
    db: str,
) -> None:
    store = OutboxStore()
    await store.enqueue(NewItem("card", "chat.postMessage", {}, lead_id=1), NOW)
    await store.enqueue(NewItem("card", "chat.postMessage", {}, lead_id=2), NOW)
    first, second = await store.lease_due(NOW, LEASE, 10)
    recorded: list[int] = []

    async def record(item_id: int) -> None:
        recorded.append(item_id)
        await OutboxItem.filter(id=item_id).update(last_error=f"recorded {item_id}")

    assert await store.mark_sent(first, {"ts": "1"}, NOW, record=lambda: record(first.id))
    later = NOW + LEASE + timedelta(seconds=1)
    [taker] = await store.lease_due(later, LEASE, 10)  # the second item's lease ran out
    # Its message exists all the same: what it taught is kept for the worker that took over.
    assert not await store.mark_sent(second, {"ts": "2"}, later, record=lambda: record(second.id))
    assert recorded == [first.id, second.id]
    row = await OutboxItem.get(id=second.id)
    assert (row.status, row.lease_token, row.last_error) == (
        "pending",
        taker.lease_token,
        f"recorded {second.id}",
    )
    assert (await OutboxItem.get(id=first.id)).status == "sent"
