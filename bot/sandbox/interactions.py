"""What Slack sends the bot, sent for real: signed interaction payloads, slash commands and
events to /slack/events, and signed lead webhooks to /webhooks/*."""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientSession
from slack_sdk.signature import SignatureVerifier

from bot.sandbox.sample_leads import Temperature, build_sample_lead
from bot.sandbox.slack_api import BOT_USER_ID, TEAM_ID, TEAM_NAME
from bot.sandbox.workspace import CHANNELS, PEOPLE, Interaction, Workspace, conversation, dm_id
from bot.signatures import signed_headers

API_APP_ID = "A0SANDBOX"
TEAM = {"id": TEAM_ID, "domain": TEAM_NAME.lower().replace(" ", "-")}


@dataclass(frozen=True)
class BotAnswer:
    status: int
    body: str

    def json(self) -> dict[str, Any]:
        try:
            decoded = json.loads(self.body) if self.body else {}
        except json.JSONDecodeError:
            return {}
        return decoded if isinstance(decoded, dict) else {}


def _user(user_id: str) -> dict[str, str]:
    person = next((p for p in PEOPLE if p.id == user_id), None)
    name = person.name if person else user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": TEAM_ID}


def _channel_name(channel: str) -> str:
    found = next((c.name for c in CHANNELS if c.id == channel), None)
    return found or "directmessage"


