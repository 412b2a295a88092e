"""Lead storage: one lead per email, profile merges that never undo a concurrent claim."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime

from bot.domain.leads import LeadProfile, LeadState
from bot.storage.leads import LeadStore
from bot.storage.models import Lead

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
