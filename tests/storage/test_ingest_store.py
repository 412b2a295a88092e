"""Batch processing: one transaction per batch, all or nothing, one bad delivery fails alone."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import HandoffConfig
from bot.domain.leads import EngagementEvent, LeadProfile, LeadState, StoredLead
from bot.scoring.result import Score
from bot.server import scoring_policy
from bot.services.ingest import IngestService
from bot.storage.deliveries import DeliveryStore
from bot.storage.ingest import Batch, DeliveryEffect, IngestStore, Rescored
from bot.storage.leads import LeadStore
from bot.storage.models import Delivery, Event, Lead, ScoreSnapshot, Transition
from tests.conftest import make_config
from tests.support import FakeClock

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
HOT_LEAD = {"title": "VP Sales", "company": "Acme", "company_size": 300, "country": "ES"}
# json.loads turns this escape into a lone surrogate, which neither database can store.
UNSTORABLE = "\\ud800"


def _config() -> HandoffConfig:
    return make_config(
        hot_threshold=30,
        scoring={
            "fit": [
                {"field": "title", "matches": "VP|Head", "points": 40, "reason": "senior title"}
            ]
        },
    )


async def _save(store: DeliveryStore, kind: str, key: str, body: dict[str, Any] | str) -> int:
    text = body if isinstance(body, str) else json.dumps(body)
    saved = await store.save(kind, "generic", key, text, NOW)
    return saved.delivery_id


def _ingest(deliveries: DeliveryStore, hot: list[int] | None = None) -> IngestService:
    async def on_hot(lead: StoredLead) -> None:
        if hot is not None:
            hot.append(lead.id)

    return IngestService(deliveries, LeadStore(), scoring_policy(_config()), FakeClock(NOW), on_hot)


async def test_a_batch_writes_leads_events_scores_and_marks_its_deliveries(db: str) -> None:
    deliveries = DeliveryStore()
    await _save(deliveries, "lead", "a", {"email": "ana@acme.io", **HOT_LEAD})
    await _save(deliveries, "lead", "b", {"email": "bo@beta.io", "first_name": "Bo"})
    await _save(deliveries, "event", "c", {"email": "bo@beta.io", "type": "page_view"})
    await _save(deliveries, "lead", "d", {"email": "bo@beta.io", "last_name": "Berg"})
    hot: list[int] = []

    assert await _ingest(deliveries, hot).process_due() == 4

    assert await deliveries.count_by_status() == {
        "pending": 0,
        "processing": 0,
        "processed": 4,
        "failed": 0,
    }
    ana = await Lead.get(email="ana@acme.io")
    bo = await Lead.get(email="bo@beta.io")
    assert (ana.state, ana.email_domain, bo.state, bo.email_domain) == (
        "hot",
        "acme.io",
        "nurturing",
        "beta.io",
    )
    assert (bo.first_name, bo.last_name) == ("Bo", "Berg")
    assert hot == [ana.id]
    assert await Event.filter(lead_id=bo.id).count() == 1
    assert await ScoreSnapshot.filter(lead_id=bo.id).count() == 3  # lead, event, update
    actions = await Transition.filter(lead_id=bo.id).order_by("id").values_list("action", flat=True)
    assert actions == ["created", "profile_updated"]
    assert [row.lead_id for row in await Delivery.all().order_by("id")] == [
        ana.id,
        bo.id,
        bo.id,
        bo.id,
    ]


async def test_a_failure_mid_batch_leaves_every_delivery_for_retry(db: str) -> None:
    deliveries = DeliveryStore()
    store = IngestStore()
    await _save(deliveries, "lead", "a", {"email": "ana@acme.io", **HOT_LEAD})
    await _save(deliveries, "lead", "b", {"email": "bo@beta.io"})

    def rescore(lead: object, events: object, trigger: str) -> Rescored:
        return Rescored(Score(points=80, grade="A", reasons=()), LeadState.HOT)

    with pytest.raises(Exception):  # noqa: B017 - each database raises its own error type
        async with store.open_batch(NOW, 10) as batch:
            first, second = batch.deliveries
            effects = [
                DeliveryEffect(first.id, LeadProfile(email="ana@acme.io"), None, "lead"),
                DeliveryEffect(
                    second.id,
                    LeadProfile(email="bo@beta.io"),
                    EngagementEvent(json.loads(f'"{UNSTORABLE}"'), NOW, {}),
                    "event:x",
                ),
            ]
            # The leads are inserted, then storing the event fails: the batch dies half-way.
            await store.apply(batch, effects, [], NOW - timedelta(days=30), rescore, NOW)

    assert await Lead.all().count() == 0
    assert await ScoreSnapshot.all().count() == 0
    assert await deliveries.list_due_ids(NOW) == [first.id, second.id]


async def test_transitions_are_logged_once_committed_and_never_for_a_rollback(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    deliveries = DeliveryStore()
    store = IngestStore()
    await _save(deliveries, "lead", "a", {"email": "ana@acme.io", **HOT_LEAD})

    def rescore(lead: object, events: object, trigger: str) -> Rescored:
        return Rescored(Score(points=80, grade="A", reasons=()), LeadState.HOT)

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "bot.transitions"]

    caplog.set_level(logging.INFO, logger="bot.transitions")
    with pytest.raises(RuntimeError):
        async with store.open_batch(NOW, 10) as batch:
            (only,) = batch.deliveries
            effect = DeliveryEffect(only.id, LeadProfile(email="ana@acme.io"), None, "lead")
            await store.apply(batch, [effect], [], NOW - timedelta(days=30), rescore, NOW)
            raise RuntimeError("the process dies before the commit")
    assert await Lead.all().count() == 0
    assert logged() == []  # nothing happened, so nothing is said to have happened

    async with store.open_batch(NOW, 10) as batch:
        (only,) = batch.deliveries
        effect = DeliveryEffect(only.id, LeadProfile(email="ana@acme.io"), None, "lead")
        await store.apply(batch, [effect], [], NOW - timedelta(days=30), rescore, NOW)
        assert logged() == []  # not yet committed
    lead = await Lead.get(email="ana@acme.io")
    assert logged() == [
        f"lead {lead.id} new -> nurturing by delivery:{only.id} (created)",
        f"lead {lead.id} nurturing -> hot by delivery:{only.id} (scored)",
    ]


async def test_a_bad_delivery_is_marked_failed_and_the_rest_of_its_batch_processed(
    db: str,
) -> None:
    deliveries = DeliveryStore()
    good = await _save(deliveries, "lead", "a", {"email": "ana@acme.io", **HOT_LEAD})
    unstorable = await _save(
        deliveries, "lead", "b", f'{{"email": "bo@beta.io", "first_name": "{UNSTORABLE}"}}'
    )
    not_json = await _save(deliveries, "lead", "c", "{not json")
    also_good = await _save(deliveries, "event", "d", {"email": "cy@gamma.io", "type": "x"})
    hot: list[int] = []

    await _ingest(deliveries, hot).process_due()

    failed = {delivery: error for delivery, _, error in await deliveries.list_failed()}
    assert sorted(failed) == [unstorable, not_json]
    assert "not valid JSON" in (failed[not_json] or "")
    rows = {row.id: row for row in await Delivery.all().order_by("id")}
    assert (rows[good].status, rows[also_good].status) == ("processed", "processed")
    assert await Lead.filter(email__in=["ana@acme.io", "cy@gamma.io"]).count() == 2
    assert not await Lead.filter(email="bo@beta.io").exists()
    assert hot == [(await Lead.get(email="ana@acme.io")).id]


async def test_two_workers_lock_disjoint_batches(db: str) -> None:
    if not db.startswith("postgres"):
        pytest.skip("SQLite runs one transaction at a time: a second worker waits instead")
    deliveries = DeliveryStore()
    store = IngestStore()
    ids = [await _save(deliveries, "lead", f"k{n}", {"email": f"l{n}@x.io"}) for n in range(5)]
    first_open = asyncio.Event()
    release = asyncio.Event()
    seen: dict[str, list[int]] = {}

    async def worker(name: str, wait_first: bool) -> None:
        if wait_first:
            await first_open.wait()
        async with store.open_batch(NOW, 3) as batch:
            seen[name] = [d.id for d in batch.deliveries]
            first_open.set()
            if not wait_first:
                await release.wait()

    first = asyncio.create_task(worker("first", False))
    await worker("second", True)
    release.set()
    await first
    assert seen == {"first": ids[:3], "second": ids[3:]}


class CountingBatches(IngestStore):
    def __init__(self) -> None:
        self.opened = 0

    @asynccontextmanager
    async def open_batch(self, *args: Any, **kwargs: Any) -> AsyncIterator[Batch]:
        self.opened += 1
        async with super().open_batch(*args, **kwargs) as batch:
            yield batch


class NoVendorLeads:
    """A decoder for vendor bodies: every one is a generic JSON lead."""

    async def decode_lead(self, source: str, body: str) -> None:
        return None


@pytest.mark.parametrize(("queued", "batches", "opened"), [(3, 100, 1), (3, 2, 2), (4, 2, 3)])
async def test_a_round_ends_with_the_first_batch_that_was_not_full(
    db: str, queued: int, batches: int, opened: int
) -> None:
    deliveries = DeliveryStore()
    for n in range(queued):
        await _save(deliveries, "lead", f"k{n}", {"email": f"lead{n}@acme.io"})
    counting = CountingBatches()
    ingest = IngestService(
        deliveries,
        LeadStore(),
        scoring_policy(_config()),
        FakeClock(NOW),
        batches=counting,
        batch_size=batches,
    )
    assert await ingest.drain() is False  # everything due was taken: no round at once
    assert counting.opened == opened  # no empty batch to find out that nothing is left
    assert (await deliveries.count_by_status())["processed"] == queued


async def test_the_batch_query_also_finds_vendor_deliveries(db: str) -> None:
    deliveries = DeliveryStore()
    await _save(deliveries, "lead", "a", {"email": "ana@acme.io"})
    vendor = await deliveries.save(
        "lead", "typeform", "b", json.dumps({"email": "bo@beta.io"}), NOW
    )
    counting = CountingBatches()
    ingest = IngestService(
        deliveries,
        LeadStore(),
        scoring_policy(_config()),
        FakeClock(NOW),
        decoder=NoVendorLeads(),
        batches=counting,
    )
    assert await ingest.process_due() == 2
    # The round's batch, then the vendor delivery's batch of one: no query of its own.
    assert counting.opened == 2
    assert (await Delivery.get(id=vendor.delivery_id)).status == "processed"
    assert {lead.email for lead in await Lead.all()} == {"ana@acme.io", "bo@beta.io"}
