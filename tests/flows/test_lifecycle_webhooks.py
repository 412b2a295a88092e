"""Lifecycle events reach their subscribers once, signed with each subscription's own secret;
an endpoint failing for an hour is reported to managers once and resumes by itself."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.config import HandoffConfig
from bot.domain.lifecycle_events import EVENT_TYPES
from bot.outbox import RetryPolicy
from bot.server import build_app
from bot.signatures import check_signature
from bot.storage.models import OutboxItem
from tests.conftest import make_config
from tests.fakes import FakeSlackApi
from tests.flows.conftest import StartApp, WebhookReceiver, make_settings
from tests.flows.slack_support import SIGNING_SECRET, message_text
from tests.flows.test_handoff import click, ingest_hot_lead, start_slack_app
from tests.support import WEBHOOK_SECRET, LiveClock, wait_until

SECRET = "nurture-secret-1"
SCHEMA = Path(__file__).resolve().parents[2] / "bot" / "domain" / "lifecycle_event.schema.json"


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


def subscribed_config(
    url: str, events: tuple[str, ...] = EVENT_TYPES, **extra: Any
) -> HandoffConfig:
    return make_config(
        hot_threshold=30,
        managers=["U0BOSS"],
        marketing={"channel": "C0MKT"},
        reports={"managers_channel": "C0MGRS", "returns_digest": False},
        webhooks=[
            {
                "name": "nurture",
                "url": url,
                "events": list(events),
                "secret_env": "NURT_SECRET",
            }
        ],
        **extra,
    )


def _schema_problems(body: dict[str, Any]) -> list[str]:
    """Checks a body against the published JSON Schema's required keys and types."""
    schema = json.loads(SCHEMA.read_text())
    types = {"string": str, "integer": int, "object": dict, "null": type(None)}

    def check(value: dict[str, Any], node: dict[str, Any], path: str) -> list[str]:
        problems = [f"{path}.{k} missing" for k in node.get("required", []) if k not in value]
        for key, spec in node.get("properties", {}).items():
            if key not in value:
                continue
            allowed = spec.get("type", [])
            allowed = [allowed] if isinstance(allowed, str) else allowed
            if allowed and not isinstance(value[key], tuple(types[t] for t in allowed)):
                problems.append(f"{path}.{key} is {type(value[key]).__name__}, not {allowed}")
            if "enum" in spec and value[key] not in spec["enum"]:
                problems.append(f"{path}.{key} {value[key]!r} not in the enum")
            if isinstance(value[key], dict) and "properties" in spec:
                problems += check(value[key], spec, f"{path}.{key}")
        return problems

    return check(body, schema, "$")


async def test_each_event_arrives_once_signed_with_its_secret(
    start_app: StartApp,
    fake_slack: FakeSlackApi,
    clock: LiveClock,
    webhook_receiver: WebhookReceiver,
) -> None:
    client = await start_slack_app(
        start_app,
        fake_slack,
        subscribed_config(webhook_receiver.url),
        subscription_secrets={"NURT_SECRET": SECRET},
    )
    lead = await ingest_hot_lead(client, clock, fake_slack)
    lead_id = str(lead.id)

    def received_types() -> list[str]:
        return [json.loads(h.body)["event"] for h in webhook_receiver.received]

    async def arrived(event: str) -> None:
        async def seen() -> bool:
            return event in received_types()

        await wait_until(seen, what=event)

    # Clicks are handled after Slack gets its ack, so each waits for the one before.
    assert await click(client, "lead_claim", "U0ANA", value=lead_id) == 200
    await arrived("lead.claimed")
    assert await click(client, "lead_claim", "U0BEN", value=lead_id) == 200  # too late: no event
    await fake_slack.wait_for("chat.postEphemeral")
    assert await click(client, "lead_contacted", "U0ANA", value=lead_id) == 200
    await arrived("lead.contacted")
    assert await click(client, "lead_outcome", "U0ANA", selected_value=f"{lead_id}:won") == 200
    await arrived("lead.won")
    await wait_until(_outbox_settled, what="outbox drained")
    assert Counter(received_types()) == Counter(
        {"lead.hot": 1, "lead.routed": 1, "lead.claimed": 1, "lead.contacted": 1, "lead.won": 1}
    )
    for hook in webhook_receiver.received:
        problem = check_signature(
            SECRET,
            hook.headers.get("X-Handoff-Timestamp"),
            hook.headers.get("X-Handoff-Signature"),
            hook.body,
            clock().timestamp(),
        )
        assert problem is None, problem
        body = json.loads(hook.body)
        assert hook.headers["Idempotency-Key"] == body["id"] and body["id"].startswith("evt_")
        assert hook.headers["X-Handoff-Event"] == body["event"]
        assert body["lead"]["email"] == "ana@acme.io" and body["lead"]["id"] == lead.id
        assert _schema_problems(body) == []
    by_type = {json.loads(h.body)["event"]: json.loads(h.body) for h in webhook_receiver.received}
    assert by_type["lead.claimed"]["actor"] == "U0ANA"
    assert by_type["lead.claimed"]["lead"]["owner"] == "U0ANA"
    assert by_type["lead.won"]["lead"]["state"] == "won" and by_type["lead.won"]["closed_at"]
    assert by_type["lead.routed"]["lead"]["channel"] == "C0DEFAULT"
    assert len({h.headers["Idempotency-Key"] for h in webhook_receiver.received}) == 5
    assert by_type["lead.hot"]["detail"]["score"] >= 30