@dataclass
class BotLink:
    """Talks to the running bot as Slack and as a marketing system would."""

    workspace: Workspace
    bot_url: str  # "http://127.0.0.1:PORT"
    signing_secret: str
    webhook_secret: str
    session: ClientSession
    rng: random.Random = field(default_factory=random.Random)
    _serial: int = 0
    _event_serial: int = 0

    # --- Slack -> bot --------------------------------------------------------------------------

    async def _post_slack(self, body: str, content_type: str) -> BotAnswer:
        ts = str(int(time.time()))
        signature = str(
            SignatureVerifier(self.signing_secret).generate_signature(timestamp=ts, body=body)
        )
        async with self.session.post(
            f"{self.bot_url}/slack/events",
            data=body.encode(),
            headers={
                "Content-Type": content_type,
                "X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": signature,
            },
        ) as response:
            return BotAnswer(response.status, await response.text())

    async def _post_payload(self, payload: dict[str, Any]) -> BotAnswer:
        body = urlencode({"payload": json.dumps(payload)})
        return await self._post_slack(body, "application/x-www-form-urlencoded")

    def _base(self, kind: str, user: str) -> dict[str, Any]:
        return {
            "type": kind,
            "team": TEAM,
            "user": _user(user),
            "api_app_id": API_APP_ID,
            "token": "sandbox-verification-token",
            "trigger_id": self.workspace.new_trigger(user),
        }

    async def click_in_message(
        self, user: str, channel: str, ts: str, action: dict[str, Any]
    ) -> BotAnswer:
        """A button or menu in a message: block_actions with the message as Slack has it."""
        channel = conversation(channel)
        message = self.workspace.message(channel, ts) or {}
        payload = self._base("block_actions", user)
        payload.update(
            container={
                "type": "message",
                "message_ts": ts,
                "channel_id": channel,
                "is_ephemeral": bool(message.get("ephemeral_to")),
            },
            channel={"id": channel, "name": _channel_name(channel)},
            message={
                "type": "message",
                "user": BOT_USER_ID,
                "ts": ts,
                "text": message.get("text", ""),
                "blocks": message.get("blocks", []),
                **({"thread_ts": message["thread_ts"]} if message.get("thread_ts") else {}),
            },
            state={"values": {}},
            response_url=self.workspace.new_response_url(Interaction(user, channel, ts)),
            actions=[{**action, "action_ts": f"{time.time():.6f}"}],
        )
        return await self._post_payload(payload)

    async def click_in_view(self, user: str, view_id: str, action: dict[str, Any]) -> BotAnswer:
        """A button or menu on the App Home tab or in a modal."""
        view = self.workspace.homes.get(user)
        if view is None or view.get("id") != view_id:
            modal = self.workspace.modals.get(view_id)
            view = modal["view"] if modal else {"id": view_id}
        payload = self._base("block_actions", user)
        payload.update(
            container={"type": "view", "view_id": view_id},
            view=view,
            actions=[{**action, "action_ts": f"{time.time():.6f}"}],
        )
        return await self._post_payload(payload)

    async def submit_view(
        self, user: str, view_id: str, values: dict[str, dict[str, Any]]
    ) -> BotAnswer:
        """A modal's submit button: view_submission; errors come back as response_action."""
        modal = self.workspace.modals.get(view_id)
        if modal is None:
            return BotAnswer(404, '{"error": "no such modal"}')
        view = {**modal["view"], "state": {"values": values}}
        payload = self._base("view_submission", user)
        payload.update(view=view, response_urls=[])
        answer = await self._post_payload(payload)
        response = answer.json()
        action = response.get("response_action")
        if answer.status != 200:
            self.workspace.show_errors(view_id, {"": f"the bot answered HTTP {answer.status}"})
        elif action == "errors":
            self.workspace.show_errors(view_id, dict(response.get("errors") or {}))
        elif action == "update" and isinstance(response.get("view"), dict):
            modal.update(view={**response["view"], "id": view_id}, errors={})
            self.workspace.changed()
        else:
            self.workspace.close_modal(view_id)
        return answer

    async def slash_command(self, user: str, channel: str, command_line: str) -> BotAnswer:
        """``/leads report 7d`` typed in ``channel`` by ``user``."""
        command, _, text = command_line.strip().partition(" ")
        channel = conversation(channel)
        form = {
            "token": "sandbox-verification-token",
            "team_id": TEAM_ID,
            "team_domain": TEAM["domain"],
            "channel_id": channel,
            "channel_name": _channel_name(channel),
            "user_id": user,
            "user_name": _user(user)["name"],
            "command": command,
            "text": text.strip(),
            "api_app_id": API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.workspace.new_response_url(Interaction(user, channel)),
            "trigger_id": self.workspace.new_trigger(user),
        }
        answer = await self._post_slack(urlencode(form), "application/x-www-form-urlencoded")
        if answer.status != 200:
            self.workspace.note(
                user, channel, f"{command} failed: the bot answered {answer.status}"
            )
        return answer

    async def open_home(self, user: str) -> BotAnswer:
        """Opening the app's Home tab: an app_home_opened event."""
        self._event_serial += 1
        event = {
            "type": "app_home_opened",
            "user": user,
            "channel": dm_id(user),
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        }
        body = {
            "token": "sandbox-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": API_APP_ID,
            "type": "event_callback",
            "event_id": f"Ev{int(time.time())}{self._event_serial:04d}",
            "event_time": int(time.time()),
            "event": event,
        }
        return await self._post_slack(json.dumps(body), "application/json")

    # --- marketing -> bot ----------------------------------------------------------------------

    async def post_webhook(self, path: str, body: dict[str, Any]) -> BotAnswer:
        raw = json.dumps(body).encode()
        headers = signed_headers(self.webhook_secret, int(time.time()), raw)
        async with self.session.post(
            f"{self.bot_url}{path}",
            data=raw,
            headers={**headers, "Content-Type": "application/json"},
        ) as response:
            return BotAnswer(response.status, await response.text())

    async def send_sample_lead(self, temperature: Temperature, user: str) -> str:
        """POST a generated lead and its events, signed as a marketing system would."""
        self._serial += 1
        sample = build_sample_lead(temperature, self.rng, self._serial)
        answers = [await self.post_webhook("/webhooks/leads", sample.lead)]
        for event in sample.events:
            body = {"email": sample.lead["email"], **event}
            answers.append(await self.post_webhook("/webhooks/events", body))
        statuses = ", ".join(str(a.status) for a in answers)
        outcome = (
            "sales should see its card in a moment"
            if temperature == "hot"
            else "it stays with marketing (nurturing)"
        )
        summary = f"Sent {sample.summary} (HTTP {statuses}): {outcome}"
        self.workspace.note(user, None, summary)
        return summary
