"""The repair sweep re-queues what a crash left half-done, once, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.domain.leads import LeadProfile
from bot.services.repair import RepairService
from bot.services.routing import RoutingService
from bot.storage.leads import LeadStore
from bot.storage.models import Lead, OutboxItem
from bot.storage.reps import RepStore
from tests.conftest import make_config
from tests.support import FakeClock


async def _lead(clock: FakeClock, email: str, **state: Any) -> int:
    lead, _ = await LeadStore().upsert(LeadProfile(email=email, first_name="Ana"), "t", clock())
    await Lead.filter(id=lead.id).update(route_channel="C0DEFAULT", **state)
    return lead.id


def _service(clock: FakeClock) -> RepairService:
    config = make_config(marketing={"channel": "C0MKT", "webhook_url": "http://127.0.0.1:9/h"})
    leads = LeadStore()
    return RepairService(leads, RoutingService(leads, RepStore(), config, clock), config, clock)


async def test_half_done_moves_are_requeued_once_and_logged(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    routed = await _lead(clock, "r@acme.io", state="routed", cycle=1, routed_at=clock())
    claimed = await _lead(
        clock, "c@acme.io", state="claimed", cycle=1, claimed_by="U0ANA", claimed_at=clock()
    )
    returned = await _lead(
        clock,
        "n@acme.io",
        state="nurturing",
        cycle=1,
        returned_at=clock(),
        returned_by="U0ANA",
        return_reason="budget",
    )
    hot = await _lead(clock, "h@acme.io", state="hot")
    repair = _service(clock)

    with caplog.at_level(logging.INFO, logger="bot.services.repair"):
        assert await repair.sweep() == 5
        assert await repair.sweep() == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.services.repair"]
    assert lines[0].startswith("repair: re-queued 1 card(s), 1 owner DM(s), 2 marketing item(s)")
    assert "routed 1 waiting hot lead(s)" in lines[0]
    assert lines[1] == "repair: nothing stuck"

    keys = set(
        await OutboxItem.filter(dedupe_key__isnull=False).values_list("dedupe_key", flat=True)
    )
    assert {
        f"card:{routed}:1",
        f"owner-dm:{claimed}:1:U0ANA",
        f"returned-slack:{returned}:1",
        f"returned:{returned}:1",
        f"card:{hot}:1",
    } <= keys
    assert (await Lead.get(id=hot)).state == "routed"
    assert await OutboxItem.filter(lead_id=claimed, method="chat.update").count() == 3


async def test_nothing_is_requeued_for_a_lead_whose_items_exist(db: str) -> None:
    clock = FakeClock()
    repair = _service(clock)
    lead_id = await _lead(clock, "r@acme.io", state="routed", cycle=2, routed_at=clock())
    assert (await repair.repair()).cards == 1
    before = await OutboxItem.all().count()
    assert (await repair.repair()).total == 0
    assert await OutboxItem.all().count() == before
    assert await OutboxItem.filter(lead_id=lead_id).count() == 1
