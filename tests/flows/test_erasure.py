"""Erasure and retention, checked on the whole database dump (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from bot.storage.models import Delivery, Event, Lead, OutboxItem, SlackEventReceipt, Transition
from tests.fakes import FakeSlackApi
from tests.flows.conftest import AppClient, StartApp
from tests.flows.slack_support import message_text, send_to_slack_endpoint, slash_command
from tests.flows.test_handoff import click, ingest_hot_lead, slack_config, start_slack_app
from tests.flows.test_metrics import scrape, value
from tests.support import LiveClock, post_signed, wait_until

ROOT = Path(__file__).resolve().parents[2]
# Everything that identifies Ana, in every form a dump could hold it.
ANA_TRACES = ("ana@acme.io", "García", "Garc\\u00eda", "600 000 000", "34600000000")


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


async def dump_database(database_url: str) -> str:
    """The whole database as text: SQLite's own dump, or pg_dump's."""
    if database_url.startswith("sqlite://"):
        with sqlite3.connect(database_url.removeprefix("sqlite://")) as conn:
            return "\n".join(conn.iterdump())
    url = database_url.replace("postgres://", "postgresql://", 1)
    process = await asyncio.create_subprocess_exec(
        "pg_dump", "--data-only", "--no-owner", url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0
    return out.decode()


def traces(dump: str) -> list[str]:
    folded = dump.casefold()
    return [t for t in ANA_TRACES if t.casefold() in folded]


async def forget(client: AppClient, fake: FakeSlackApi, user: str, text: str, key: str) -> str:
    status, _ = await send_to_slack_endpoint(
        client, slash_command(f"forget {text}", user, fake.response_url(key))
    )
    assert status == 200
    return message_text((await fake.wait_for_response(key))[0])


async def test_leads_forget_leaves_no_trace_of_the_person(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock, database_url: str
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    event = {
        "email": "ana@acme.io",
        "type": "page_view",
        "properties": {"url": "https://acme.io/pricing?ref=ana@acme.io", "who": "Ana García"},
    }
    assert (await post_signed(client, "/webhooks/events", event, clock=clock))[0] == 202
    other = {"email": "bo@beta.io", "first_name": "Bo", "company": "Beta"}
    assert (await post_signed(client, "/webhooks/leads", other, clock=clock))[0] == 202
    await wait_until(lambda: Event.filter(lead_id=lead.id).exists(), what="the event stored")
    await wait_until(lambda: Lead.filter(email="bo@beta.io").exists(), what="the other lead")
    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200
    await wait_until(lambda: _posted(fake_slack, "U0ANA"), what="the owner's DM")
    assert traces(await dump_database(database_url))  # the dump does see her before

    refused = await forget(client, fake_slack, "U0ANA", "ana@acme.io", "f0")
    assert "Only a manager" in refused
    said = await forget(client, fake_slack, "U0BOSS", "<mailto:ana@acme.io|ana@acme.io>", "f1")
    assert f"Erased: lead #{lead.id}" in said

    # Her card and her owner's DM now say "erased" in Slack.
    async def slack_copies_erased() -> bool:
        copies = [m for m in fake_slack.posted() if m["channel"] in {"C0DEFAULT", "U0ANA"}]
        return bool(copies) and all("erased" in message_text(m) for m in copies)

    await wait_until(slack_copies_erased, what="card and DM updated to erased")
    await wait_until(lambda: _none_pending(), what="the outbox drained (its results stored)")

    dump = await dump_database(database_url)
    assert traces(dump) == []
    assert "bo@beta.io" in dump  # other people are untouched
    # Anonymous counts still add up; the erasure itself is on record, without details.
    erased = await Lead.get(id=lead.id)
    assert erased.state == "claimed" and erased.claimed_by == "U0ANA"
    assert await Event.filter(lead_id=lead.id).count() == 1
    record = await Transition.get(lead_id=lead.id, action="erased")
    assert record.actor == "U0BOSS" and record.detail == {}
    samples = await scrape(client)
    assert value(samples, "handoff_claims_total") == 1
    assert value(samples, "handoff_leads", state="claimed") == 1

    again = await forget(client, fake_slack, "U0BOSS", "ana@acme.io", "f2")
    assert "No personal data stored" in again


async def test_retention_blanks_old_raw_bodies_and_receipts(
    start_app: StartApp, clock: LiveClock
) -> None:
    client = await start_app()
    lead = {"email": "cy@gamma.io", "first_name": "Cy"}
    assert (await post_signed(client, "/webhooks/leads", lead, clock=clock))[0] == 202
    await wait_until(lambda: Delivery.filter(status="processed").exists(), what="processed")
    await SlackEventReceipt.create(event_id="Ev0OLD", received_at=clock())
    kept_lead = await Lead.get(email="cy@gamma.io")

    clock.advance(timedelta(days=91))  # past the default 90 days
    await start_app()  # a restart: every sweep, retention included, runs once at start

    async def pruned() -> bool:
        row = await Delivery.get(kind="lead")
        return row.body == "" and not await SlackEventReceipt.exists()

    await wait_until(pruned, what="old body and receipt pruned")
    assert (await Lead.get(id=kept_lead.id)).email == "cy@gamma.io"  # leads are kept


async def test_handoff_forget_command(db: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    row = await Lead.create(
        email="di@delta.io",
        first_name="Di",
        phone="+1 415 555 0100",
        created_at=now,
        updated_at=now,
    )
    await Delivery.create(
        kind="lead",
        idempotency_key="lead:di@delta.io",
        body=json.dumps({"email": "di@delta.io"}),
        received_at=now,
        status="processed",
        lead_id=row.id,
    )
    # An event that failed before any lead existed, and a webhook queued without a lead id.
    await Delivery.create(
        kind="event",
        idempotency_key="event:x1",
        body=json.dumps({"email": "DI@delta.io", "type": "x"}),
        received_at=now,
        status="failed",
        error="lead DI@delta.io: boom",
    )
    await OutboxItem.create(
        kind="webhook",
        method="lead.returned",
        payload={"url": "http://127.0.0.1:9/", "body": {"lead": {"email": "di@delta.io"}}},
        status="pending",
        next_attempt_at=now,
        created_at=now,
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": db,
        "HANDOFF_CONFIG": str(ROOT / "handoff.example.yml"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "forget",
        "Di@Delta.io",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, out.decode()
    assert f"Erased: lead #{row.id}, 2 raw delivery(ies), 1 queued message(s)" in out.decode()
    dump = (await dump_database(db)).casefold()
    assert "di@delta.io" not in dump and "555 0100" not in dump
    assert await Delivery.filter(status="failed").count() == 1  # counts are kept
    assert (await OutboxItem.get(kind="webhook")).status == "cancelled"  # never sent now


async def _none_pending() -> bool:
    return not await OutboxItem.filter(status="pending").exists()


async def _posted(fake: FakeSlackApi, channel: str) -> bool:
    return bool(fake.posted(channel))
