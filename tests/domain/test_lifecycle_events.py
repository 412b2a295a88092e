"""Lifecycle event bodies and ids, subscription and HubSpot config: pure, checked as data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import ConfigError
from bot.domain.hubspot_mapping import moves_lifecycle_back
from bot.domain.leads import LeadProfile, LeadState, StoredLead
from bot.domain.lifecycle_events import build_event_body, event_id
from bot.services.lifecycle import build_lifecycle_items, subscribers
from tests.conftest import make_config

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def returned_lead() -> StoredLead:
    return StoredLead(
        id=7,
        profile=LeadProfile(email="ana@acme.io", first_name="Ana", company="Acme"),
        state=LeadState.NURTURING,
        score=64,
        grade="A",
        reasons=(),
        created_at=NOW - timedelta(days=3),
        updated_at=NOW,
        return_reason="budget",
        return_note="Q3",
        returned_by="U0ANA",
        recontact_after=datetime(2026, 6, 1, 9, tzinfo=UTC),
        cooldown_until=NOW + timedelta(days=14),
        cycle=1,
    )


def test_event_ids_are_stable_per_move_and_differ_between_moves() -> None:
    assert event_id("lead.returned", 7, 1, NOW) == event_id("lead.returned", 7, 1, NOW)
    assert event_id("lead.returned", 7, 1, NOW) != event_id("lead.returned", 7, 2, NOW)
    assert event_id("lead.returned", 7, 1, NOW) != event_id("lead.claimed", 7, 1, NOW)


def test_returned_body_keeps_the_original_webhook_fields() -> None:
    body = build_event_body("lead.returned", returned_lead(), "U0ANA", NOW, None, {"budget": "B"})
    assert body["event"] == "lead.returned" and body["occurred_at"] == NOW.isoformat()
    assert (body["reason"], body["reason_label"], body["note"]) == ("budget", "B", "Q3")
    assert body["recontact_after"] == "2026-06-01" and body["returned_by"] == "U0ANA"
    assert body["lead"]["email"] == "ana@acme.io" and body["lead"]["state"] == "nurturing"
    with pytest.raises(ValueError, match="unknown lifecycle event"):
        build_event_body("lead.exploded", returned_lead(), "U0ANA", NOW)


def test_marketing_webhook_url_is_a_lead_returned_subscription() -> None:
    config = make_config(
        marketing={"webhook_url": "https://mkt.example.com/h"},
        crm={"hubspot": {}},
        webhooks=[
            {
                "name": "all",
                "url": "https://a.example.com/h",
                "events": ["lead.claimed"],
                "secret_env": "A_SECRET",
            }
        ],
    )
    items = build_lifecycle_items(
        "lead.returned", returned_lead(), "U0ANA", NOW, subscribers(config), config.crm
    )
    kinds = [(i.kind, i.payload.get("subscription")) for i in items]
    assert kinds == [("event", "marketing"), ("hubspot", None)]  # "all" wants claims only
    hubspot = items[1].payload
    assert hubspot["properties"] == {
        "hs_lead_status": "BAD_TIMING",
        "lifecyclestage": "marketingqualifiedlead",
    }
    assert "No budget" in hubspot["note"] and "2026-06-01" in hubspot["note"]
    assert all(i.lead_id is None for i in items)  # never hold back the lead's Slack messages


def test_config_names_bad_subscriptions_and_mappings() -> None:
    hook = {"url": "https://a.example.com/h", "events": ["lead.won"], "secret_env": "A_SECRET"}
    with pytest.raises(ConfigError, match="unique"):
        make_config(webhooks=[{"name": "a", **hook}, {"name": "a", **hook}])
    with pytest.raises(ConfigError, match=r"webhooks\[0\]\.events"):
        make_config(webhooks=[{"name": "a", **hook, "events": ["lead.exploded"]}])
    with pytest.raises(ConfigError, match="secret_env"):
        make_config(webhooks=[{"name": "a", **hook, "secret_env": "lower-case"}])
    with pytest.raises(ConfigError, match="ending in _SECRET"):
        make_config(webhooks=[{"name": "a", **hook, "secret_env": "DATABASE_URL"}])
    with pytest.raises(ConfigError, match="unknown move"):
        make_config(crm={"hubspot": {"mapping": {"routed": {"lead_status": "OPEN"}}}})
    custom = make_config(crm={"hubspot": {"mapping": {"won": {"lead_status": "CONNECTED"}}}})
    assert custom.crm.hubspot is not None
    assert custom.crm.hubspot.properties_for("won") == {"hs_lead_status": "CONNECTED"}
    assert custom.crm.hubspot.properties_for("lost") == {"hs_lead_status": "UNQUALIFIED"}


def test_lifecycle_stage_only_moves_back_by_clearing() -> None:
    assert moves_lifecycle_back("opportunity", "marketingqualifiedlead")
    assert not moves_lifecycle_back("lead", "salesqualifiedlead")
    assert not moves_lifecycle_back(None, "lead")
    assert not moves_lifecycle_back("my_custom_stage", "lead")


def test_secrets_and_hubspot_settings_come_from_the_environment() -> None:
    from pathlib import Path

    from bot.config import Settings, hubspot_enabled, subscription_secrets

    hook = {"url": "https://a.example.com/h", "events": ["lead.won"], "secret_env": "A_SECRET"}
    config = make_config(webhooks=[{"name": "a", **hook}], crm={"hubspot": {}})
    env = {"A_SECRET": "s1", "HUBSPOT_ACCESS_TOKEN": "pat", "HUBSPOT_API_URL": "http://h/"}
    settings = Settings.from_env(env)
    assert subscription_secrets(config, settings) == {"a": "s1"}
    assert hubspot_enabled(config, settings) and settings.hubspot_api_url == "http://h"
    bare = Settings.from_env({"HANDOFF_CONFIG": str(Path("x.yml"))})
    with pytest.raises(ConfigError, match="A_SECRET"):
        subscription_secrets(config, bare)
    with pytest.raises(ConfigError, match="HUBSPOT_ACCESS_TOKEN"):
        hubspot_enabled(config, bare)
