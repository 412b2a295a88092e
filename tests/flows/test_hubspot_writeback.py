"""HubSpot write-back end to end: Slack clicks change the contact in a fake HubSpot on loopback."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.config import HandoffConfig
from bot.services.lifecycle import CrmStatus
from bot.storage.crm import CrmStore
from bot.storage.models import OutboxItem
from tests.conftest import make_config
from tests.fakes import FakeSlackApi
from tests.fakes.hubspot_api import TOKEN, FakeHubSpot, fake_hubspot
from tests.flows.conftest import AppClient, StartApp
from tests.flows.slack_support import not_ready_values, send_to_slack_endpoint, view_submission
from tests.flows.test_handoff import click, ingest_hot_lead, start_slack_app
from tests.flows.test_sources import (
    HUBSPOT_SECRET,
    PUBLIC_URL,
    SOURCES,
    card_for,
    post_hubspot,
)
from tests.sources.payloads import raw
from tests.support import LiveClock, wait_until

__all__ = ["fake_hubspot"]

REP_EMAIL = "ana.rep@sales.example.com"


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


def hubspot_config(**hubspot: Any) -> HandoffConfig:
    return make_config(
        hot_threshold=30,
        managers=["U0BOSS"],
        marketing={"channel": "C0MKT"},
        crm={"hubspot": hubspot},
    )


async def start(
    start_app: StartApp, fake_slack: FakeSlackApi, hubspot: FakeHubSpot, config: HandoffConfig
) -> AppClient:
    return await start_slack_app(
        start_app,
        fake_slack,
        config,
        hubspot_access_token=TOKEN,
        hubspot_api_url=hubspot.base_url,
    )


async def until_contact(
    hubspot: FakeHubSpot, contact_id: str, what: str, **expected: str | None
) -> dict[str, Any]:
    async def matches() -> dict[str, Any] | None:
        props: dict[str, Any] = hubspot.contacts[contact_id]["properties"]
        return props if all(props.get(k) == v for k, v in expected.items()) else None

    found: dict[str, Any] = await wait_until(matches, what=what)
    return found


async def test_claim_contacted_and_return_update_the_hubspot_contact(
    start_app: StartApp, fake_slack: FakeSlackApi, fake_hubspot: FakeHubSpot, clock: LiveClock
) -> None:
    # The lead came from HubSpot: its contact exists there, still a plain "lead".
    contact_id = fake_hubspot.add_contact(
        "ana@acme.io", firstname="Ana", lifecyclestage="lead", hs_lead_status="NEW"
    )
    owner_id = fake_hubspot.add_owner(REP_EMAIL, "Ana", "Rep")
    fake_slack.add_user("U0ANA", email=REP_EMAIL)
    client = await start(start_app, fake_slack, fake_hubspot, hubspot_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    fake_hubspot.rate_limit_next(1, interval_ms=300)  # the first call hits the 10 s limit

    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200
    await until_contact(
        fake_hubspot,
        contact_id,
        "claim written",
        hubspot_owner_id=owner_id,
        hs_lead_status="IN_PROGRESS",
        lifecyclestage="salesqualifiedlead",
    )
    # HubSpot's 429 was waited out and the call made again; the owner came from the owners API.
    assert [r.status for r in fake_hubspot.requests][:2] == [429, 200]
    assert fake_hubspot.calls("GET", "/crm/v3/owners")[0].query["email"] == REP_EMAIL

    async def claim_sent() -> OutboxItem | None:
        return await OutboxItem.get_or_none(method="hubspot.claimed", status="sent")

    claim_item = await wait_until(claim_sent, what="claim write-back marked sent")
    assert claim_item.attempts == 2

    assert await click(client, "lead_contacted", "U0ANA", value=str(lead.id)) == 200
    await until_contact(
        fake_hubspot,
        contact_id,
        "contacted written",
        hs_lead_status="CONNECTED",
        lifecyclestage="opportunity",
    )

    recontact = (clock().date() + timedelta(days=45)).isoformat()
    values = not_ready_values("budget", "Budget frozen until Q3", recontact)
    status, _ = await send_to_slack_endpoint(
        client, view_submission("not_ready_submit", "U0ANA", str(lead.id), values)
    )
    assert status == 200
    # Back to marketing: an earlier lifecycle stage, which HubSpot accepts only once cleared.
    await until_contact(
        fake_hubspot,
        contact_id,
        "return written",
        hs_lead_status="BAD_TIMING",
        lifecyclestage="marketingqualifiedlead",
    )

    async def note() -> list[dict[str, Any]]:
        return fake_hubspot.notes_for(contact_id)

    [returned_note] = await wait_until(note, what="return note")
    body = returned_note["properties"]["hs_note_body"]
    assert "No budget" in body and "Budget frozen until Q3" in body and recontact in body
    assert returned_note["associations"][0]["types"][0]["associationTypeId"] == 202
    assert len(fake_hubspot.contacts) == 1  # found by email, never duplicated
    # The contact was searched for once; later moves used the id matched then.
    assert len(fake_hubspot.calls("POST", "/crm/v3/objects/contacts/search", answered=200)) == 1
    # Only the claim sets the owner: one owners lookup for the three moves.
    assert len(fake_hubspot.calls("GET", "/crm/v3/owners", answered=200)) == 1


async def test_a_lead_not_in_hubspot_is_created_and_unmatched_reps_are_listed(
    start_app: StartApp, fake_slack: FakeSlackApi, fake_hubspot: FakeHubSpot, clock: LiveClock
) -> None:
    fake_slack.add_user("U0ANA", email="nobody-in-hubspot@sales.example.com")
    client = await start(start_app, fake_slack, fake_hubspot, hubspot_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200

    async def created() -> dict[str, Any] | None:
        return fake_hubspot.contact_by_email("ana@acme.io")

    contact = await wait_until(created, what="contact created")
    props = await until_contact(
        fake_hubspot, contact["id"], "claim written", hs_lead_status="IN_PROGRESS"
    )
    assert (props["firstname"], props["lastname"], props["company"]) == ("Ana", "García", "Acme")
    assert props.get("hubspot_owner_id") is None  # no owner has the rep's email
    unmatched = await CrmStatus(CrmStore()).list_unmatched_reps()
    assert [(u.user_id, u.email) for u in unmatched] == [
        ("U0ANA", "nobody-in-hubspot@sales.example.com")
    ]


async def test_a_permanent_hubspot_error_fails_the_item_with_hubspots_message(
    start_app: StartApp, fake_slack: FakeSlackApi, fake_hubspot: FakeHubSpot, clock: LiveClock
) -> None:
    fake_hubspot.add_contact("ana@acme.io")
    config = hubspot_config(mapping={"claimed": {"lead_status": "WARM"}})  # not a HubSpot option
    client = await start(start_app, fake_slack, fake_hubspot, config)
    lead = await ingest_hot_lead(client, clock, fake_slack)
    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200

    async def failed() -> OutboxItem | None:
        return await OutboxItem.get_or_none(kind="hubspot", status="failed")

    item = await wait_until(failed, what="failed write-back")
    assert item.attempts == 1  # not retried
    assert item.last_error is not None
    assert "HubSpot refused hubspot.claimed" in item.last_error
    assert "WARM was not one of the allowed options" in item.last_error

    # Slack is not held up by HubSpot: the claimer got the DM all the same.
    async def dm() -> list[dict[str, Any]]:
        return fake_slack.posted("U0ANA")

    await wait_until(dm, what="claim DM")


async def test_a_lead_from_hubspot_is_written_back_to_its_own_contact(
    start_app: StartApp, fake_slack: FakeSlackApi, fake_hubspot: FakeHubSpot, clock: LiveClock
) -> None:
    # The workflow body names contact 3234574; a search by email finds the older duplicate
    # contact (a duplicate someone made by hand), which must stay untouched.
    duplicate = fake_hubspot.add_contact("maria.lopez@northwind.io", lifecyclestage="lead")
    fake_hubspot.contacts["3234574"] = {
        "id": "3234574",
        "properties": {"email": "maria.lopez@northwind.io", "lifecyclestage": "lead"},
        "createdAt": "2026-01-01T00:00:00Z",
        "updatedAt": "2026-01-01T00:00:00Z",
        "archived": False,
    }
    owner_id = fake_hubspot.add_owner(REP_EMAIL, "Ana", "Rep")
    fake_slack.add_user("U0ANA", email=REP_EMAIL)
    config = make_config(
        hot_threshold=30,
        managers=["U0BOSS"],
        marketing={"channel": "C0MKT"},
        crm={"hubspot": {}},
        sources=SOURCES,
    )
    client = await start_slack_app(
        start_app,
        fake_slack,
        config,
        hubspot_access_token=TOKEN,
        hubspot_api_url=fake_hubspot.base_url,
        hubspot_client_secret=HUBSPOT_SECRET,
        public_url=PUBLIC_URL,
    )
    status, answer = await post_hubspot(
        client, raw("hubspot/workflow_contact_all_properties.json"), clock
    )
    assert status == 200, answer
    lead = await card_for(fake_slack, "maria.lopez@northwind.io")

    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200
    await until_contact(
        fake_hubspot, "3234574", "claim written to the source contact", hubspot_owner_id=owner_id
    )
    assert "hubspot_owner_id" not in fake_hubspot.contacts[duplicate]["properties"]
