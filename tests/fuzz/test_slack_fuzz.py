"""Generated Slack requests with hostile values, signed as Slack signs them, to /slack/events.

Rules checked on every request: answered (200, never a 5xx or Bolt's 404 after 3 s), and no
listener raised: hostile values inside well-formed payloads are answered, not crashed on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import pytest
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from bot.slack import blocks
from tests.fakes import FakeSlackApi
from tests.flows.conftest import AppClient, StartApp
from tests.flows.slack_support import SIGNING_SECRET, TEAM, send_to_slack_endpoint
from tests.flows.test_handoff import ingest_hot_lead, slack_config, start_slack_app
from tests.fuzz.support import Tally, budget, draw
from tests.support import LiveClock, wait_until

REQUESTS = 400
CONCURRENCY = 8

HOSTILE = st.one_of(
    st.sampled_from(
        ["1", "2", "0", "-1", "²", "١٢", "１", "9" * 20, str(2**63), "1:²", "²:1", "1:", ":1",
         "1:won", "1:9999-99-99", "", " ", "\x00", "\ud800", "<!channel>", "<@U0ANA>", "*x*",
         "2026-13-45", "9999-12-31", "0001-01-01", "1e9", "NaN", "null", "{}", "x" * 3000]
    ),
    st.text(max_size=40),
    st.integers().map(str),
)  # fmt: skip
USERS = st.one_of(st.sampled_from(["U0ANA", "U0BEN", "U0BOSS", "W0REP"]), st.text(max_size=12))
ACTIONS = st.sampled_from(
    [
        blocks.ACTION_CLAIM,
        blocks.ACTION_NOT_READY,
        blocks.ACTION_CONTACTED,
        blocks.ACTION_SNOOZE_1H,
        blocks.ACTION_SNOOZE_TOMORROW,
        blocks.ACTION_RELEASE,
        blocks.ACTION_OUTCOME,
        blocks.ACTION_PAUSE,
        blocks.ACTION_RESUME,
        "unknown_action",
    ]
)
WORDS = st.one_of(
    st.sampled_from(
        ["report", "stale", "find", "returns", "leaderboard", "export", "assign", "help",
         "chart", "public", "today", "7d", "30d", "9999d", "2026-01-01..2026-01-31", "..",
         "<@U0ANA|ana>", "<#C0SALES|sales>", "@nobody", "#nowhere", "<mailto:a@b.io|a@b.io>"]
    ),
    HOSTILE,
)  # fmt: skip


def _user(user_id: str) -> dict[str, Any]:
    return {"id": user_id, "username": "someone", "team_id": TEAM["id"]}


@st.composite
def block_actions(draw: st.DrawFn, response_url: str) -> dict[str, str]:
    value = draw(HOSTILE)
    action: dict[str, Any] = {"action_id": draw(ACTIONS), "block_id": "b", "type": "button"}
    if draw(st.booleans()):
        action["value"] = value
    else:
        action["type"] = "static_select"
        action["selected_option"] = {"text": {"type": "plain_text", "text": "x"}, "value": value}
    in_channel = draw(st.booleans())
    payload: dict[str, Any] = {
        "type": "block_actions",
        "team": TEAM,
        "user": _user(draw(USERS)),
        "api_app_id": "A0HANDOFF",
        "token": "legacy",
        "trigger_id": draw(HOSTILE),
        "actions": [action],
        "response_url": response_url,
    }
    if in_channel:
        channel = draw(st.sampled_from(["C0DEFAULT", "C0SALES", "D0DM"]))
        payload["channel"] = {"id": channel, "name": "x"}
        payload["container"] = {"type": "message", "channel_id": channel, "message_ts": "1.2"}
    else:
        payload["container"] = {"type": "view", "view_id": "V0HOME"}
    return {"payload": json.dumps(payload)}


@st.composite
def view_submissions(draw: st.DrawFn) -> dict[str, str]:
    option = {"value": draw(st.one_of(st.sampled_from(list(blocks.NOT_READY_REASONS)), HOSTILE))}
    values = {
        blocks.NOT_READY_REASON_BLOCK: {
            blocks.NOT_READY_REASON_BLOCK: {"type": "radio_buttons", "selected_option": option}
        },
        blocks.NOT_READY_NOTE_BLOCK: {
            blocks.NOT_READY_NOTE_BLOCK: {"type": "plain_text_input", "value": draw(HOSTILE)}
        },
        blocks.NOT_READY_RECONTACT_BLOCK: {
            blocks.NOT_READY_RECONTACT_BLOCK: {
                "type": "datepicker",
                "selected_date": draw(st.one_of(st.none(), HOSTILE, st.dates().map(str))),
            }
        },
    }
    payload = {
        "type": "view_submission",
        "team": TEAM,
        "user": _user(draw(USERS)),
        "api_app_id": "A0HANDOFF",
        "token": "legacy",
        "trigger_id": "t",
        "view": {
            "id": "V0X",
            "type": "modal",
            "callback_id": blocks.NOT_READY_CALLBACK_ID,
            "private_metadata": draw(HOSTILE),
            "state": {"values": values},
        },
    }
    return {"payload": json.dumps(payload)}


@st.composite
def slash_commands(draw: st.DrawFn, response_url: str) -> dict[str, str]:
    return {
        "token": "legacy",
        "team_id": TEAM["id"],
        "team_domain": TEAM["domain"],
        "channel_id": draw(st.sampled_from(["C0SALES", "D0DM", "C0OTHER"])),
        "channel_name": "x",
        "user_id": draw(USERS).encode("utf-8", "replace").decode(),
        "user_name": "someone",
        "command": "/leads",
        # Form fields travel as UTF-8 bytes, so a lone surrogate cannot be in them.
        "text": " ".join(draw(st.lists(WORDS, max_size=5))).encode("utf-8", "replace").decode(),
        "api_app_id": "A0HANDOFF",
        "response_url": response_url,
        "trigger_id": "t",
    }


@st.composite
def event_callbacks(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["app_home_opened", "user_change", "message", "app_mention"]))
    event: dict[str, Any] = {"type": kind, "event_ts": "1.2"}
    if kind == "app_home_opened":
        event |= {"user": draw(USERS), "tab": draw(st.sampled_from(["home", "messages", ""]))}
    elif kind == "user_change":
        event["user"] = {"id": draw(USERS), "deleted": draw(st.booleans()), "name": draw(HOSTILE)}
    else:
        event |= {"user": draw(USERS), "text": draw(HOSTILE), "channel": "C0SALES"}
    return {
        "token": "legacy",
        "team_id": TEAM["id"],
        "api_app_id": "A0HANDOFF",
        "type": "event_callback",
        "event_id": f"Ev{draw(st.integers(0, 10**12))}",
        "event_time": 1,
        "event": event,
    }


async def _send(client: AppClient, body: dict[str, Any]) -> tuple[int, str]:
    """Interactivity and commands are form-encoded; the Events API posts JSON."""
    if "payload" in body or "command" in body:
        return await send_to_slack_endpoint(client, body)
    raw = json.dumps(body)
    ts = str(int(time.time()))
    response = await client.post(
        "/slack/events",
        data=raw.encode(),
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SignatureVerifier(SIGNING_SECRET).generate_signature(
                timestamp=ts, body=raw
            ),
        },
    )
    return response.status, await response.text()


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


async def test_generated_slack_requests_are_all_answered_and_never_crash_a_listener(
    start_app: StartApp,
    fake_slack: FakeSlackApi,
    clock: LiveClock,
    database_url: str,
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = slack_config(channels={"C0SALES": {"reps": {"U0ANA": 1, "U0BEN": 1}}})
    client = await start_slack_app(start_app, fake_slack, config)
    await ingest_hot_lead(client, clock, fake_slack)  # lead 1 exists: some values hit it
    response_url = fake_slack.response_url("fuzz")
    shapes = st.one_of(
        block_actions(response_url),
        view_submissions(),
        slash_commands(response_url),
        event_callbacks(),
    )
    requests = draw(shapes, budget(request.config, REQUESTS))
    backend = database_url.partition(":")[0]
    tally = Tally(f"/slack/events [{backend}]")
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(form: dict[str, Any]) -> None:
        async with gate:
            status, text = await _send(client, form)
        problem = None if status == 200 else f"{status} {text[:200]}"
        tally.record(status, problem, lambda: form)

    baseline = len(asyncio.all_tasks())
    with caplog.at_level(logging.ERROR):
        await asyncio.gather(*(one(form) for form in requests))

        async def listeners_done() -> bool:
            # Bolt runs listeners on after the answer; let them finish before judging.
            return len(asyncio.all_tasks()) <= baseline

        await wait_until(listeners_done, within=60, what="Slack listeners to finish")
    crashed = [r for r in caplog.records if r.getMessage().startswith("Slack listener failed")]
    with capsys.disabled():
        print(
            "\n" + tally.summary(not_answered_200=len(tally.broken), listener_crashes=len(crashed))
        )
    assert tally.sent >= 100
    assert tally.broken == []
    assert [f"{r.getMessage()}: {r.exc_info[1]!r}" for r in crashed if r.exc_info] == []
    assert not fake_slack.take_invalid_payloads()  # every answer was valid Block Kit
