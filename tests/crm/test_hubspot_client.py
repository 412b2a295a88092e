"""The HubSpot client against the fake HubSpot API on loopback: answers, errors and 429s."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from bot.crm.hubspot import (
    DAILY_LIMIT_WAIT_SECONDS,
    HubSpotClient,
    HubSpotError,
    HubSpotRateLimited,
    HubSpotUnavailable,
    rate_limit_wait,
)
from tests.fakes.hubspot_api import TOKEN, FakeHubSpot, fake_hubspot

__all__ = ["fake_hubspot"]


def client_for(fake: FakeHubSpot, token: str = TOKEN) -> HubSpotClient:
    return HubSpotClient(fake.base_url, token, timeout=5)


async def test_read_search_create_update(fake_hubspot: FakeHubSpot) -> None:
    contact_id = fake_hubspot.add_contact("ana@acme.io", firstname="Ana", lifecyclestage="lead")
    client = client_for(fake_hubspot)
    contact = await client.get_contact(contact_id, ["firstname", "lifecyclestage"])
    assert contact is not None and contact["id"] == contact_id
    assert contact["properties"]["firstname"] == "Ana"
    assert await client.get_contact("999999", ["email"]) is None
    found = await client.find_contact_by_email("ANA@acme.io")
    assert found is not None and found["id"] == contact_id
    assert await client.find_contact_by_email("nobody@acme.io") is None
    created = await client.create_contact({"email": "bo@beta.io", "firstname": "Bo"})
    assert fake_hubspot.contacts[created["id"]]["properties"]["firstname"] == "Bo"
    await client.update_contact(contact_id, {"hs_lead_status": "OPEN"})
    assert fake_hubspot.contacts[contact_id]["properties"]["hs_lead_status"] == "OPEN"


async def test_hubspot_errors_keep_hubspots_message(fake_hubspot: FakeHubSpot) -> None:
    contact_id = fake_hubspot.add_contact("ana@acme.io")
    client = client_for(fake_hubspot)
    with pytest.raises(HubSpotError) as unknown:
        await client.update_contact(contact_id, {"favourite_colour": "blue"})
    assert unknown.value.status == 400 and unknown.value.category == "VALIDATION_ERROR"
    assert 'Property \\"favourite_colour\\" does not exist' in unknown.value.message
    assert not unknown.value.transient
    with pytest.raises(HubSpotError) as conflict:
        await client.create_contact({"email": "ana@acme.io"})
    assert conflict.value.category == "CONFLICT"
    assert f"Existing ID: {contact_id}" in conflict.value.message
    with pytest.raises(HubSpotError) as missing:
        await client.update_contact("424242", {"hs_lead_status": "OPEN"})
    assert missing.value.status == 404 and missing.value.category == "OBJECT_NOT_FOUND"
    with pytest.raises(HubSpotError) as denied:
        await client_for(fake_hubspot, token="wrong").get_contact(contact_id, [])
    assert denied.value.status == 401 and denied.value.category == "INVALID_AUTHENTICATION"


async def test_429_says_how_long_to_wait(fake_hubspot: FakeHubSpot) -> None:
    fake_hubspot.rate_limit_next(1, interval_ms=10_000)
    fake_hubspot.rate_limit_next(1, policy="DAILY")
    client = client_for(fake_hubspot)
    with pytest.raises(HubSpotRateLimited) as secondly:
        await client.find_owner_by_email("ana@sales.io")
    assert secondly.value.wait_seconds == 10.0 and secondly.value.policy == "TEN_SECONDLY_ROLLING"
    with pytest.raises(HubSpotRateLimited) as daily:
        await client.find_owner_by_email("ana@sales.io")
    assert daily.value.wait_seconds == DAILY_LIMIT_WAIT_SECONDS
    assert await client.find_owner_by_email("ana@sales.io") is None  # the limit has passed


def test_retry_after_wins_over_the_window() -> None:
    headers = CIMultiDict({"Retry-After": "3", "X-HubSpot-RateLimit-Interval-Milliseconds": "1"})
    assert rate_limit_wait(headers, {}) == 3.0


async def test_owners_and_notes(fake_hubspot: FakeHubSpot) -> None:
    owner_id = fake_hubspot.add_owner("ana@sales.io")
    contact_id = fake_hubspot.add_contact("lead@acme.io")
    client = client_for(fake_hubspot)
    owner = await client.find_owner_by_email("ana@sales.io")
    assert owner is not None and owner["id"] == owner_id
    note = await client.create_note(contact_id, "Returned: no budget", 1_767_225_600_000)
    [stored] = fake_hubspot.notes_for(contact_id)
    assert stored["id"] == note["id"]
    assert stored["properties"] == {
        "hs_note_body": "Returned: no budget",
        "hs_timestamp": "1767225600000",
    }


async def test_no_answer_is_unavailable() -> None:
    client = HubSpotClient("http://127.0.0.1:9", TOKEN, timeout=2)
    with pytest.raises(HubSpotUnavailable):
        await client.get_contact("1", [])
