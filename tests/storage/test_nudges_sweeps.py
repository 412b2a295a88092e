"""SLA, availability and rescoring sweeps on a controlled clock, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.config import HandoffConfig
from bot.domain.leads import LeadProfile, StoredLead
from bot.server import scoring_policy
from bot.services.access import Access
from bot.services.availability import AvailabilityService
from bot.services.cards import LeadCards
from bot.services.claims import ClaimsService
from bot.services.ingest import IngestService
from bot.services.nudges import SlaSweepService
from bot.services.rescoring import RescoringService
from bot.storage.deliveries import DeliveryStore
from bot.storage.leads import LeadStore
from bot.storage.models import Lead, Nudge, OutboxItem, Rep, ScoreSnapshot
from bot.storage.nudges import NudgeStore
from bot.storage.outbox import OutboxStore
from bot.storage.reps import RepStore
from tests.conftest import make_config
from tests.support import FakeClock

ALWAYS = {"always_open": True}
CARD_TS = "1700000000.000100"


@dataclass
class Harness:
    sla: SlaSweepService
    availability: AvailabilityService
    rescoring: RescoringService
    cards: LeadCards
    clock: FakeClock
    hot: list[int] = field(default_factory=list)


def harness(config: HandoffConfig, clock: FakeClock) -> Harness:
    leads, outbox, reps = LeadStore(), OutboxStore(), RepStore()
    claims = ClaimsService(leads, Access(config), config, clock)
    ingest = IngestService(DeliveryStore(), leads, scoring_policy(config), clock)
    hot: list[int] = []

    async def on_hot(lead: StoredLead) -> None:
        hot.append(lead.id)

    return Harness(
        SlaSweepService(NudgeStore(), reps, claims, config, clock),
        AvailabilityService(reps, leads, outbox, claims, config, clock),
        RescoringService(NudgeStore(), ingest, config, clock, on_hot=on_hot),
        LeadCards(leads, reps, outbox, clock),
        clock,
        hot,
    )


async def routed_lead(
    clock: FakeClock, email: str = "ana@acme.io", channel: str = "C0SALES", **fields: Any
) -> int:
    lead, _ = await LeadStore().upsert(
        LeadProfile(email=email, first_name="Ana", last_name="García", company="Acme"),
        "test",
        clock(),
    )
    values: dict[str, Any] = {
        "state": "routed",
        "routed_at": clock(),
        "route_channel": channel,
        "card_channel": channel,
        "card_ts": CARD_TS,
        "cycle": 1,
    }
    values.update(fields)
    await Lead.filter(id=lead.id).update(**values)
    return lead.id


async def posts() -> list[dict[str, Any]]:
    # Static Slack messages only; cards and owner DMs are rendered when sent (kind "card").
    items = await OutboxItem.filter(kind="slack", method="chat.postMessage").order_by("id")
    return [item.payload for item in items]


def text(payload: dict[str, Any]) -> str:
    return json.dumps(payload.get("blocks", []), ensure_ascii=False) + payload.get("text", "")


async def test_unclaimed_lead_is_nudged_in_its_thread_then_escalated_once(db: str) -> None:
    clock = FakeClock()
    config = make_config(
        managers=["U0BOSS"],
        sla={"mention": "S0REPS"},  # defaults: nudge after 15m, escalate after 1h
        business_hours=ALWAYS,
    )
    h = harness(config, clock)
    lead_id = await routed_lead(clock)

    clock.advance(timedelta(minutes=14, seconds=59))
    assert await h.sla.sweep() == 0
    clock.advance(timedelta(seconds=1))
    assert await h.sla.sweep() == 1
    assert await h.sla.sweep() == 0
    [nudge] = await posts()
    assert (nudge["channel"], nudge["thread_ts"]) == ("C0SALES", CARD_TS)
    assert "<!subteam^S0REPS>" in text(nudge) and "still unclaimed" in text(nudge)

    clock.advance(timedelta(minutes=45))
    assert await h.sla.sweep() == 1
    assert await h.sla.sweep() == 0
    _, escalation = await posts()
    assert escalation["thread_ts"] == CARD_TS and "<@U0BOSS>" in text(escalation)
    kinds = await Nudge.filter(lead_id=lead_id).order_by("id").values_list("kind", flat=True)
    assert kinds == ["nudge_unclaimed", "escalate_unclaimed"]


async def test_downtime_sends_each_overdue_nudge_once_in_order(db: str) -> None:
    clock = FakeClock()
    h = harness(make_config(managers=["U0BOSS"], business_hours=ALWAYS), clock)
    await routed_lead(clock)
    clock.advance(timedelta(hours=5))  # the process was down for every run in between
    assert await h.sla.sweep() == 2
    assert await h.sla.sweep() == 0
    nudge, escalation = await posts()
    assert "still unclaimed" in text(nudge) and "<@U0BOSS>" in text(escalation)


async def test_nothing_is_sent_outside_business_hours(db: str) -> None:
    friday_1755 = datetime(2025, 6, 6, 15, 55, tzinfo=UTC)  # 17:55 in Madrid (CEST)
    clock = FakeClock(friday_1755)
    hours = {"timezone": "Europe/Madrid", "start": "09:00", "end": "18:00"}
    h = harness(make_config(business_hours=hours), clock)
    await routed_lead(clock)
    clock.advance(timedelta(hours=16))  # Saturday morning: closed
    assert await h.sla.sweep() == 0
    # 5 minutes on Friday + 10 on Monday = 15 business minutes at Monday 09:10.
    clock.now = datetime(2025, 6, 9, 7, 9, 59, tzinfo=UTC)
    assert await h.sla.sweep() == 0
    clock.advance(timedelta(seconds=1))
    assert await h.sla.sweep() == 1


async def test_fallback_assignment_is_weighted_and_skips_unavailable_reps(db: str) -> None:
    clock = FakeClock()
    config = make_config(
        business_hours=ALWAYS,
        channels={
            "C0SALES": {
                "manager": "U0LEAD",
                "reps": {"U0ANA": 2, "U0BEN": 1, "U0CAT": 3, "U0DAN": 3},
                "sla": {"fallback_assign": True, "overflow_channel": "C0OVERFLOW"},
            }
        },
    )
    h = harness(config, clock)
    await RepStore().set_deactivated("U0CAT", clock())
    await RepStore().set_paused_until("U0DAN", clock() + timedelta(days=1), clock())
    ids = [await routed_lead(clock, email=f"lead{n}@acme.io") for n in range(6)]
    clock.advance(timedelta(hours=2))
    for _ in range(6):  # one lead per sweep, so each pick sees the previous counters
        await h.sla.sweep()
    owners = [(await Lead.get(id=lead_id)).claimed_by for lead_id in ids]
    assert owners.count("U0ANA") == 4 and owners.count("U0BEN") == 2
    counts = dict(await Rep.all().values_list("user_id", "assigned_count"))
    assert counts == {"U0ANA": 4, "U0BEN": 2, "U0CAT": 0, "U0DAN": 0}
    sent = await posts()
    assert sum("<@U0LEAD>" in text(p) and "Assigned to" in text(p) for p in sent) == 6
    assert sum(p["channel"] == "C0OVERFLOW" for p in sent) == 6
    # Each assignee gets the owner's DM once (rendered with the contact details when sent).
    dms = await OutboxItem.filter(kind="card", method="chat.postMessage").values_list(
        "payload", flat=True
    )
    assert sorted(str(p.get("dm_to")) for p in dms if "dm_to" in p) == ["U0ANA"] * 4 + ["U0BEN"] * 2


async def test_a_new_rep_starts_level_with_the_least_served(db: str) -> None:
    clock = FakeClock()
    reps = RepStore()
    await reps.list_status(["U0ANA", "U0BEN"], clock())
    for _ in range(3):
        await reps.count_assignment("U0ANA", clock())
    await reps.count_assignment("U0BEN", clock())
    statuses = await reps.list_status(["U0ANA", "U0BEN", "U0NEW"], clock())
    assert [(s.user_id, s.assigned_count) for s in statuses] == [
        ("U0ANA", 3),
        ("U0BEN", 1),
        ("U0NEW", 1),
    ]


async def test_uncontacted_claim_reminds_the_rep_then_escalates_and_releases(db: str) -> None:
    clock = FakeClock()
    config = make_config(
        managers=["U0BOSS"], business_hours=ALWAYS, sla={"release_when_uncontacted": True}
    )
    h = harness(config, clock)
    lead_id = await routed_lead(clock, state="claimed", claimed_by="U0ANA", claimed_at=clock())
    clock.advance(timedelta(hours=2))
    assert await h.sla.sweep() == 1
    [dm] = await posts()
    assert dm["channel"] == "U0ANA"
    for action in ("lead_contacted", "lead_not_ready", "lead_release"):
        assert action in text(dm)
    clock.advance(timedelta(hours=6))
    assert await h.sla.sweep() == 1
    assert await h.sla.sweep() == 0
    boss = [p for p in await posts() if p["channel"] == "U0BOSS"]
    assert len(boss) == 1 and "<@U0ANA>" in text(boss[0])
    lead = await Lead.get(id=lead_id)
    assert (lead.state, lead.claimed_by, lead.cycle) == ("routed", None, 2)


async def test_paused_claimer_gets_no_reminder_and_escalates_sooner(db: str) -> None:
    clock = FakeClock()
    h = harness(make_config(managers=["U0BOSS"], business_hours=ALWAYS), clock)
    lead_id = await routed_lead(clock, state="claimed", claimed_by="U0ANA", claimed_at=clock())
    until = await h.availability.pause("U0ANA")
    assert until > clock()
    clock.advance(timedelta(hours=1))  # half of the 2 h reminder: due, but skipped
    assert await h.sla.sweep() == 1
    assert [p for p in await posts() if p["channel"] == "U0ANA"] == []
    clock.advance(timedelta(hours=3))  # half of the 8 h escalation
    assert await h.sla.sweep() == 1
    statuses = await Nudge.filter(lead_id=lead_id).order_by("id").values_list("status", flat=True)
    assert statuses == ["skipped", "sent"]
    assert [p["channel"] for p in await posts()] == ["U0BOSS"]
    home = await h.cards.render_home_call("U0ANA")
    assert "rep_resume" in json.dumps(home)
    await h.availability.resume("U0ANA")
    assert "rep_pause" in json.dumps(await h.cards.render_home_call("U0ANA"))


async def test_deactivated_rep_releases_open_leads_once(db: str) -> None:
    clock = FakeClock()
    h = harness(make_config(), clock)
    lead_id = await routed_lead(clock, state="claimed", claimed_by="U0ANA", claimed_at=clock())
    assert await h.availability.user_changed("Ev1", "U0ANA", deleted=True) == 1
    assert await h.availability.user_changed("Ev1", "U0ANA", deleted=True) == 0  # redelivered
    lead = await Lead.get(id=lead_id)
    assert (lead.state, lead.claimed_by) == ("routed", None)
    assert (await Rep.get(user_id="U0ANA")).deactivated
    notes = [p for p in await posts() if p.get("thread_ts") == CARD_TS]
    assert len(notes) == 1 and "deactivated" in text(notes[0])
    await h.availability.user_changed("Ev2", "U0ANA", deleted=False)
    assert not (await Rep.get(user_id="U0ANA")).deactivated


async def test_recontact_date_clears_cooldown_rescores_and_tells_marketing(db: str) -> None:
    clock = FakeClock()
    config = make_config(hot_threshold=1, marketing={"channel": "C0MKT"})
    h = harness(config, clock)
    lead_id = await routed_lead(
        clock,
        state="nurturing",
        recontact_after=clock() - timedelta(minutes=1),
        cooldown_until=clock() + timedelta(days=10),
        title="VP of Sales",
    )
    assert await h.rescoring.sweep_recontacts() == 1
    assert await h.rescoring.sweep_recontacts() == 0
    lead = await Lead.get(id=lead_id)
    assert (lead.recontact_after, lead.cooldown_until, lead.state) == (None, None, "hot")
    assert h.hot == [lead_id]
    [note] = await posts()
    assert note["channel"] == "C0MKT" and "recontact" in text(note)
    assert await ScoreSnapshot.filter(lead_id=lead_id, trigger="recontact_due").count() == 1


async def test_stale_scores_are_recomputed_once(db: str) -> None:
    clock = FakeClock()
    h = harness(make_config(hot_threshold=100), clock)
    lead_id = await routed_lead(
        clock, state="nurturing", score=90, scored_at=clock() - timedelta(hours=2)
    )
    fresh = await routed_lead(clock, email="bo@beta.io", state="nurturing", scored_at=clock())
    assert await h.rescoring.sweep_scores() == 1
    assert await h.rescoring.sweep_scores() == 0
    lead = await Lead.get(id=lead_id)
    assert lead.score < 90 and lead.scored_at == clock()
    assert await ScoreSnapshot.filter(lead_id=fresh).count() == 0
