"""The funnel against the hand-checked fixture in tests/reports/funnel_dataset.py, on both DBs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.funnel import FunnelMetrics
from bot.domain.report_query import Period, ReportScope
from bot.storage.reports import ReportStore
from tests.reports.funnel_dataset import ANA, EMEA, MIN, US, at, insert_funnel_dataset

PERIOD = Period(at(1, 0), at(10, 0), "2026-03-01..2026-03-09")


@pytest.fixture
async def store(db: str) -> ReportStore:
    await insert_funnel_dataset()
    return ReportStore()


async def test_funnel_totals(store: ReportStore) -> None:
    funnel = await store.get_funnel(PERIOD, ReportScope())
    assert funnel.total == FunnelMetrics(
        new=9,  # F1-F8 and F11 (in at the first instant); F9 February, F10 at the end instant
        hot=6,  # F1 F2 F3 F4 F5 F8
        claimed=5,  # F1 F2 F3 F5 F8
        contacted=4,  # F1 F2 F8, and F3: won from "claimed", so it was contacted
        won=2,  # F1 F3
        returned=2,  # F3 (then won) and F4
        disqualified=1,  # F5
        lost=1,  # F8
        median_new_to_hot=15 * MIN,  # 1 5 10 20 30 40 -> (10 + 20) / 2
        median_hot_to_claimed=30 * MIN,  # 10 20 30 30 60 (F3 from its first hot, first claim)
        median_claimed_to_contacted=60 * MIN,  # 10 60 120 (F2 from its first claim)
        median_contacted_to_won=timedelta(days=2),  # F1 only: F3 has no recorded contact
    )
    steps = funnel.total.steps
    assert [(s.from_stage, s.to_stage, s.reached_from, s.reached_to) for s in steps] == [
        ("new", "hot", 9, 6),
        ("hot", "claimed", 6, 5),
        ("claimed", "contacted", 5, 4),
        ("contacted", "won", 4, 2),
    ]
    assert [round(s.conversion or 0, 3) for s in steps] == [0.667, 0.833, 0.8, 0.5]
    assert funnel.total.overall_conversion == pytest.approx(2 / 9)


async def test_funnel_per_source_and_channel(store: ReportStore) -> None:
    funnel = await store.get_funnel(PERIOD, ReportScope())
    by_source = {r.key: r.metrics for r in funnel.by_source}
    assert by_source["web"] == FunnelMetrics(
        new=4,  # F1 F2 F3 F7
        hot=3,
        claimed=3,
        contacted=3,
        won=2,
        returned=1,
        median_new_to_hot=20 * MIN,  # 10 20 30
        median_hot_to_claimed=30 * MIN,  # 30 10 60
        median_claimed_to_contacted=90 * MIN,  # 60 120
        median_contacted_to_won=timedelta(days=2),
    )
    assert by_source["webinar"] == FunnelMetrics(
        new=4,  # F4 F5 F6 F11
        hot=2,
        claimed=1,
        returned=1,
        disqualified=1,
        median_new_to_hot=timedelta(minutes=22, seconds=30),  # 5 40
        median_hot_to_claimed=20 * MIN,
    )
    assert by_source[None] == FunnelMetrics(
        new=1,
        hot=1,
        claimed=1,
        contacted=1,
        lost=1,
        median_new_to_hot=MIN,
        median_hot_to_claimed=30 * MIN,
        median_claimed_to_contacted=10 * MIN,
    )
    # Biggest cohort first; ties by wins, then name.
    assert [r.key for r in funnel.by_source] == ["web", "webinar", None]

    by_channel = {r.key: r.metrics for r in funnel.by_channel}
    assert by_channel[EMEA] == FunnelMetrics(
        new=3,  # F1 F2 F8
        hot=3,
        claimed=3,
        contacted=3,
        won=1,
        lost=1,
        median_new_to_hot=10 * MIN,  # 10 20 1
        median_hot_to_claimed=30 * MIN,  # 30 10 30
        median_claimed_to_contacted=60 * MIN,  # 60 120 10
        median_contacted_to_won=timedelta(days=2),
    )
    assert by_channel[US] == FunnelMetrics(
        new=3,  # F3 F4 F5
        hot=3,
        claimed=2,
        contacted=1,
        won=1,
        returned=2,
        disqualified=1,
        median_new_to_hot=30 * MIN,  # 30 5 40
        median_hot_to_claimed=40 * MIN,  # 60 20
    )
    assert by_channel[None] == FunnelMetrics(new=3)  # F6 F7 F11


async def test_funnel_scoped_to_a_rep_or_channel(store: ReportStore) -> None:
    ana = (await store.get_funnel(PERIOD, ReportScope(rep=ANA))).total
    # ANA holds F1 F5 F8 now (F2 went to BOB, F3 was won by BOB).
    assert (ana.new, ana.hot, ana.claimed, ana.contacted, ana.won) == (3, 3, 3, 2, 1)
    assert (ana.disqualified, ana.lost, ana.returned) == (1, 1, 0)
    us = (await store.get_funnel(PERIOD, ReportScope(channel=US))).total
    assert (us.new, us.hot, us.claimed, us.contacted, us.won) == (3, 3, 2, 1, 1)


async def test_empty_funnel(store: ReportStore) -> None:
    empty = Period(at(1, 0, month=1), at(2, 0, month=1), "2026-01-01")
    funnel = await store.get_funnel(empty, ReportScope())
    assert funnel.total == FunnelMetrics()
    assert all(step.conversion is None for step in funnel.total.steps)
    assert funnel.by_source == () and funnel.by_channel == ()
