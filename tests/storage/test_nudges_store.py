"""Exactly-once nudges: the UNIQUE row and its outbox items commit together, on every backend."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from bot.domain.nudges import NudgeKind
from bot.outbox import SLACK
from bot.storage.leads import LeadStore
from bot.storage.models import Lead, Nudge, OutboxItem
from bot.storage.nudges import NudgeStore
from bot.storage.outbox import NewItem
from tests.conftest import make_config
from tests.storage.test_nudges_sweeps import ALWAYS, harness, routed_lead
from tests.support import FakeClock


def item(lead_id: int, text: str) -> NewItem:
    return NewItem(SLACK, "chat.postMessage", {"channel": "C0SALES", "text": text}, lead_id)


async def test_a_nudge_is_recorded_and_queued_once(db: str) -> None:
    clock = FakeClock()
    store = NudgeStore()
    lead_id = await routed_lead(clock)
    [candidate] = await store.list_candidates()
    lead = candidate.lead
    kind = NudgeKind.NUDGE_UNCLAIMED
    assert await store.record(
        lead, kind, "C0SALES", [item(lead_id, "a"), item(lead_id, "b")], clock()
    )
    assert not await store.record(lead, kind, "C0SALES", [item(lead_id, "again")], clock())
    assert await OutboxItem.filter(lead_id=lead_id).count() == 2
    [again] = await store.list_candidates()
    assert again.sent == {kind}


async def test_a_nudge_planned_for_an_old_state_is_not_recorded(db: str) -> None:
    clock = FakeClock()
    store = NudgeStore()
    lead_id = await routed_lead(clock)
    [candidate] = await store.list_candidates()
    attempt = await LeadStore().claim(candidate.lead, "U0ANA", clock(), [])
    assert attempt.moved is not None
    sent = await store.record(
        candidate.lead, NudgeKind.NUDGE_UNCLAIMED, "C0SALES", [item(lead_id, "x")], clock()
    )
    assert not sent
    assert await Nudge.all().count() == 0 and await OutboxItem.all().count() == 0


async def test_a_new_cycle_can_be_nudged_again(db: str) -> None:
    clock = FakeClock()
    store = NudgeStore()
    lead_id = await routed_lead(clock)
    [first] = await store.list_candidates()
    assert await store.record(first.lead, NudgeKind.NUDGE_UNCLAIMED, None, [], clock())
    await Lead.filter(id=lead_id).update(cycle=2)
    [second] = await store.list_candidates()
    assert second.sent == frozenset()
    assert await store.record(second.lead, NudgeKind.NUDGE_UNCLAIMED, None, [], clock())


async def test_two_instances_sweeping_concurrently_send_each_nudge_once(db: str) -> None:
    """Two replicas' services on one database, sweeping at the same moments, many times."""
    clock = FakeClock()
    config = make_config(managers=["U0BOSS"], business_hours=ALWAYS)
    first, second = harness(config, clock), harness(config, clock)
    leads = [await routed_lead(clock, email=f"lead{n}@acme.io") for n in range(25)]
    clock.advance(timedelta(hours=2))  # every lead is due a nudge and an escalation
    sent = 0
    for _ in range(8):
        done = await asyncio.gather(first.sla.sweep(), second.sla.sweep())
        sent += sum(done)
    assert sent == 2 * len(leads)
    rows = await Nudge.all().values_list("lead_id", "kind")
    assert Counter(rows) == {
        (lead_id, kind): 1
        for lead_id in leads
        for kind in ("nudge_unclaimed", "escalate_unclaimed")
    }
    # One thread reply per nudge, and per lead the nudge is queued before the escalation.
    for lead_id in leads:
        texts = [i.payload["text"] for i in await OutboxItem.filter(lead_id=lead_id).order_by("id")]
        assert len(texts) == 2
        assert texts[0].startswith("Still unclaimed") and texts[1].startswith("Escalation")


async def test_fully_escalated_leads_do_not_crowd_out_new_ones(db: str) -> None:
    clock = FakeClock()
    store = NudgeStore()
    old = [await routed_lead(clock, email=f"old{n}@acme.io") for n in range(3)]
    for lead_id in old:
        await Nudge.create(lead_id=lead_id, kind="escalate_unclaimed", cycle=1, created_at=clock())
    clock.advance(timedelta(minutes=1))
    new = await routed_lead(clock, email="new@acme.io")
    candidates = await store.list_candidates(limit=2)
    assert [c.lead.id for c in candidates] == [new]
