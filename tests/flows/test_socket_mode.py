"""Socket Mode: with SLACK_APP_TOKEN the app connects out to Slack and clicks arrive that way."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from bot.storage.models import Lead
from tests.fakes import FakeSlackApi, run_fake_slack
from tests.flows.conftest import StartApp
from tests.flows.slack_support import block_action
from tests.flows.test_handoff import ingest_hot_lead, slack_config, start_slack_app
from tests.support import LiveClock, wait_until


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


@pytest.fixture
async def socket_slack() -> AsyncIterator[FakeSlackApi]:
    async with run_fake_slack(tokens=frozenset({"xoxb-test", "xapp-test"})) as fake:
        yield fake
        assert not fake.invalid_payloads


async def test_claim_arrives_over_socket_mode(
    start_app: StartApp, socket_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(
        start_app, socket_slack, slack_config(), slack_app_token="xapp-test"
    )
    opened = await socket_slack.wait_for("apps.connections.open")
    assert opened[0].headers["Authorization"] == "Bearer xapp-test"
    lead = await ingest_hot_lead(client, clock, socket_slack)

    payload = json.loads(block_action("lead_claim", "U0ANA", value=str(lead.id))["payload"])
    envelope = await socket_slack.send_envelope("interactive", payload)
    ack = await socket_slack.wait_for_ack(envelope)
    assert ack["envelope_id"] == envelope
    claimed = await wait_until(lambda: Lead.get_or_none(id=lead.id, claimed_by="U0ANA"))
    assert claimed.state == "claimed"
    await wait_until(lambda: _dm_sent(socket_slack), what="claim DM")


async def _dm_sent(fake: FakeSlackApi) -> bool:
    return bool(fake.posted("U0ANA"))


async def test_reconnects_when_slack_drops_the_socket(
    start_app: StartApp, socket_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(
        start_app, socket_slack, slack_config(), slack_app_token="xapp-test"
    )
    await socket_slack.wait_for("apps.connections.open")
    lead = await ingest_hot_lead(client, clock, socket_slack)
    await socket_slack.sockets[-1].close()  # Slack restarts a socket server, say
    await socket_slack.wait_for("apps.connections.open", count=2, timeout=20)
    payload = json.loads(block_action("lead_claim", "U0BEN", value=str(lead.id))["payload"])
    envelope = await socket_slack.send_envelope("interactive", payload, within=10)
    await socket_slack.wait_for_ack(envelope)
    await wait_until(lambda: Lead.get_or_none(id=lead.id, claimed_by="U0BEN"))
