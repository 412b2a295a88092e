"""Log lines as an operator reads them: level and format, masking, quiet third parties."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import ConfigError, Settings
from bot.logs import bind_request_id, configure_logging, log_transition, mask_personal_data


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Logging configured as `handoff` configures it, writing to a buffer."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    stream = io.StringIO()
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved_handlers:
        root.addHandler(handler)
    root.setLevel(saved_level)


def _configure(stream: io.StringIO, level: str = "INFO", fmt: str = "text") -> None:
    configure_logging(level, fmt)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("lead ana.garcia@acme.io updated", "lead a***@*** updated"),
        ("call +34 600 000 000 now", "call +34*** now"),
        ("phone (415) 555-0100", "phone (41***"),
        ("at 2026-12-02 01:02:03, ts 1700000000.000100, lead 123456", None),
        ("delivery 12345678 id", "delivery 123*** id"),
    ],
)
def test_emails_and_phones_are_masked_dates_and_slack_ts_are_not(
    text: str, masked: str | None
) -> None:
    assert mask_personal_data(text) == (masked or text)


def test_text_lines_carry_the_request_id_and_mask_contact_details(captured: io.StringIO) -> None:
    _configure(captured)
    _, token = bind_request_id("req-7")
    try:
        logging.getLogger("bot.test").info("got %s", "ana@acme.io")
    finally:
        from bot.logs import unbind_request_id

        unbind_request_id(token)
    logging.getLogger("bot.test").info("outside")
    first, second = captured.getvalue().splitlines()
    assert "[req-7]: got a***@***" in first and "ana@acme.io" not in first
    assert "[-]: outside" in second


def test_json_lines_hold_the_transition_fields(captured: io.StringIO) -> None:
    _configure(captured, fmt="json")
    log_transition(7, "routed", "claimed", "U0ANA", "claimed")
    log_transition(7, "claimed", "claimed", "U0ANA", "snoozed")  # no state change: DEBUG
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["message"] == "lead 7 routed -> claimed by U0ANA (claimed)"
    assert lines[0] | {"time": None} == {
        "time": None,
        "level": "INFO",
        "logger": "bot.transitions",
        "message": "lead 7 routed -> claimed by U0ANA (claimed)",
        "request_id": "-",
        "lead_id": 7,
        "from_state": "routed",
        "to_state": "claimed",
        "actor": "U0ANA",
        "action": "claimed",
    }


def test_log_level_hides_info(captured: io.StringIO) -> None:
    _configure(captured, level="WARNING")
    logging.getLogger("bot.test").info("quiet")
    logging.getLogger("bot.test").warning("loud")
    assert captured.getvalue().count("\n") == 1 and "loud" in captured.getvalue()


async def test_bolt_token_warning_and_scheduler_runs_are_silenced(
    captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    _configure(captured)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-from-env")  # Bolt reads it and warns
    AsyncApp(client=AsyncWebClient(token="xoxb-x"), signing_secret="s")
    logging.getLogger("apscheduler.executors.default").info('Job "sla-nudges" executed')
    assert "unused" not in captured.getvalue()
    assert "executed" not in captured.getvalue()


def test_bad_log_settings_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="LOG_LEVEL"):
        Settings.from_env({"LOG_LEVEL": "chatty"})
    with pytest.raises(ConfigError, match="LOG_FORMAT"):
        Settings.from_env({"LOG_FORMAT": "xml"})
    assert Settings.from_env({"LOG_LEVEL": "debug", "LOG_FORMAT": "JSON"}).log_format == "json"
