"""Two `handoff serve` processes on one PostgreSQL: every nudge reaches Slack exactly once.

The replicas are real OS processes started with the `handoff` command, each with its own
scheduler, sharing one database and one (fake) Slack on loopback.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from bot.storage.database import migrate_database, open_database
from bot.storage.models import Lead, Nudge
from tests.fakes import FakeSlackApi
from tests.flows.slack_support import SIGNING_SECRET
from tests.support import WEBHOOK_SECRET, free_port

ROOT = Path(__file__).resolve().parents[2]
LEADS = 12


@pytest.fixture
async def postgres_url(database_url: str) -> AsyncIterator[str]:
    if not database_url.startswith("postgres"):
        pytest.skip("replicas share a database server; SQLite is one process's file")
    yield database_url


async def _seed(database_url: str) -> list[int]:
    await migrate_database(database_url)
    ids = []
    routed = datetime.now(UTC) - timedelta(minutes=5)  # overdue for nudge and escalation
    async with open_database(database_url, run_migrations=False):
        for n in range(LEADS):
            lead = await Lead.create(
                email=f"lead{n}@acme.io",
                first_name=f"Lead{n}",
                state="routed",
                score=70,
                grade="A",
                created_at=routed,
                updated_at=routed,
                routed_at=routed,
                route_channel="C0SALES",
                card_channel="C0SALES",
                card_ts=f"1700000000.{n:06d}",
                cycle=1,
            )
            ids.append(lead.id)
    return ids


async def test_two_serve_processes_send_each_nudge_once(
    postgres_url: str, fake_slack: FakeSlackApi, tmp_path: Path
) -> None:
    ids = await _seed(postgres_url)
    config = {
        "hot_threshold": 60,
        "routing": {"default_channel": "C0SALES"},
        "managers": ["U0BOSS"],
        "business_hours": {"always_open": True},
        "sweep_every": "1s",
        "sla": {"nudge_unclaimed_after": "1m", "escalate_unclaimed_after": "2m"},
        "reports": {"returns_digest": False},
    }
    config_path = tmp_path / "handoff.yml"
    config_path.write_text(yaml.safe_dump(config))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": postgres_url,
        "HANDOFF_CONFIG": str(config_path),
        "HANDOFF_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.base_url,
        "HOST": "127.0.0.1",
    }
    logs = [tmp_path / f"replica{n}.log" for n in range(2)]
    replicas = []
    for log in logs:
        with log.open("wb") as out:
            replicas.append(
                await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "bot.cli",
                    "serve",
                    cwd=ROOT,
                    env={**env, "PORT": str(free_port())},
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=out,
                )
            )
    try:
        threads = await fake_slack.wait_for("chat.postMessage", count=2 * LEADS, timeout=60)
        # Proving that nothing more comes needs time to pass: both replicas sweep every second,
        # so three seconds give each of them several more chances to send a duplicate.
        await asyncio.sleep(3)
        for replica, log in zip(replicas, logs, strict=True):
            assert replica.returncode is None, log.read_text()
    finally:
        for replica in replicas:
            if replica.returncode is None:
                replica.terminate()
        for replica in replicas:
            await asyncio.wait_for(replica.wait(), 15)
    posts = fake_slack.calls_to("chat.postMessage")
    assert len(posts) == 2 * LEADS
    per_card = Counter(call.args["thread_ts"] for call in threads)
    assert set(per_card.values()) == {2}  # a nudge and an escalation in each card's thread
    async with open_database(postgres_url, run_migrations=False):
        kinds = Counter(await Nudge.all().values_list("lead_id", "kind"))
    assert kinds == {
        (lead_id, kind): 1 for lead_id in ids for kind in ("nudge_unclaimed", "escalate_unclaimed")
    }
