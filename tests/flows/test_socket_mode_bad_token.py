"""A bad SLACK_APP_TOKEN is logged and retried; webhooks are accepted meanwhile."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from tests.fakes import FakeSlackApi, run_fake_slack
from tests.flows.conftest import StartApp
from tests.flows.test_handoff import HOT_LEAD, slack_config, start_slack_app
from tests.support import LiveClock, post_signed


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


@pytest.fixture
async def strict_slack() -> AsyncIterator[FakeSlackApi]:
    async with run_fake_slack(tokens=frozenset({"xoxb-test"})) as fake:  # no app token valid
        yield fake


async def test_bad_app_token_is_logged_and_retried_while_webhooks_work(
    start_app: StartApp,
    strict_slack: FakeSlackApi,
    clock: LiveClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.ERROR, logger="bot.server"):
        client = await start_slack_app(
            start_app, strict_slack, slack_config(), slack_app_token="xapp-revoked"
        )
        status, body = await post_signed(client, "/webhooks/leads", HOT_LEAD, clock=clock)
        assert status == 202, body
        assert (await client.get("/healthz")).status == 200
        attempts = await strict_slack.wait_for("apps.connections.open", count=2, timeout=10)
    assert all(not call.ok for call in attempts)
    logged = [r.getMessage() for r in caplog.records if "SLACK_APP_TOKEN" in r.getMessage()]
    assert logged and "invalid_auth" in logged[0]
