"""Benchmark `/leads report 30d` on PostgreSQL: fill a throwaway database, time the aggregates.

Usage: .venv/bin/python bench/bench_reports.py [--leads 1000000] [--runs 5]
The admin URL comes from HANDOFF_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/postgres);
the benchmark database is created under a random name and always dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bot.domain.report_query import Period, ReportScope
from bot.storage.database import open_database
from bot.storage.reports import ReportStore

ADMIN_URL = os.environ.get("HANDOFF_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


# Leads spread over the last year; ~30 % turn hot and are routed, most get claimed and touched.
FILL_LEADS = """
INSERT INTO leads (id, email, first_name, last_name, source, campaign, utm, custom, state,
    score, grade, score_reasons, created_at, updated_at, hot_at, cycle, routed_at,
    route_channel, claimed_by, claimed_at, contacted_at, closed_at)
SELECT i, 'lead' || i || '@example.com', 'First' || (i % 1000), 'Last' || (i % 5000),
    (ARRAY['web','webinar','ads','event','referral','partner'])[1 + i % 6],
    'campaign-' || (i % 40), '{}', '{}',
    CASE WHEN NOT hot THEN 'nurturing' WHEN NOT claimed THEN 'routed'
         WHEN NOT contacted THEN 'claimed' WHEN r4 < 0.3 THEN 'won' WHEN r4 < 0.6 THEN 'lost'
         WHEN r4 < 0.7 THEN 'disqualified' ELSE 'contacted' END,
    (r1 * 100)::int, (ARRAY['A','B','C','D'])[1 + (i % 4)], '[]', created, created,
    CASE WHEN hot THEN created + interval '5 min' END, CASE WHEN hot THEN 1 ELSE 0 END,
    CASE WHEN hot THEN created + interval '6 min' END,
    CASE WHEN hot THEN 'C0CHAN' || (i % 8) END,
    CASE WHEN claimed THEN 'U0REP' || (i % 30) END,
    CASE WHEN claimed THEN created + interval '6 min' + r2 * interval '1 hour' END,
    CASE WHEN contacted THEN created + interval '2 hours' + r3 * interval '4 hours' END,
    CASE WHEN contacted AND r4 < 0.7 THEN created + r4 * interval '20 days' END
FROM (
    SELECT i, r1, r2, r3, r4, created, hot, hot AND r2 < 0.85 AS claimed,
        hot AND r2 < 0.85 AND r3 < 0.8 AS contacted
    FROM (
        SELECT i, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
            $1::timestamptz - random() * interval '365 days' AS created, random() < 0.3 AS hot
        FROM generate_series(1, $2::bigint) AS i
    ) raw
) AS g
"""
FILL_TRANSITIONS = """
INSERT INTO transitions (lead_id, actor, action, from_state, to_state, detail, at)
SELECT id, claimed_by, 'returned', 'claimed', 'nurturing',
    jsonb_build_object('reason', (ARRAY['timing','budget','no_authority','wrong_fit','other'])
        [1 + id % 5], 'note', 'bench'),
    claimed_at + interval '1 day'
FROM leads WHERE claimed_by IS NOT NULL AND id % 10 = 0
"""
FILL_NUDGES = """
INSERT INTO nudges (lead_id, kind, cycle, status, target, created_at)
SELECT id, 'escalate_unclaimed', 1, 'sent', route_channel, routed_at + interval '30 min'
FROM leads WHERE routed_at IS NOT NULL AND id % 7 = 0
"""


async def _median_seconds(action: Callable[[], Awaitable[Any]], runs: int) -> float:
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        await action()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


async def run(leads: int, runs: int) -> None:
    name = f"handoff_bench_{uuid.uuid4().hex[:10]}"
    base = ADMIN_URL.rpartition("/")[0]
    url = f"{base}/{name}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    try:
        now = datetime.now(UTC)
        async with open_database(url):
            conn = await asyncpg.connect(url)
            try:
                started = time.perf_counter()
                await conn.execute(FILL_LEADS, now, leads)
                await conn.execute(FILL_TRANSITIONS)
                await conn.execute(FILL_NUDGES)
                await conn.execute("VACUUM ANALYZE")
                print(f"filled {leads:,} leads in {time.perf_counter() - started:.1f} s")
            finally:
                await conn.close()
            store = ReportStore()
            period = Period(now - timedelta(days=30), now, "30d")
            scope = ReportScope()
            await store.get_report(period, scope)  # warm the cache once
            report = await store.get_report(period, scope)
            print(f"report 30d: {report.total}")
            timed: dict[str, Callable[[], Awaitable[Any]]] = {
                "report 30d": lambda: store.get_report(period, scope),
                "report 30d @rep": lambda: store.get_report(period, ReportScope(rep="U0REP3")),
                "daily series 30d": lambda: store.list_daily_series(period, scope),
                "leaderboard 30d": lambda: store.list_leaderboard(period, scope),
                "stale": lambda: store.list_stale(now, scope),
            }
            for label, action in timed.items():
                seconds = await _median_seconds(action, runs)
                print(f"{label}: median {seconds:.3f} s over {runs} runs")
    finally:
        admin = await asyncpg.connect(ADMIN_URL)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(run(args.leads, args.runs))


if __name__ == "__main__":
    main()
