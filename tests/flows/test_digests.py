"""Weekly digests reach the managers' and marketing channels once per week, whoever asks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.config import HandoffConfig
from bot.server import RUNTIME
from bot.storage.database import open_database
from bot.storage.models import OutboxItem
from tests.conftest import make_config
from tests.fakes import FakeSlackApi
from tests.flows.conftest import StartApp
from tests.flows.slack_support import message_text
from tests.flows.test_handoff import start_slack_app
from tests.reports.dataset import NOW, insert_dataset
from tests.support import LiveClock, wait_until


@pytest.fixture
def clock() -> LiveClock:
    live = LiveClock()
    live.offset = NOW - datetime.now(UTC)  # the digest covers [03-03 12:00, 03-10 12:00)
    return live


@pytest.fixture
def digest_config() -> HandoffConfig:
    return make_config(
        marketing={"channel": "C0MKT"},
        managers=["U0BOSS"],
        # Due exactly at the dataset's "now": the scheduler's first run at start-up sends it.
        reports={"managers_channel": "C0MGRS", "digest_day": "tue", "digest_time": "12:00"},
    )


async def test_weekly_digests_go_out_once(
    start_app: StartApp,
    fake_slack: FakeSlackApi,
    clock: LiveClock,
    digest_config: HandoffConfig,
    database_url: str,
) -> None:
    async with open_database(database_url):
        await insert_dataset()
    client = await start_slack_app(start_app, fake_slack, digest_config)
    digests = client.app[RUNTIME].digests
    assert digests is not None

    managers = await wait_until(lambda: _posted(fake_slack, "C0MGRS"), what="managers digest")
    text = message_text(managers)
    # Same hand-computed figures as /leads report 7d (see test_leads_command.py).
    assert "*Leads in* 6" in text and "*claimed* 2" in text and "*SLA breaches* 3" in text
    await fake_slack.wait_for("files.completeUploadExternal")
    [chart] = [f for f in fake_slack.files.values() if f.filename.endswith(".png")]
    assert chart.content.startswith(b"\x89PNG")

    returns = await wait_until(lambda: _posted(fake_slack, "C0MKT"), what="returns digest")
    text = message_text(returns)
    # l6 was returned twice in the week: timing (BOB) and budget (ANA); source webinar,
    # campaign spring-webinar.
    assert "Returned leads this week · 2" in text
    assert "Bad timing (1)" in text and "No budget (1)" in text
    assert "webinar (2)" in text and "spring-webinar (2)" in text
    # Other replicas, or this one after a restart, find the week's digests already queued.
    counts = await asyncio.gather(digests.queue_if_due(), digests.queue_if_due())
    assert counts == [0, 0]
    assert len(fake_slack.posted("C0MGRS")) == 1 and len(fake_slack.posted("C0MKT")) == 1


async def _posted(fake: FakeSlackApi, channel: str) -> dict[str, Any] | None:
    messages = fake.posted(channel)
    return messages[0] if messages else None


async def test_digest_waits_for_its_time(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock, database_url: str
) -> None:
    async with open_database(database_url):
        await insert_dataset()
    config = make_config(
        marketing={"channel": "C0MKT"},
        reports={"managers_channel": "C0MGRS", "digest_day": "fri", "digest_time": "17:00"},
    )
    client = await start_slack_app(start_app, fake_slack, config)
    digests = client.app[RUNTIME].digests
    assert digests is not None
    assert await digests.queue_if_due() == 0  # Tuesday: this week's Friday 17:00 is ahead
    clock.advance(timedelta(days=3, hours=5))  # Friday 17:00 UTC
    # This call and the scheduler's own run may race; together they queue each digest once.
    await digests.queue_if_due()
    await wait_until(lambda: _posted(fake_slack, "C0MKT"), what="returns digest on Friday")
    await wait_until(lambda: _posted(fake_slack, "C0MGRS"), what="managers digest on Friday")
    keys = await OutboxItem.filter(dedupe_key__startswith="digest:").values_list(
        "dedupe_key", flat=True
    )
    assert sorted(keys) == [
        "digest:managers-chart:2026-W11",
        "digest:managers:2026-W11",
        "digest:returns:2026-W11",
    ]


async def test_an_empty_week_sends_no_digest(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock, digest_config: HandoffConfig
) -> None:
    client = await start_slack_app(start_app, fake_slack, digest_config)  # no data at all
    digests = client.app[RUNTIME].digests
    assert digests is not None
    assert await digests.queue_if_due() == 0
    assert await OutboxItem.filter(dedupe_key__startswith="digest:").count() == 0
