"""SLA nudges over real HTTP: the scheduler inside the app, SLAs of seconds, the fake Slack."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.config import HandoffConfig
from bot.outbox import RetryPolicy
from bot.server import build_app
from bot.storage.models import Lead, Nudge, OutboxItem, Rep
from tests.conftest import make_config
from tests.fakes import FakeSlackApi
from tests.flows.conftest import AppClient, make_settings
from tests.flows.slack_support import SIGNING_SECRET, block_action, event_callback, message_text
from tests.flows.slack_support import send_to_slack_endpoint as send_form
from tests.flows.test_handoff import click, ingest_hot_lead
from tests.support import LiveClock, wait_until

SECOND_SLAS = {
    "nudge_unclaimed_after": "1s",
    "escalate_unclaimed_after": "2s",
    "nudge_uncontacted_after": "1s",
    "escalate_uncontacted_after": "2s",
    "mention": "S0REPS",
}
SLOW_SLAS = {
    "nudge_unclaimed_after": "1h",
    "escalate_unclaimed_after": "2h",
    "nudge_uncontacted_after": "2s",
    "escalate_uncontacted_after": "4s",
}

StartNudgingApp = Callable[[HandoffConfig], Awaitable[AppClient]]


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


@pytest.fixture
def start_nudging_app(
    database_url: str, aiohttp_client: Any, clock: LiveClock, fake_slack: FakeSlackApi
) -> StartNudgingApp:
    """The whole app with Slack on, sweeping every 50 ms."""

    async def start(config: HandoffConfig) -> AppClient:
        settings = make_settings(
            database_url,
            slack_bot_token="xoxb-test",
            slack_signing_secret=SIGNING_SECRET,
            slack_api_url=fake_slack.base_url,
        )
        app = build_app(
            settings,
            config,
            clock,
            poll_seconds=0.05,
            retry=RetryPolicy(base_seconds=0.05, max_seconds=0.5),
            sweep_seconds=0.05,
        )
        client: AppClient = await aiohttp_client(app)
        return client

    return start


def nudge_config(sla: dict[str, Any]) -> HandoffConfig:
    return make_config(
        hot_threshold=30,
        marketing={"channel": "C0MKT"},
        managers=["U0BOSS"],
        sla=sla,
        business_hours={"always_open": True},
    )


def posts(fake: FakeSlackApi) -> list[dict[str, Any]]:
    """Successful chat.postMessage calls, in the order Slack received them."""
    return [call.args for call in fake.calls_to("chat.postMessage") if call.ok]


async def posts_matching(
    fake: FakeSlackApi, predicate: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    return [args for args in posts(fake) if predicate(args)]


async def all_sent() -> bool:
    return not await OutboxItem.filter(status="pending").exists()


async def send_event(client: AppClient, event: dict[str, Any], event_id: str) -> int:
    """An Events API callback as Slack sends it: a signed JSON body."""
    body = json.dumps(event_callback(event, event_id))
    ts = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
    response = await client.post(
        "/slack/events",
        data=body.encode(),
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        },
    )
    return response.status


async def test_nudge_escalation_and_reminder_arrive_in_order_exactly_once(
    start_nudging_app: StartNudgingApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_nudging_app(nudge_config(SECOND_SLAS))
    lead = await ingest_hot_lead(client, clock, fake_slack)
    card_ts = lead.card_ts

    def in_thread(args: dict[str, Any]) -> bool:
        return args.get("thread_ts") == card_ts

    clock.advance(timedelta(seconds=1))
    [nudge] = await wait_until(
        lambda: posts_matching(fake_slack, in_thread), what="the unclaimed nudge"
    )
    assert nudge["channel"] == "C0DEFAULT" and "<!subteam^S0REPS>" in message_text(nudge)
    clock.advance(timedelta(seconds=1))
    await wait_until(
        lambda: _at_least(posts_matching(fake_slack, in_thread), 2), what="the escalation"
    )
    escalation = (await posts_matching(fake_slack, in_thread))[1]
    assert "<@U0BOSS>" in message_text(escalation)

    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200
    await wait_until(lambda: posts_matching(fake_slack, _to("U0ANA")), what="the claim DM")
    clock.advance(timedelta(seconds=1))
    await wait_until(
        lambda: _at_least(posts_matching(fake_slack, _to("U0ANA")), 2), what="the reminder DM"
    )
    reminder = (await posts_matching(fake_slack, _to("U0ANA")))[1]
    assert "lead_contacted" in message_text(reminder) and "lead_release" in message_text(reminder)
    clock.advance(timedelta(seconds=1))
    [boss] = await wait_until(
        lambda: posts_matching(fake_slack, _to("U0BOSS")), what="the manager told"
    )
    assert "<@U0ANA>" in message_text(boss)

    # Many more sweeps run while the outbox drains; nothing is sent twice.
    await wait_until(all_sent, what="the outbox drained")
    runs_before = await Nudge.all().count()
    clock.advance(timedelta(seconds=5))
    await wait_until(all_sent, what="the outbox drained again")
    assert await Nudge.all().count() == runs_before == 4
    order = [
        "card" if a["channel"] == "C0DEFAULT" and not in_thread(a) else a["channel"]
        for a in posts(fake_slack)
    ]
    assert order == ["card", "C0DEFAULT", "C0DEFAULT", "U0ANA", "U0ANA", "U0BOSS"]


async def test_a_paused_rep_gets_no_reminder_and_the_manager_hears_sooner(
    start_nudging_app: StartNudgingApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_nudging_app(nudge_config(SLOW_SLAS))
    status, _ = await send_form(client, block_action("rep_pause", "U0ANA", value="pause"))
    assert status == 200
    await fake_slack.wait_for("views.publish")
    home = json.dumps(fake_slack.home_views["U0ANA"])
    assert "rep_resume" in home and "paused until" in home
    rep = await Rep.get(user_id="U0ANA")
    assert rep.paused_until is not None and rep.paused_until > clock()

    lead = await ingest_hot_lead(client, clock, fake_slack)
    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200
    await wait_until(lambda: posts_matching(fake_slack, _to("U0ANA")), what="the claim DM")
    clock.advance(timedelta(seconds=2))  # the escalation (4 s) is halved for a paused claimer
    await wait_until(lambda: posts_matching(fake_slack, _to("U0BOSS")), what="the manager told")
    assert len(await posts_matching(fake_slack, _to("U0ANA"))) == 1  # only the claim DM
    statuses = await Nudge.filter(lead_id=lead.id).order_by("id").values_list("status", flat=True)
    assert statuses == ["skipped", "sent"]

    status, _ = await send_form(client, block_action("rep_resume", "U0ANA", value="resume"))
    assert status == 200
    await wait_until(
        lambda: _value("rep_pause" in json.dumps(fake_slack.home_views["U0ANA"])),
        what="Home tab shows the pause switch again",
    )
    assert (await Rep.get(user_id="U0ANA")).paused_until is None


async def test_a_deactivated_rep_s_leads_go_back_to_the_channel_once(
    start_nudging_app: StartNudgingApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    slow = SLOW_SLAS | {"nudge_uncontacted_after": "1h", "escalate_uncontacted_after": "2h"}
    client = await start_nudging_app(nudge_config(slow))
    lead = await ingest_hot_lead(client, clock, fake_slack)
    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200
    await wait_until(lambda: Lead.get_or_none(id=lead.id, claimed_by="U0ANA"))

    event = {"type": "user_change", "user": {"id": "U0ANA", "deleted": True}}
    assert await send_event(client, event, "Ev0DEACTIVATE") == 200
    assert await send_event(client, event, "Ev0DEACTIVATE") == 200  # Slack's redelivery
    await wait_until(lambda: Lead.get_or_none(id=lead.id, state="routed", claimed_by=None))
    notes = await wait_until(
        lambda: posts_matching(fake_slack, lambda a: a.get("thread_ts") == lead.card_ts),
        what="the note in the card's thread",
    )
    assert "deactivated" in message_text(notes[0])
    await wait_until(
        lambda: _value("lead_claim" in message_text(fake_slack.posted("C0DEFAULT")[0])),
        what="the card open for claims again",
    )
    await wait_until(all_sent, what="the outbox drained")
    assert len(await posts_matching(fake_slack, lambda a: a.get("thread_ts") == lead.card_ts)) == 1
    assert (await Rep.get(user_id="U0ANA")).deactivated


def _to(channel: str) -> Callable[[dict[str, Any]], bool]:
    return lambda args: args.get("channel") == channel


async def _at_least(items: Awaitable[list[Any]], count: int) -> bool:
    return len(await items) >= count


async def _value(value: bool) -> bool:
    return value
