"""The `sources:` section: validated at start-up and by `handoff check-config`, naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, Settings, describe_sources
from tests.conftest import make_config
from tests.test_cli import run_cli

FORM = {"token": "form-token-0123456789abcdef"}


def _problems(**sources: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        make_config(sources=sources)
    return str(caught.value)


def test_each_bad_key_is_named_with_what_was_expected() -> None:
    message = _problems(
        tokens={"Zapier!": "short"},
        forms={
            "demo": {
                "token": "short",
                "fields": {"job": "job_title"},
                "allowed_origins": ["https://www.acme.io/contact"],
                "redirect_url": "thanks.html",
                "rate_limit": {"requests": 0},
            }
        },
        typeform={"forms": {"abc": {"fields": {"role": "titel"}}}},
        hubspot={"propertes": {}},
    )
    for expected in (
        "sources.tokens.Zapier!",
        "sources.forms.demo.token: a token needs at least 16 characters",
        "sources.forms.demo.fields.job: expected one of email, first_name",
        "sources.forms.demo.allowed_origins[0]: expected an origin like https://www.example.com",
        "sources.forms.demo.redirect_url: expected an http(s):// URL",
        "sources.forms.demo.rate_limit.requests",
        "sources.typeform.forms.abc.fields.role",
        "sources.hubspot.propertes: unknown key",
    ):
        assert expected in message, (expected, message)


def test_two_names_sharing_a_token_are_refused() -> None:
    token = "same-token-0123456789abcdef"
    assert "two names share one token" in _problems(tokens={"zapier": token, "make": token})


def test_custom_targets_and_defaults_are_accepted() -> None:
    config = make_config(sources={"forms": {"demo": {**FORM, "fields": {"msg": "custom.message"}}}})
    form = config.sources.forms["demo"]
    assert (form.rate_limit.requests, form.min_fill_time.total_seconds()) == (10, 3)
    assert config.sources.hubspot.source == "hubspot"


def test_check_config_lists_the_sources_and_what_they_need() -> None:
    config = make_config(sources={"tokens": {"zapier": "z" * 20}, "forms": {"demo": FORM}})
    lines = describe_sources(config, Settings.from_env({"TYPEFORM_SECRET": "x"}))
    text = "\n".join(lines)
    assert "bearer tokens: zapier" in text
    assert "HubSpot /webhooks/hubspot: off (set HUBSPOT_CLIENT_SECRET)" in text
    assert "Typeform /webhooks/typeform: on" in text
    assert "form /webhooks/forms/demo: 0 mapped field(s), 10 per 1m per address" in text


def test_check_config_exits_2_naming_a_bad_sources_key(tmp_path: Path) -> None:
    path = tmp_path / "handoff.yml"
    path.write_text(
        "routing: {default_channel: C0SALES}\nsources:\n  forms:\n    demo: {token: tooshort}\n",
        encoding="utf-8",
    )
    result = run_cli("check-config", str(path))
    assert result.returncode == 2
    assert "sources.forms.demo.token" in result.stderr


def test_public_url_must_be_a_url() -> None:
    with pytest.raises(ConfigError, match="HANDOFF_PUBLIC_URL"):
        Settings.from_env({"HANDOFF_PUBLIC_URL": "handoff.example.com"})
    settings = Settings.from_env({"HANDOFF_PUBLIC_URL": "https://handoff.example.com/"})
    assert settings.public_url == "https://handoff.example.com"
