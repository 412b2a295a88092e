"""Requests as Slack sends them: form-encoded payloads signed with the signing secret."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

from tests.flows.conftest import AppClient

SIGNING_SECRET = "test-signing-secret"
TEAM = {"id": "T0TEAM", "domain": "handoff-test"}


async def send_to_slack_endpoint(
    client: AppClient,
    form: dict[str, str],
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
) -> tuple[int, str]:
    body = urlencode(form)
    ts = str(timestamp if timestamp is not None else int(time.time()))  # Bolt uses real time
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    response = await client.post(
        "/slack/events",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        },
    )
    return response.status, await response.text()


def block_action(
    action_id: str,
    user: str,
    *,
    value: str | None = None,
    selected_value: str | None = None,
    channel: str = "C0SALES",
    message_ts: str = "1700000000.000100",
    response_url: str = "http://127.0.0.1:9/response-unused",
) -> dict[str, str]:
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": "actions",
        "type": "button" if selected_value is None else "static_select",
        "action_ts": f"{time.time():.6f}",
    }
    if value is not None:
        action["value"] = value
    if selected_value is not None:
        action["selected_option"] = {
            "text": {"type": "plain_text", "text": selected_value},
            "value": selected_value,
        }
    payload = {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
        "api_app_id": "A0HANDOFF",
        "token": "legacy-verification-token",
        "trigger_id": f"trigger-{user}-{action_id}",
        "channel": {"id": channel, "name": "sales"},
        "container": {"type": "message", "channel_id": channel, "message_ts": message_ts},
        "message": {"ts": message_ts, "type": "message", "text": "card"},
        "response_url": response_url,
        "actions": [action],
    }
    return {"payload": json.dumps(payload)}


def view_submission(
    callback_id: str, user: str, private_metadata: str, values: dict[str, Any]
) -> dict[str, str]:
    payload = {
        "type": "view_submission",
        "team": TEAM,
        "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
        "api_app_id": "A0HANDOFF",
        "token": "legacy-verification-token",
        "trigger_id": f"trigger-{user}-view",
        "view": {
            "id": "V0NOTREADY",
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
        },
    }
    return {"payload": json.dumps(payload)}


def not_ready_values(reason: str, note: str | None, recontact: str | None) -> dict[str, Any]:
    return {
        "reason": {"reason": {"type": "radio_buttons", "selected_option": {"value": reason}}},
        "note": {"note": {"type": "plain_text_input", "value": note}},
        "recontact_after": {"recontact_after": {"type": "datepicker", "selected_date": recontact}},
    }


def event_callback(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM["id"],
        "api_app_id": "A0HANDOFF",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": event,
    }


def message_text(message: dict[str, Any]) -> str:
    """All text of a message's blocks, for assertions on what a person would read."""
    return json.dumps(message.get("blocks", []), ensure_ascii=False) + message.get("text", "")


def mrkdwn_texts(message: dict[str, Any]) -> list[str]:
    """Every string Slack parses for mentions and links: mrkdwn objects and the fallback text.
    (plain_text objects are shown literally, so `<!channel>` there pings nobody.)"""
    found: list[str] = [str(message.get("text", ""))]

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                found.append(str(node.get("text", "")))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.get("blocks", []))
    return found


def slash_command(
    text: str, user: str, response_url: str, channel: str = "C0SALES"
) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM["id"],
        "team_domain": TEAM["domain"],
        "channel_id": channel,
        "channel_name": "sales",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/leads",
        "text": text,
        "api_app_id": "A0HANDOFF",
        "response_url": response_url,
        "trigger_id": f"trigger-{user}-command",
    }
