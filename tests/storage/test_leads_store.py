"""Lead storage: one lead per email, profile merges that never undo a concurrent claim."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.domain.leads import LeadProfile, LeadState, StoredLead
from bot.faults import DB, FaultPoint, Faults, InjectedDatabaseFault
from bot.storage.leads import LeadStore, Routing
from bot.storage.models import Lead, OutboxItem, Transition
from bot.storage.outbox import NewItem, OutboxStore

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


async def test_profile_updates_racing_claims_never_undo_them(db: str) -> None:
    store = LeadStore()
    for n in range(30):
        email = f"lead{n}@acme.io"
        lead, _ = await store.upsert(LeadProfile(email=email, title="VP"), "t", NOW)
        await Lead.filter(id=lead.id).update(state=LeadState.ROUTED.value)
        routed = replace(lead, state=LeadState.ROUTED)
        claim = store.claim(routed, "U0ANA", NOW, [])
        update = store.upsert(LeadProfile(email=email, title=f"CRO {n}"), "t", NOW)
        attempt, _ = await asyncio.gather(claim, update)
        moved = attempt.moved
        stored = await Lead.get(id=lead.id)
        assert moved is not None
        assert (stored.state, stored.claimed_by, stored.title) == (
            "claimed",
            "U0ANA",
            f"CRO {n}",
        )


async def test_same_email_is_one_lead(db: str) -> None:
    store = LeadStore()
    first, created_first = await store.upsert(LeadProfile(email="bo@beta.io"), "t", NOW)
    second, created_second = await store.upsert(
        LeadProfile(email="bo@beta.io", company="Beta"), "t", NOW
    )
    assert (created_first, created_second) == (True, False)
    assert first.id == second.id and second.profile.company == "Beta"
    assert await Lead.filter(email="bo@beta.io").count() == 1


async def test_one_rep_clicking_many_cards_at_once_stays_within_the_limit(db: str) -> None:
    store = LeadStore()
    routed = []
    for n in range(6):
        lead, _ = await store.upsert(LeadProfile(email=f"c{n}@acme.io"), "t", NOW)
        await Lead.filter(id=lead.id).update(state=LeadState.ROUTED.value)
        routed.append(replace(lead, state=LeadState.ROUTED))
    attempts = await asyncio.gather(
        *(store.claim(lead, "U0ANA", NOW, [], max_open=2, max_per_day=None) for lead in routed)
    )
    assert sum(a.moved is not None for a in attempts) == 2
    assert sorted(a.over_limit or "" for a in attempts) == ["", "", "open", "open", "open", "open"]
    assert await Lead.filter(claimed_by="U0ANA", state="claimed").count() == 2


@pytest.mark.parametrize("step", ["updated", "audited", "queued", "committed"])
async def test_a_move_and_its_outbox_rows_commit_together_or_not_at_all(db: str, step: str) -> None:
    faulty = LeadStore(Faults([FaultPoint(f"claim.{step}", DB)]))
    lead, _ = await faulty.upsert(LeadProfile(email="f@acme.io"), "t", NOW)
    await Lead.filter(id=lead.id).update(state=LeadState.ROUTED.value, cycle=1)
    routed = replace(lead, state=LeadState.ROUTED, cycle=1)
    dm = NewItem("card", "chat.postMessage", {"dm_to": "U0ANA"}, lead.id, dedupe_key="dm:1")
    with pytest.raises(InjectedDatabaseFault):
        await faulty.claim(routed, "U0ANA", NOW, [dm])
    stored = await Lead.get(id=lead.id)
    claimed = await Transition.filter(lead_id=lead.id, action="claimed").count()
    items = await OutboxItem.filter(lead_id=lead.id).count()
    if step == "committed":
        assert (stored.state, stored.claimed_by, claimed, items) == ("claimed", "U0ANA", 1, 1)
    else:
        assert (stored.state, stored.claimed_by, claimed, items) == ("routed", None, 0, 0)


async def test_an_effect_queued_before_is_skipped_without_failing_the_move(db: str) -> None:
    store = LeadStore()
    lead, _ = await store.upsert(LeadProfile(email="d@acme.io"), "t", NOW)
    await Lead.filter(id=lead.id).update(state=LeadState.HOT.value)
    card = NewItem("card", "chat.postMessage", {}, lead.id, dedupe_key=f"card:{lead.id}:1")
    assert await OutboxStore().enqueue(card, NOW)
    extra = NewItem("slack", "chat.postMessage", {"channel": "C1", "text": "x"}, lead.id)
    hot = replace(lead, state=LeadState.HOT)

    async def plan(_: list[StoredLead]) -> Routing:
        return Routing([card, extra], "C1", None, None, None)

    moved = await store.route(hot, NOW, NOW, plan)
    assert moved is not None and moved.after.state == LeadState.ROUTED
    assert await OutboxItem.filter(lead_id=lead.id).count() == 2
