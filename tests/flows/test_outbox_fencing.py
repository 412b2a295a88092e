"""A worker whose lease ran out while Slack was slow sends nothing for the items it lost.

The outbox worker runs against the fake Slack on loopback with the real database; a second
worker takes over an item whose lease expired while the first was stuck on a slow call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.outbox import SLACK, OutboxWorker
from bot.storage.models import OutboxItem
from bot.storage.outbox import NewItem, OutboxStore, QueuedItem
from tests.fakes import FakeSlackApi
from tests.support import WEBHOOK_SECRET, FakeClock


class TickingClock:
    """Each reading is one second after the previous: a worker's later steps happen later."""

    def __init__(self, start: datetime) -> None:
        self.readings = [start]

    def __call__(self) -> datetime:
        self.readings.append(self.readings[-1] + timedelta(seconds=1))
        return self.readings[-1]


class NoCards:
    """Plain Slack items never ask for a card."""

    async def prefetch(self, items: Sequence[QueuedItem]) -> None:
        return None

    async def render_card_call(
        self, lead_id: int, method: str, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        raise AssertionError("not a card item")

    async def card_posted(
        self, lead_id: int, channel: str, ts: str, payload: dict[str, Any]
    ) -> None:
        raise AssertionError("not a card item")

    async def render_home_call(self, user_id: str) -> dict[str, Any]:
        raise AssertionError("not a card item")


async def test_an_item_taken_over_after_its_lease_ran_out_is_sent_once(
    db: str, fake_slack: FakeSlackApi, clock: FakeClock
) -> None:
    store = OutboxStore()
    for n in (1, 2):
        item = NewItem(SLACK, "chat.postMessage", {"channel": "C1", "text": f"nudge {n}"}, n)
        await store.enqueue(item, clock())
    slack = AsyncWebClient(token="xoxb-test", base_url=fake_slack.base_url, timeout=3)
    ticking = TickingClock(clock())
    slow = OutboxWorker(store, slack, NoCards(), WEBHOOK_SECRET, ticking, concurrency=1)
    fake_slack.answer_late(1.0)
    first_round = asyncio.create_task(slow.drain())
    await fake_slack.wait_for("chat.postMessage")  # the slow worker is stuck on item 1
    # It leased both items at its first reading and renewed item 1 at its second; item 2's
    # lease has run out for another worker, which takes it over.
    leased_at = ticking.readings[1]
    [taken] = await store.lease_due(leased_at + slow.lease + timedelta(seconds=0.5), slow.lease, 10)
    assert taken.payload["text"] == "nudge 2"
    assert await first_round == 2
    fake_slack.answer_late(0)
    # The slow worker sent item 1 only; item 2 is still the other worker's to send.
    assert [c.args["text"] for c in fake_slack.calls_to("chat.postMessage")] == ["nudge 1"]
    row = await OutboxItem.get(id=taken.id)
    assert (row.status, row.lease_token) == ("pending", taken.lease_token)
    assert (await OutboxItem.get(id=taken.id - 1)).status == "sent"
    # That worker dies before sending; once its lease too has run out, a third one sends it.
    later = FakeClock(ticking.readings[-1] + 2 * slow.lease)
    other = OutboxWorker(store, slack, NoCards(), WEBHOOK_SECRET, later)
    await other.drain()
    texts = [c.args["text"] for c in fake_slack.calls_to("chat.postMessage")]
    assert texts == ["nudge 1", "nudge 2"]
    assert await OutboxItem.filter(status="sent").count() == 2


class CountingStore(OutboxStore):
    def __init__(self) -> None:
        self.renewals = 0

    async def renew(self, item: QueuedItem, now: datetime, lease_for: timedelta) -> bool:
        self.renewals += 1
        return await super().renew(item, now, lease_for)


async def test_a_lease_taken_just_now_is_not_renewed_and_an_older_one_is(
    db: str, fake_slack: FakeSlackApi, clock: FakeClock
) -> None:
    store = CountingStore()
    slack = AsyncWebClient(token="xoxb-test", base_url=fake_slack.base_url, timeout=3)
    await store.enqueue(NewItem(SLACK, "chat.postMessage", {"channel": "C1", "text": "a"}), clock())
    # The call starts as the lease is taken: renewing would not extend it by anything.
    assert await OutboxWorker(store, slack, NoCards(), WEBHOOK_SECRET, clock).drain() == 1
    assert store.renewals == 0
    await store.enqueue(NewItem(SLACK, "chat.postMessage", {"channel": "C1", "text": "b"}), clock())
    # Each step a second later: by the call, the lease has aged and is renewed first.
    ticking = TickingClock(clock())
    assert await OutboxWorker(store, slack, NoCards(), WEBHOOK_SECRET, ticking).drain() == 1
    assert store.renewals == 1
    assert [c.args["text"] for c in fake_slack.calls_to("chat.postMessage")] == ["a", "b"]
    assert await OutboxItem.filter(status="sent").count() == 2
