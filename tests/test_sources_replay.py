"""`handoff replay` reprocesses a source's failed delivery through the same decoder."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.server import replay_failed
from bot.storage.database import open_database
from bot.storage.models import Delivery, Lead
from tests.conftest import make_config
from tests.fakes.hubspot_api import TOKEN, FakeHubSpot
from tests.sources.payloads import load


async def test_replay_reads_the_hubspot_contact_once_a_token_is_set(
    database_url: str, fake_hubspot: FakeHubSpot, tmp_path: Path
) -> None:
    fake_hubspot.contacts["123"] = {
        "id": "123",
        "properties": {"email": "ola@contoso.com", "jobtitle": "CTO", "company": "Contoso"},
    }
    event = load("hubspot/events_contact_creation.json")[0]
    async with open_database(database_url):
        # Stored as /webhooks/hubspot stores an event; it failed: no HUBSPOT_ACCESS_TOKEN then.
        await Delivery.create(
            kind="lead",
            source="hubspot",
            idempotency_key="lead:hubspot:62515:12345:1",
            body=json.dumps(event),
            status="failed",
            error="LookupError: ... set HUBSPOT_ACCESS_TOKEN ...",
            received_at=datetime.now(UTC),
        )
    env = {"DATABASE_URL": database_url, "HANDOFF_WEBHOOK_SECRET": "s"}
    settings = Settings.from_env(
        {**env, "HUBSPOT_ACCESS_TOKEN": TOKEN, "HUBSPOT_API_URL": fake_hubspot.base_url}
    )
    report = await replay_failed(settings, make_config(), list_only=False)
    assert report == "requeued 1, processed 1, still failed 0"
    async with open_database(database_url):
        lead = await Lead.get(email="ola@contoso.com")
        assert (lead.title, lead.source, lead.hubspot_contact_id) == ("CTO", "hubspot", "123")
