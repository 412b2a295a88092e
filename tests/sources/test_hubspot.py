"""HubSpot bodies become the generic lead, validated by the same rules as /webhooks/leads."""

from __future__ import annotations

import pytest

from bot.sources.generic import ParsedLead, PayloadError
from bot.sources.hubspot import (
    MISSING_EMAIL,
    map_workflow_body,
    parse_event_batch,
    property_map,
)
from bot.sources.mapping import parse_mapped
from tests.sources.payloads import load


def _parse(body: object, **overrides: str) -> ParsedLead:
    mapped = map_workflow_body(body, property_map(overrides))
    return parse_mapped(mapped, "hubspot", missing_email_hint=MISSING_EMAIL)


def test_workflow_contact_record_fills_the_lead_and_keeps_the_contact_id() -> None:
    parsed = _parse(load("hubspot/workflow_contact_all_properties.json"))
    lead = parsed.profile
    assert lead.email == "maria.lopez@northwind.io"
    assert (lead.first_name, lead.last_name, lead.title) == ("María", "López", "Head of Operations")
    assert (lead.company, lead.company_size, lead.country) == ("Northwind", 500, "DE")
    assert lead.hubspot_contact_id == "3234574"
    assert lead.source == "hubspot"
    # HubSpot's own properties (lifecyclestage, hs_analytics_source, ...) are not lead data.
    assert lead.custom == {}


def test_v3_object_shape_with_plain_property_values_maps_the_same() -> None:
    body = {
        "id": "987",
        "properties": {"email": "ana@acme.io", "jobtitle": "CTO", "company": "Acme"},
    }
    lead = _parse(body).profile
    assert (lead.email, lead.title, lead.company, lead.hubspot_contact_id) == (
        "ana@acme.io",
        "CTO",
        "Acme",
        "987",
    )


def test_custom_key_value_body_maps_known_keys_and_keeps_the_rest() -> None:
    parsed = _parse(load("hubspot/workflow_custom_body.json"))
    lead = parsed.profile
    assert (lead.email, lead.first_name, lead.title, lead.company_size) == (
        "jonas@fabrikam.de",
        "Jonas",
        "VP Engineering",
        1000,
    )
    assert lead.hubspot_contact_id == "5123"
    assert lead.custom == {"favourite_colour": "green"}
    assert parsed.unknown_fields == ("favourite_colour",)


def test_configured_property_mapping_fills_source_and_custom_fields() -> None:
    body = {"properties": {"email": {"value": "a@b.io"}, "lead_channel": {"value": "webinar"}}}
    lead = _parse(body, lead_channel="source").profile
    assert lead.source == "webinar"  # the payload's own source wins over "hubspot"
    lead = _parse(body, lead_channel="custom.channel").profile
    assert (lead.source, lead.custom) == ("hubspot", {"channel": "webinar"})


def test_bad_value_is_reported_under_the_hubspot_property_name() -> None:
    body = {"properties": {"email": {"value": "not-an-email"}}}
    with pytest.raises(PayloadError) as caught:
        _parse(body)
    assert [e.field for e in caught.value.errors] == ["properties.email"]


def test_body_without_email_names_what_to_send() -> None:
    with pytest.raises(PayloadError) as caught:
        _parse({"firstname": "Jonas"})
    assert caught.value.errors[0].field == "email"
    assert "sources.hubspot.properties" in caught.value.errors[0].message


def test_event_batch_from_the_docs_parses_with_a_stable_idempotency_key() -> None:
    [event] = parse_event_batch(load("hubspot/events_contact_creation.json"))
    assert (event.subscription_type, event.object_id) == ("contact.creation", "123")
    assert event.idempotency_key == "hubspot:62515:12345:1"
    retried = load("hubspot/events_contact_creation.json")
    retried[0]["attemptNumber"] = 3
    assert parse_event_batch(retried)[0].idempotency_key == event.idempotency_key


def test_event_without_ids_names_the_bad_key() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_event_batch([{"subscriptionType": "contact.creation", "eventId": 1}])
    fields = {e.field for e in caught.value.errors}
    assert {"[0].objectId", "[0].portalId", "[0].subscriptionId"} <= fields


def test_new_platform_object_events_count_only_for_contacts() -> None:
    base = load("hubspot/events_contact_creation.json")[0]
    contact = {**base, "subscriptionType": "object.creation", "objectTypeId": "0-1"}
    deal = {**base, "subscriptionType": "object.creation", "objectTypeId": "0-3"}
    classic_deal = {**base, "subscriptionType": "deal.creation"}
    events = parse_event_batch([base, contact, deal, classic_deal])
    assert [e.about_a_contact for e in events] == [True, True, False, False]
