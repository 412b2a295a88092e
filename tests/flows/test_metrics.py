"""/metrics after a real hand-off, read with Prometheus' own text parser; /healthz outbox."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import FakeSlackApi
from tests.flows.conftest import AppClient, StartApp
from tests.flows.test_handoff import click, ingest_hot_lead, slack_config, start_slack_app
from tests.support import LiveClock, post_signed, wait_until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


async def scrape(client: AppClient, **headers: str) -> Samples:
    response = await client.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    samples: Samples = {}
    for family in text_string_to_metric_families(await response.text()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_count_a_claimed_lead(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    before = await scrape(client)
    assert value(before, "handoff_claims_total") == 0

    lead = await ingest_hot_lead(client, clock, fake_slack)
    status, _ = await post_signed(client, "/webhooks/leads", {"email": "nope"}, clock=clock)
    assert status == 400
    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200
    await wait_until(lambda: _owner_dm_sent(fake_slack), what="claim DM")

    # A call a Bolt listener makes itself (the Not ready modal) is counted too.
    assert await click(client, "lead_not_ready", "U0ANA", value=str(lead.id)) == 200
    await fake_slack.wait_for("views.open")

    samples = await scrape(client)
    assert value(samples, "handoff_slack_api_calls_total", method="views.open") == 1
    assert value(samples, "handoff_claims_total") == 1
    assert value(samples, "handoff_leads", state="claimed") == 1
    assert value(samples, "handoff_leads_hot_total") == 1
    assert value(samples, "handoff_leads_routed_total", channel="C0DEFAULT") == 1
    assert (
        value(samples, "handoff_lead_transitions_total", action="claimed", to_state="claimed") == 1
    )
    assert value(samples, "handoff_leads_scored_total") >= 1
    assert (
        value(samples, "handoff_deliveries", kind="lead", source="generic", status="processed") == 1
    )
    # One accepted webhook, one refused; both acknowledged, both timed.
    assert (
        value(samples, "handoff_webhook_requests_total", source="generic", outcome="accepted") == 1
    )
    assert (
        value(samples, "handoff_webhook_requests_total", source="generic", outcome="invalid") == 1
    )
    assert value(samples, "handoff_webhook_ack_seconds_count", source="generic") == 2
    # Slack calls as the fake Slack saw them.
    posted = len(fake_slack.calls_to("chat.postMessage"))
    assert value(samples, "handoff_slack_api_calls_total", method="chat.postMessage") == posted
    # Time to claim: one lead, routed then claimed within the test's few seconds.
    assert value(samples, "handoff_time_to_claim_seconds_count") == 1
    assert value(samples, "handoff_time_to_claim_seconds_bucket", le="60.0") == 1
    assert value(samples, "handoff_time_to_first_touch_seconds_count") == 0
    assert value(samples, "handoff_outbox_items", kind="card", status="sent") >= 1


async def test_slack_errors_are_counted_by_method_and_error(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    fake_slack.fail_next("chat.postMessage", error="channel_not_found")
    client = await start_slack_app(start_app, fake_slack, slack_config())
    status, _ = await post_signed(
        client, "/webhooks/leads", {**_hot(), "email": "bo@acme.io"}, clock=clock
    )
    assert status == 202
    await fake_slack.wait_for("chat.postMessage")

    async def failed_item() -> Any:
        samples = await scrape(client)
        return value(samples, "handoff_outbox_items", kind="card", status="failed") == 1

    await wait_until(failed_item, what="the refused card marked failed")
    samples = await scrape(client)
    assert (
        value(
            samples,
            "handoff_slack_api_errors_total",
            method="chat.postMessage",
            error="channel_not_found",
        )
        == 1
    )
    health = await (await client.get("/healthz")).json()
    assert health["outbox"]["failed"] == 1


async def test_metrics_token_is_required_when_set(
    start_app: StartApp, fake_slack: FakeSlackApi
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config(), metrics_token="s3cret")
    assert (await client.get("/metrics")).status == 401
    bad = await client.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert bad.status == 401
    samples = await scrape(client, Authorization="Bearer s3cret")
    assert value(samples, "handoff_claims_total") == 0


async def test_healthz_reports_the_outbox(start_app: StartApp) -> None:
    client = await start_app()
    body = await (await client.get("/healthz")).json()
    assert body["status"] == "ok"
    assert body["outbox"] == {"status": "ok", "oldest_pending_age_seconds": None, "failed": 0}


async def test_state_changes_are_logged_once_with_the_request_id_and_no_contact_details(
    start_app: StartApp,
    fake_slack: FakeSlackApi,
    clock: LiveClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    client = await start_slack_app(start_app, fake_slack, slack_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    response = await client.get("/healthz", headers={"X-Request-Id": "req-42"})
    assert response.headers["X-Request-Id"] == "req-42"
    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200
    await wait_until(lambda: _owner_dm_sent(fake_slack), what="claim DM")

    moves = [r.getMessage() for r in caplog.records if r.name == "bot.transitions"]
    assert moves == [
        f"lead {lead.id} new -> nurturing by delivery:1 (created)",
        f"lead {lead.id} nurturing -> hot by delivery:1 (scored)",
        f"lead {lead.id} hot -> routed by system (routed)",
        f"lead {lead.id} routed -> claimed by U0ANA (claimed)",
    ]


async def _owner_dm_sent(fake: FakeSlackApi) -> bool:
    return bool(fake.posted("U0ANA"))


def _hot() -> dict[str, Any]:
    from tests.flows.test_handoff import HOT_LEAD

    return dict(HOT_LEAD)
