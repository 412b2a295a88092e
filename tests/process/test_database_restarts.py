"""PostgreSQL restarted twice while leads flow in: the bot recovers by itself, 0 lost.

The cluster is the test's own (initdb into a temp dir, a free port), never the shared server.
One restart is clean (``fast``), the other a crash (``immediate``). The sender retries until
the bot answers 2xx, as webhook senders do; nothing is restarted on the bot's side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import IN_CI
from tests.fakes import FakeSlackApi
from tests.process.pg_cluster import PgCluster, find_pg_bin
from tests.process.support import (
    ServeProcess,
    lead_payload,
    loss_report,
    send_until_accepted,
    show_figures,
    wait_for,
    wait_until_settled,
    write_config,
)

LEADS = 90
RESTART_AFTER_ACCEPTED = ((30, "fast"), (60, "immediate"))
OUTAGE_SECONDS = 2.0  # how long the database stays down: the outage itself, not a wait
SENDERS = 4


@pytest.fixture
async def cluster() -> AsyncIterator[PgCluster]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        if IN_CI:
            pytest.fail("initdb not found: CI must run the PostgreSQL restart test")
        pytest.skip("initdb not found (PostgreSQL server binaries not installed)")
    pg = PgCluster(bin_dir)
    try:
        await pg.init()
        await pg.start()
        yield pg
    finally:
        await pg.destroy()


async def test_postgres_restarted_twice_mid_flow_loses_no_lead(
    cluster: PgCluster, fake_slack: FakeSlackApi, tmp_path: Path
) -> None:
    database_url = await cluster.create_database("handoff")
    bot = ServeProcess(
        "bot",
        tmp_path,
        database_url=database_url,
        config_path=write_config(tmp_path / "handoff.yml"),
        fake=fake_slack,
        slack_timeout=2.0,
    )
    accepted = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(LEADS):
        queue.put_nowait(n)

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while not queue.empty():
            payload = lead_payload(queue.get_nowait())
            await send_until_accepted(session, lambda: [bot.url], "/webhooks/leads", payload)
            accepted += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        await bot.start()
        await bot.wait_healthy(session)
        senders = [asyncio.create_task(sender(session)) for _ in range(SENDERS)]
        try:
            for threshold, mode in RESTART_AFTER_ACCEPTED:
                await wait_for(
                    lambda t=threshold: _at_least(accepted, t), 60, f"{threshold} accepted", 0.01
                )
                await cluster.stop(mode)
                await asyncio.sleep(OUTAGE_SECONDS)
                await cluster.start()
            await asyncio.gather(*senders)
            await wait_until_settled(database_url, fake_slack, LEADS)  # figures below say more
            await bot.wait_healthy(session, within=5)  # recovered without a restart
            bot.assert_running()
        finally:
            for task in senders:
                task.cancel()
            await bot.stop()

    report = await loss_report(
        database_url, fake_slack, {str(lead_payload(n)["email"]) for n in range(LEADS)}
    )
    show_figures(
        f"\n{LEADS} leads, PostgreSQL restarted {len(RESTART_AFTER_ACCEPTED)} times: "
        + report.line()
    )
    assert report.lost == [], f"leads without a card: {report.lost[:10]}"
    assert report.duplicates == 0
    assert report.pending == 0 and report.unprocessed == 0
    assert report.nothing_stuck, report.line()


async def _at_least(value: int, threshold: int) -> bool:
    return value >= threshold
