"""The sandbox workspace: its people and channels, and the state the page shows.

The state is built only from what the bot really sent to the stand-in's Web API (and to its
response URLs), so the page shows exactly the Block Kit the bot posted.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.slack_api import BOT_USER_ID, TEAM_ID, Call, FakeSlackApi


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    real_name: str
    role: str
    title: str


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    purpose: str


# The same IDs as bot/sandbox/sandbox.yml: reps, manager and marketing channel.
PEOPLE = (
    Person("U0ANA", "ana", "Ana García", "rep", "Account Executive, EMEA"),
    Person("U0BEN", "ben", "Ben Okafor", "second rep", "Account Executive"),
    Person("U0MANAGER", "maya", "Maya Chen", "manager", "Head of Sales"),
    Person("U0MARKETER", "marco", "Marco Rossi", "marketer", "Demand Generation"),
)
CHANNELS = (
    Channel("C0SALES", "sales", "Hot leads from everywhere else"),
    Channel("C0EMEA", "sales-emea", "Hot leads from EMEA"),
    Channel("C0MARKETING", "marketing", "Leads sales handed back"),
    Channel("C0MANAGERS", "sales-managers", "Weekly digests"),
)


def dm_id(user_id: str) -> str:
    return f"D{user_id}"


@dataclass
class Interaction:
    """Where a person clicked or typed: where answers on its response_url belong."""

    user: str
    channel: str | None
    message_ts: str | None = None


@dataclass
class Workspace:
    """Conversations, messages (with their earlier versions), modals, Home tabs and files."""

    fake: FakeSlackApi
    messages: list[dict[str, Any]] = field(default_factory=list)
    modals: dict[str, dict[str, Any]] = field(default_factory=dict)  # view id -> modal
    homes: dict[str, dict[str, Any]] = field(default_factory=dict)  # user id -> view
    notices: list[dict[str, Any]] = field(default_factory=list)  # what the sandbox itself did
    triggers: dict[str, str] = field(default_factory=dict)  # trigger_id -> user id
    interactions: dict[str, Interaction] = field(default_factory=dict)  # response_url key
    revision: int = 0
    _last_ts: float = 0.0
    _listeners: set[asyncio.Queue[int]] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        for person in PEOPLE:
            self.fake.add_user(
                person.id,
                name=person.name,
                real_name=person.real_name,
                email=f"{person.name}@sandbox.example",
            )
        self.fake.observers.append(self.observe)

    # --- what the bot did ----------------------------------------------------------------------

    def observe(self, call: Call) -> None:
        if call.method == "response_url":
            self._apply_response(call.args)
        elif call.ok:
            self._apply(call.method, call.args, dict(call.response))
        else:
            # Shown as Slack would answer it; the bot's outbox retries what can be retried.
            error = call.response.get("error") or f"HTTP {call.status}"
            text = f"Slack answered the bot's {call.method}: {error}"
            self.notices.append({"user": "", "channel": None, "text": text, "at": time.time()})
        self.changed()

    def _apply(self, method: str, args: dict[str, Any], response: dict[str, Any]) -> None:
        if method == "chat.postMessage":
            self._add_message(args, str(response["ts"]))
        elif method == "chat.update":
            self._update_message(conversation(str(args["channel"])), str(args["ts"]), args)
        elif method == "chat.postEphemeral":
            self._add_message(args, str(response["message_ts"]), ephemeral_to=str(args["user"]))
        elif method in ("views.open", "views.push"):
            user = self.triggers.get(str(args.get("trigger_id", "")), "")
            view = response["view"]
            self.modals[view["id"]] = {"id": view["id"], "user": user, "view": view, "errors": {}}
        elif method == "views.update":
            view = response["view"]
            modal = self.modals.get(view["id"])
            if modal is not None:
                modal.update(view=view, errors={})
        elif method == "views.publish":
            self.homes[str(args["user_id"])] = response["view"]
        elif method == "files.completeUploadExternal":
            for entry in response["files"]:
                self._add_file(entry["id"])

    def _add_message(
        self, args: dict[str, Any], ts: str, *, ephemeral_to: str | None = None
    ) -> dict[str, Any]:
        message = {
            "channel": conversation(str(args.get("channel", ""))),
            "ts": ts,
            "thread_ts": args.get("thread_ts"),
            "user": BOT_USER_ID,
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
            "ephemeral_to": ephemeral_to,
            "versions": [],
            "file": None,
            "at": time.time(),  # the fake's ts values are not wall-clock times
        }
        self.messages.append(message)
        return message

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        for message in self.messages:
            if message["channel"] == channel and message["ts"] == ts:
                return message
        return None

    def _update_message(self, channel: str, ts: str, args: dict[str, Any]) -> None:
        message = self._find(channel, ts)
        if message is None:
            self._add_message({**args, "channel": channel}, ts)
            return
        message["versions"].append({"text": message["text"], "blocks": message["blocks"]})
        message["text"] = args.get("text", message["text"])
        message["blocks"] = args.get("blocks") or []

    def _add_file(self, file_id: str) -> None:
        upload = self.fake.files[file_id]
        message = self._add_message(
            {
                "channel": upload.channel or "",
                "thread_ts": upload.thread_ts,
                "text": upload.initial_comment or "",
            },
            self._next_ts(),
        )
        message["file"] = {
            "id": upload.id,
            "name": upload.filename,
            "title": upload.title,
            "size": upload.length,
            "url": f"/sandbox/files/{upload.id}",
        }

    def _apply_response(self, body: dict[str, Any]) -> None:
        """A response_url post: replace or delete the clicked message, or answer in place."""
        interaction = self.interactions.get(str(body.get("key")))
        if interaction is None or interaction.channel is None:
            return
        channel = conversation(interaction.channel)
        if body.get("delete_original") and interaction.message_ts:
            original = self._find(channel, interaction.message_ts)
            if original is not None:
                self.messages.remove(original)
            return
        if body.get("replace_original") and interaction.message_ts:
            self._update_message(channel, interaction.message_ts, body)
            return
        in_channel = body.get("response_type") == "in_channel"
        self._add_message(
            {**body, "channel": channel},
            self._next_ts(),
            ephemeral_to=None if in_channel else interaction.user,
        )

    # --- what the sandbox did ------------------------------------------------------------------

    def note(self, user: str, channel: str | None, text: str) -> None:
        """A line only the sandbox shows (a sample lead was sent, the bot answered an error)."""
        self.notices.append({"user": user, "channel": channel, "text": text, "at": time.time()})
        self.changed()

    def new_trigger(self, user: str) -> str:
        trigger_id = f"{next(self._ids)}.{TEAM_ID}.sandbox"
        self.triggers[trigger_id] = user
        return trigger_id

    def new_response_url(self, interaction: Interaction) -> str:
        key = f"sandbox-{next(self._ids)}"
        self.interactions[key] = interaction
        return self.fake.response_url(key)

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return self._find(channel, ts)

    def close_modal(self, view_id: str) -> None:
        self.modals.pop(view_id, None)
        self.changed()

    def show_errors(self, view_id: str, errors: dict[str, str]) -> None:
        if view_id in self.modals:
            self.modals[view_id]["errors"] = errors
        self.changed()

    def _next_ts(self) -> str:
        """A ts for what the sandbox itself adds (files, response_url answers): wall-clock
        based, so it never collides with the fake's own counter-based ones."""
        self._last_ts = max(time.time(), self._last_ts + 0.000001)
        return f"{self._last_ts:.6f}"

    # --- what the page reads -------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        files = self.fake.files
        return {
            "revision": self.revision,
            "bot_user_id": BOT_USER_ID,
            "people": [person.__dict__ for person in PEOPLE],
            "channels": [channel.__dict__ for channel in CHANNELS],
            "messages": self.messages,
            "modals": list(self.modals.values()),
            "homes": self.homes,
            "notices": self.notices,
            "files": [
                {"id": f.id, "name": f.filename, "channel": f.channel, "completed": f.completed}
                for f in files.values()
            ],
        }

    def changed(self) -> None:
        self.revision += 1
        for queue in self._listeners:
            queue.put_nowait(self.revision)

    def listen(self) -> asyncio.Queue[int]:
        queue: asyncio.Queue[int] = asyncio.Queue()
        self._listeners.add(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue[int]) -> None:
        self._listeners.discard(queue)


def conversation(channel: str) -> str:
    """Posting to a user ID lands in the DM with that user, as in Slack."""
    return dm_id(channel) if channel.startswith(("U", "W")) else channel