async def _outbox_settled() -> bool:
    return not await OutboxItem.filter(status="pending").exists()


async def test_a_wrong_secret_is_told_apart(
    start_app: StartApp,
    fake_slack: FakeSlackApi,
    clock: LiveClock,
    webhook_receiver: WebhookReceiver,
) -> None:
    # Marketing's endpoint keeps HANDOFF_WEBHOOK_SECRET; a subscriber's own secret is its own.
    client = await start_slack_app(
        start_app,
        fake_slack,
        subscribed_config(webhook_receiver.url),
        subscription_secrets={"NURT_SECRET": SECRET},
    )
    await ingest_hot_lead(client, clock, fake_slack)

    async def first_event() -> bool:
        return bool(webhook_receiver.received)

    await wait_until(first_event, what="the first lifecycle event")
    hook = webhook_receiver.received[0]
    args = (hook.headers["X-Handoff-Timestamp"], hook.headers["X-Handoff-Signature"], hook.body)
    assert check_signature(WEBHOOK_SECRET, *args, clock().timestamp()) is not None
    assert check_signature(SECRET, *args, clock().timestamp()) is None


async def test_missing_secret_stops_start_up_naming_the_variable(
    start_app: StartApp, fake_slack: FakeSlackApi
) -> None:
    from bot.config import ConfigError

    with pytest.raises(ConfigError, match="NURT_SECRET"):
        await start_slack_app(start_app, fake_slack, subscribed_config("http://127.0.0.1:9/x"))


async def test_failing_endpoint_is_reported_once_and_resumes(
    start_app: StartApp,
    fake_slack: FakeSlackApi,
    clock: LiveClock,
    webhook_receiver: WebhookReceiver,
) -> None:
    webhook_receiver.answers = [500] * 10_000  # down until the test clears it
    client = await start_slack_app(
        start_app,
        fake_slack,
        subscribed_config(webhook_receiver.url, ("lead.routed",)),
        subscription_secrets={"NURT_SECRET": SECRET},
    )
    await ingest_hot_lead(client, clock, fake_slack)

    async def tried_twice() -> bool:
        return len(webhook_receiver.received) >= 2

    await wait_until(tried_twice, what="retries of lead.routed")

    def notices() -> list[dict[str, Any]]:
        # The managers' channel also gets the weekly digest, depending on the day.
        return [m for m in fake_slack.posted("C0MGRS") if "webhook endpoint" in message_text(m)]

    assert notices() == []  # failing, but not for an hour yet
    clock.advance(timedelta(minutes=61))

    async def managers_told() -> list[dict[str, Any]]:
        return notices()

    [notice] = await wait_until(managers_told, what="failing notice")
    assert "nurture" in message_text(notice) and "failing" in message_text(notice)
    seen = len(webhook_receiver.received)

    async def more_retries() -> bool:
        return len(webhook_receiver.received) >= seen + 3

    await wait_until(more_retries, what="more failed retries")
    assert len(notices()) == 1  # told once

    webhook_receiver.answers.clear()  # the endpoint answers again

    async def delivered() -> bool:
        return await OutboxItem.filter(kind="event", status="sent").exists()

    await wait_until(delivered, what="the held event delivered")

    async def resumed() -> bool:
        return len(notices()) == 2

    await wait_until(resumed, what="resumed notice")
    assert "answers again" in message_text(notices()[1])
    bodies = [json.loads(h.body) for h in webhook_receiver.received]
    assert {b["id"] for b in bodies} == {bodies[0]["id"]}  # one event, retried, same id


async def test_sla_breach_is_an_event(
    database_url: str,
    aiohttp_client: Any,
    fake_slack: FakeSlackApi,
    clock: LiveClock,
    webhook_receiver: WebhookReceiver,
) -> None:
    settings = make_settings(
        database_url,
        slack_bot_token="xoxb-test",
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.base_url,
        subscription_secrets={"NURT_SECRET": SECRET},
    )
    config = subscribed_config(webhook_receiver.url, ("lead.sla_breached",))
    app = build_app(
        settings, config, clock, poll_seconds=0.05, retry=RetryPolicy(0.05, 0.5), sweep_seconds=0.05
    )
    client = await aiohttp_client(app)
    await ingest_hot_lead(client, clock, fake_slack)
    clock.advance(timedelta(minutes=61))  # past escalate_unclaimed_after (1 h, always open)

    async def breached() -> bool:
        return bool(webhook_receiver.received)

    await wait_until(breached, what="lead.sla_breached")
    await wait_until(_outbox_settled, what="outbox drained")
    [hook] = webhook_receiver.received  # many sweeps ran; the breach was sent once
    body = json.loads(hook.body)
    assert body["event"] == "lead.sla_breached" and body["detail"] == {"sla": "escalate_unclaimed"}
