"""When the database is unreachable, senders are told to retry (503) and nothing is claimed."""

from __future__ import annotations

import asyncpg
import pytest

from tests.conftest import PG_ADMIN_URL
from tests.flows.conftest import StartApp
from tests.flows.test_webhooks import LEAD
from tests.support import FakeClock, post_signed, wait_until


async def _cut_off(database_url: str) -> str:
    name = database_url.rpartition("/")[2]
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name
        )

        async def all_gone() -> bool:
            # Termination is asynchronous: wait until no session of the app is left.
            left = await admin.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", name
            )
            return int(left) == 0

        await wait_until(all_gone, what="the app's database sessions to end")
    finally:
        await admin.close()
    return name


async def _restore(name: str) -> None:
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    finally:
        await admin.close()


async def test_database_down_answers_503_and_health_says_why(
    start_app: StartApp, database_url: str, clock: FakeClock
) -> None:
    if not database_url.startswith("postgres"):
        pytest.skip("an embedded SQLite file cannot go away like a database server")
    client = await start_app()
    name = await _cut_off(database_url)
    try:
        status, body = await post_signed(client, "/webhooks/leads", LEAD, clock=clock)
        assert status == 503, body
        assert body["error"] == "database unavailable, retry later"
        health = await client.get("/healthz")
        assert health.status == 503
        assert (await health.json())["status"] == "unhealthy"
    finally:
        await _restore(name)
    status, body = await post_signed(client, "/webhooks/leads", LEAD, clock=clock)
    assert status == 202, body
