"""Report aggregates against a hand-checked dataset, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.report_query import Period, ReportMetrics, ReportScope, parse_period
from bot.storage.models import Lead
from bot.storage.reports import ReportStore
from tests.reports.dataset import ANA, BOB, CAROL, EMEA, NOW, US, at, insert_dataset

PERIOD = Period(at(1, 0), at(10, 0), "2026-03-01..2026-03-09")
MIN = timedelta(minutes=1)


@pytest.fixture
async def store(db: str) -> ReportStore:
    await insert_dataset()
    return ReportStore()


async def test_report_totals(store: ReportStore) -> None:
    report = await store.get_report(PERIOD, ReportScope())
    assert report.total == ReportMetrics(
        leads_in=8,  # L1-L6, L8, L9 (L9 at the start instant counts; L7 February, L10 at end)
        hot=6,  # L1 L2 L3 L4 L6 L8
        routed=6,  # L1 L2 L3 L4 L6 L8 (L7 in February)
        claimed=3,  # L1 L2 L3 (L8 claimed 00:30 after the end)
        contacted=2,  # L1 L2
        won=1,  # L1
        lost=1,  # L7: closed in the period though it came in before
        disqualified=1,  # L9
        sla_breaches=2,  # escalations of L4 and L3 (a plain nudge and a later one don't count)
        returns=2,  # L6 returned twice; L7's February return is outside
        median_time_to_claim=4 * MIN,  # claims at 2, 4, 10 min -> median 4
        p90_time_to_claim=timedelta(seconds=528),  # rank 0.9*(3-1)=1.8: 4 + 0.8*(10-4) = 8.8 min
        median_time_to_first_touch=45 * MIN,  # 30 and 60 min -> 45
    )
    assert report.total.hot_rate == 0.75  # 6 / 8
    assert [(r.reason, r.count) for r in report.top_return_reasons] == [
        ("budget", 1),
        ("timing", 1),
    ]


async def test_report_breakdowns(store: ReportStore) -> None:
    report = await store.get_report(PERIOD, ReportScope())
    by_source = {r.key: r.metrics for r in report.by_source}
    assert by_source["web"] == ReportMetrics(
        leads_in=4,  # L1 L2 L5 L8
        hot=3,
        routed=3,
        claimed=2,
        contacted=2,
        won=1,
        lost=1,  # L7
        median_time_to_claim=3 * MIN,  # 2 and 4 min
        p90_time_to_claim=timedelta(seconds=228),  # 2 + 0.9*(4-2) = 3.8 min
        median_time_to_first_touch=45 * MIN,
    )
    assert by_source["webinar"] == ReportMetrics(
        leads_in=4,  # L3 L4 L6 L9
        hot=3,
        routed=3,
        claimed=1,
        disqualified=1,
        sla_breaches=2,
        returns=2,
        median_time_to_claim=10 * MIN,
        p90_time_to_claim=10 * MIN,
    )
    assert set(by_source) == {"web", "webinar"}

    by_channel = {r.key: r.metrics for r in report.by_channel}
    assert set(by_channel) == {EMEA, US, None}
    assert (by_channel[EMEA].leads_in, by_channel[EMEA].claimed, by_channel[EMEA].returns) == (
        3,  # L1 L2 L6
        2,
        2,
    )
    assert by_channel[US].sla_breaches == 2
    assert by_channel[US].lost == 1  # L7
    assert by_channel[US].median_time_to_claim == 10 * MIN
    assert (by_channel[None].leads_in, by_channel[None].disqualified) == (2, 1)  # L5 L9

    by_rep = {r.key: r.metrics for r in report.by_rep}
    assert set(by_rep) == {ANA, BOB, None}
    ana = by_rep[ANA]
    # ANA holds L1 L2 L7 L8 and returned L6 once.
    assert (ana.leads_in, ana.claimed, ana.contacted, ana.won, ana.lost, ana.returns) == (
        3,
        2,
        2,
        1,
        1,
        1,
    )
    assert ana.median_time_to_claim == 3 * MIN
    bob = by_rep[BOB]
    assert (bob.claimed, bob.sla_breaches, bob.returns) == (1, 1, 1)
    assert by_rep[None].sla_breaches == 1  # L4 was never claimed
    # Rows come biggest first.
    assert [r.key for r in report.by_rep] == [None, ANA, BOB]  # 4, 3, 1 leads in


async def test_fairness(store: ReportStore) -> None:
    report = await store.get_report(PERIOD, ReportScope())
    assert {m.rep: m.by_grade for m in report.grade_mix} == {ANA: {"A": 2}, BOB: {"B": 1}}
    shares = {(s.channel, s.rep): (s.claims, s.channel_claims) for s in report.claim_shares}
    assert shares == {(EMEA, ANA): (2, 2), (US, BOB): (1, 1)}
    assert report.claim_shares[0].share == 1.0


async def test_report_scoped_to_a_rep_or_channel(store: ReportStore) -> None:
    ana = (await store.get_report(PERIOD, ReportScope(rep=ANA))).total
    assert (ana.leads_in, ana.claimed, ana.won, ana.lost, ana.returns) == (3, 2, 1, 1, 1)
    assert ana.median_time_to_claim == 3 * MIN
    us = await store.get_report(PERIOD, ReportScope(channel=US))
    assert (us.total.leads_in, us.total.routed, us.total.claimed) == (3, 3, 1)  # L3 L4 L8
    assert us.total.sla_breaches == 2
    assert us.total.returns == 0
    assert [r.key for r in us.by_channel] == [US]
    both = await store.get_report(PERIOD, ReportScope(channel=US, rep=ANA))
    assert (both.total.leads_in, both.total.claimed, both.total.lost) == (1, 0, 1)  # L8; L7


async def test_empty_period_is_all_zero(store: ReportStore) -> None:
    empty = Period(at(1, 0, month=1), at(2, 0, month=1), "2026-01-01")
    report = await store.get_report(empty, ReportScope())
    assert report.total == ReportMetrics()
    assert report.total.hot_rate is None
    assert report.by_source == ()
    assert report.top_return_reasons == ()


async def test_daily_series_in_utc(store: ReportStore) -> None:
    series = await store.list_daily_series(PERIOD, ReportScope())
    assert [(p.day.day, p.leads_in) for p in series] == [
        (1, 1),  # L9
        (2, 1),
        (3, 1),
        (4, 2),  # L3 L4
        (5, 1),
        (6, 1),
        (7, 0),
        (8, 0),
        (9, 1),  # L8
    ]
    medians = {p.day.day: p.median_time_to_claim for p in series if p.median_time_to_claim}
    assert medians == {2: 2 * MIN, 3: 4 * MIN, 4: 10 * MIN}


async def test_daily_series_follows_local_days_across_dst(store: ReportStore) -> None:
    new_york = ZoneInfo("America/New_York")  # DST starts 2026-03-08: that day has 23 hours
    period = parse_period("2026-03-01..2026-03-09", NOW, new_york)
    assert isinstance(period, Period)
    series = await store.list_daily_series(period, ReportScope(), new_york)
    assert series[0].day == date(2026, 3, 1)
    # L9 (03-01 00:00 UTC) is still February 28 in New York; L10 (03-10 00:00 UTC) is 03-09.
    assert [p.leads_in for p in series] == [0, 1, 1, 2, 1, 1, 0, 0, 2]


async def test_leaderboard(store: ReportStore) -> None:
    board = await store.list_leaderboard(PERIOD, ReportScope())
    assert [(r.rep, r.claimed, r.contacted, r.median_time_to_claim, r.won) for r in board] == [
        (ANA, 2, 2, 3 * MIN, 1),
        (BOB, 1, 0, 10 * MIN, 0),
    ]


async def test_stale_oldest_first(store: ReportStore) -> None:
    stale = await store.list_stale(NOW, ReportScope())
    assert stale.total == 3
    assert [(s.email, s.owner, s.age) for s in stale.leads] == [
        ("li.wei@initech.com", BOB, timedelta(days=6, hours=2)),  # routed 03-04 10:00
        ("-rm@umbrella.com", None, timedelta(days=5, hours=23)),  # routed 03-04 13:00
        ("late@cyberdyne.com", ANA, timedelta(hours=12, minutes=30)),  # routed 03-09 23:30
    ]
    assert stale.leads[0].name == "Li Wei"
    limited = await store.list_stale(NOW, ReportScope(), limit=1)
    assert (limited.total, len(limited.leads)) == (3, 1)
    mine = await store.list_stale(NOW, ReportScope(rep=BOB))
    assert [s.email for s in mine.leads] == ["li.wei@initech.com"]


async def test_find_by_email_or_name(store: ReportStore) -> None:
    [found] = await store.find_leads("  Maria.Garcia@ACME.io ", ReportScope())
    assert (found.name, found.owner, found.state) == ("Maria Garcia", ANA, "won")
    assert [t.action for t in found.transitions] == ["created", "routed", "claimed"]
    assert found.transitions[1].detail == {"channel": EMEA}
    assert found.transitions[2].at == datetime(2026, 3, 2, 10, 2, tzinfo=UTC)
    by_name = await store.find_leads("maria garcia", ReportScope())
    assert [f.email for f in by_name] == ["maria.garcia@acme.io"]
    assert [f.email for f in await store.find_leads("GLOBEX", ReportScope())] == [
        "john.smith@globex.com"
    ]
    assert await store.find_leads("nobody-here", ReportScope()) == []
    assert await store.find_leads("100%", ReportScope()) == []  # LIKE wildcards are literal
    assert await store.find_leads("garcia", ReportScope(rep=BOB)) == []


async def test_returns_list_counts_every_return(store: ReportStore) -> None:
    returns = await store.list_returns(PERIOD, ReportScope())
    assert [(r.returned_by, r.reason, r.note, r.at) for r in returns] == [
        (ANA, "budget", "Q3 budget", at(8, 10)),
        (BOB, "timing", "call in May", at(6, 12)),
    ]
    assert {(r.email, r.source, r.campaign, r.channel) for r in returns} == {
        ("twice@stark.com", "webinar", "spring-webinar", EMEA)
    }
    assert [r.returned_by for r in await store.list_returns(PERIOD, ReportScope(rep=BOB))] == [BOB]
    assert await store.list_returns(PERIOD, ReportScope(channel=US)) == []


async def test_export_rows(store: ReportStore) -> None:
    rows = await store.list_export_rows(PERIOD, ReportScope())
    assert [r.email.split("@")[0] for r in rows] == [
        "student",  # L9, 03-01 00:00
        "maria.garcia",
        "john.smith",
        "li.wei",
        "-rm",
        "nurture",
        "twice",
        "late",
    ]
    assert rows[1].created_at == at(2, 9)
    assert rows[1].claimed_by == ANA


async def test_is_rep(store: ReportStore) -> None:
    assert await store.is_rep(BOB)  # holds a claimed lead
    assert await store.is_rep(CAROL)  # listed in reps
    assert not await store.is_rep("U0NOBODY")


async def test_a_lead_without_source_has_its_own_times_apart_from_the_total(
    store: ReportStore,
) -> None:
    # A NULL key is a group of its own in every breakdown, never folded into the total.
    await Lead.create(
        email="nosource@example.com",
        created_at=at(5, 9),
        updated_at=at(5, 9),
        state="contacted",
        hot_at=at(5, 9),
        routed_at=at(5, 9),
        route_channel=EMEA,
        claimed_by=BOB,
        claimed_at=at(5, 9, 20),
        contacted_at=at(5, 10),
    )
    report = await store.get_report(PERIOD, ReportScope())
    by_source = {r.key: r.metrics for r in report.by_source}
    assert by_source[None] == ReportMetrics(
        leads_in=1,
        hot=1,
        routed=1,
        claimed=1,
        contacted=1,
        median_time_to_claim=20 * MIN,
        p90_time_to_claim=20 * MIN,
        median_time_to_first_touch=60 * MIN,
    )
    # Claims at 2, 4, 10 and 20 min; first touches at 30, 60 and 60 min.
    assert report.total.median_time_to_claim == 7 * MIN
    assert report.total.p90_time_to_claim == timedelta(seconds=1020)  # 10 + 0.7 * 10 min
    assert report.total.median_time_to_first_touch == 60 * MIN
