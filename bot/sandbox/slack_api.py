"""A fake Slack Web API on loopback: records calls, validates Block Kit, scripts failures."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.sandbox.block_kit import validate_message, validate_view
from bot.sandbox.rate_limit import ChannelRateLimit

DEFAULT_TOKEN = "xoxb-test"  # noqa: S105 - the fake's own token, not a secret
TEAM_ID = "T0TEST"
TEAM_NAME = "Handoff Test"
BOT_USER_ID = "UBOT0001"
BOT_ID = "BBOT0001"

# Arguments Slack accepts as JSON text inside form posts; decoded so tests see one shape.
_JSON_ARGS = frozenset({"blocks", "view", "attachments", "files", "metadata"})
_MESSAGE_METHODS = frozenset(
    {"chat.postMessage", "chat.update", "chat.postEphemeral", "chat.scheduleMessage"}
)
_VIEW_METHODS = frozenset({"views.open", "views.update", "views.push", "views.publish"})

# (args, origin of the fake's own URL) -> response body
Handler = Callable[[dict[str, Any], str], dict[str, Any]]
# Told of every answered call (and of response_url posts, as method "response_url").
Observer = Callable[["Call"], None]
# Methods Slack limits per channel (the "special" tier of chat.postMessage).
_RATE_LIMITED_METHODS = frozenset({"chat.postMessage"})


@dataclass(frozen=True)
class Call:
    """One request to ``/api/<method>``; ``args`` merges query, form and JSON body."""

    method: str
    args: dict[str, Any]
    headers: Mapping[str, str]
    status: int = 200
    response: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response.get("ok"))


@dataclass(frozen=True)
class InvalidPayload:
    method: str
    problems: tuple[str, ...]
    args: dict[str, Any]


@dataclass(frozen=True)
class _Failure:
    status: int
    error: str
    retry_after: int


@dataclass
class UploadedFile:
    """A file from files_upload_v2: announced, uploaded to our URL, then completed."""

    id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None
    thread_ts: str | None = None
    completed: bool = False


class FakeSlackApi:
    """The Slack Web API subset Handoff uses, answering with Slack's own response shapes."""

    def __init__(
        self,
        *,
        tokens: frozenset[str] = frozenset({DEFAULT_TOKEN}),
        rate_limit: ChannelRateLimit | None = None,
        channels: frozenset[str] | None = None,
    ) -> None:
        self.tokens = tokens
        self.rate_limit = rate_limit  # None: unlimited, so tests are not paced
        self.channels = channels  # None: any channel exists; else these, DMs and user IDs
        self.observers: list[Observer] = []
        self.calls: list[Call] = []
        self.invalid_payloads: list[InvalidPayload] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (channel, ts) -> message
        self.views: dict[str, dict[str, Any]] = {}  # view id -> view
        self.home_views: dict[str, dict[str, Any]] = {}  # user id -> last published Home tab
        self.files: dict[str, UploadedFile] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.usergroups: dict[str, list[str]] = {}
        self.base_url = ""  # "http://127.0.0.1:PORT/api/" once running
        self._failures: defaultdict[str, deque[_Failure]] = defaultdict(deque)
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._handlers: dict[str, Handler] = {
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "conversations.open": self._conversations_open,
            "views.open": self._views_open,
            "views.push": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
        }
        self.app = web.Application()
        self.app.router.add_route("*", "/api/{method}", self._handle_api)
        self.app.router.add_post("/upload/{file_id}", self._handle_upload)
        self.app.router.add_post("/response/{key}", self._handle_response_url)
        self.app.router.add_get("/socket", self._handle_socket)
        self.sockets: list[web.WebSocketResponse] = []  # Socket Mode connections, newest last
        self.socket_acks: list[dict[str, Any]] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []  # (key, JSON body) per response_url

    # --- test-facing helpers -----------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int = 500,
        *,
        error: str | None = None,
        retry_after: int = 1,
        count: int = 1,
    ) -> None:
        """Make the next ``count`` calls to ``method`` fail, in the order scripted.

        ``status=500`` (or any 5xx) answers that status; ``status=429`` answers ``ratelimited``
        with a ``Retry-After`` header; ``error="channel_not_found"`` answers HTTP 200 with
        ``{"ok": false, "error": ...}`` as Slack does for API-level errors.
        """
        if error is not None:
            failure = _Failure(200, error, retry_after)
        elif status == 429:
            failure = _Failure(429, "ratelimited", retry_after)
        else:
            failure = _Failure(status, "internal_error", retry_after)
        self._failures[method].extend([failure] * count)

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        tz: str = "UTC",
        deleted: bool = False,
        email: str | None = None,
        is_bot: bool = False,
    ) -> dict[str, Any]:
        name = name or user_id.lower()
        real_name = real_name or name.title()
        user = {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": real_name,
            "deleted": deleted,
            "is_bot": is_bot,
            "tz": tz,
            "tz_label": tz,
            "tz_offset": 0,
            "profile": {
                "real_name": real_name,
                "display_name": name,
                "email": email or f"{name}@example.com",
            },
        }
        self.users[user_id] = user
        return user

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    # A built-in default timeout keeps a missing call from hanging the whole test run.
    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Call]:
        """Wait until ``method`` has been called ``count`` times; returns those calls."""
        try:
            async with asyncio.timeout(timeout), self._changed:
                await self._changed.wait_for(lambda: len(self.calls_to(method)) >= count)
        except TimeoutError:
            seen = [call.method for call in self.calls]
            raise AssertionError(
                f"expected {count} call(s) to {method} within {timeout}s; calls seen: {seen}"
            ) from None
        return self.calls_to(method)[:count]

    def take_invalid_payloads(self) -> list[InvalidPayload]:
        """Return and forget the rejected payloads, for tests that send them on purpose."""
        taken, self.invalid_payloads = self.invalid_payloads, []
        return taken

    def dm_channel(self, user_id: str) -> str:
        """The channel ID conversations.open answers for a one-to-one DM with ``user_id``."""
        return f"D{user_id}"

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        """Current state of messages posted (and updated), oldest first."""
        return [
            message
            for (message_channel, _), message in sorted(self.messages.items(), key=_by_ts)
            if channel is None or message_channel == channel
        ]

    # --- HTTP ---------------------------------------------------------------------------------

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_args(request)
        token = _bearer(request.headers.get("Authorization")) or args.pop("token", None)
        status, headers, body = await self._answer(method, args, token, str(request.url.origin()))
        call = Call(method, args, dict(request.headers), status, body)
        self.calls.append(call)
        for observer in self.observers:
            observer(call)
        async with self._changed:
            self._changed.notify_all()
        return web.json_response(body, status=status, headers=headers)

    async def _answer(
        self, method: str, args: dict[str, Any], token: str | None, origin: str
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        if not token:
            return 200, {}, {"ok": False, "error": "not_authed"}
        if token not in self.tokens:
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        if self._failures[method]:
            failure = self._failures[method].popleft()
            headers = {"Retry-After": str(failure.retry_after)} if failure.status == 429 else {}
            return failure.status, headers, {"ok": False, "error": failure.error}
        if method in _MESSAGE_METHODS and not self._channel_exists(str(args.get("channel", ""))):
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        if self.rate_limit is not None and method in _RATE_LIMITED_METHODS:
            wait = self.rate_limit.retry_after(str(args.get("channel", "")))
            if wait is not None:
                return 429, {"Retry-After": str(wait)}, {"ok": False, "error": "ratelimited"}
        problems = self._validate(method, args)
        if problems:
            self.invalid_payloads.append(InvalidPayload(method, tuple(problems), args))
            return (
                200,
                {},
                {
                    "ok": False,
                    "error": "invalid_blocks",
                    "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]},
                },
            )
        handler = self._handlers.get(method)
        if handler is None:
            return 200, {}, {"ok": True}
        return 200, {}, handler(args, origin)

    def _channel_exists(self, channel: str) -> bool:
        if self.channels is None or channel in self.channels or channel in self.users:
            return True
        return channel.startswith("D") and channel[1:] in self.users

    def response_url(self, key: str) -> str:
        """A response_url for a slash command or action payload, answered by this fake."""
        return self.base_url.removesuffix("/api/") + f"/response/{key}"

    async def wait_for_response(
        self, key: str, count: int = 1, within: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until ``count`` messages were posted to the response_url ``key``."""

        def mine() -> list[dict[str, Any]]:
            return [body for k, body in self.responses if k == key]

        try:
            async with asyncio.timeout(within), self._changed:
                await self._changed.wait_for(lambda: len(mine()) >= count)
        except TimeoutError:
            raise AssertionError(
                f"expected {count} response(s) on {key} within {within}s; got {len(mine())}"
            ) from None
        return mine()

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        problems = validate_message(body) if "blocks" in body else []
        if problems:
            self.invalid_payloads.append(InvalidPayload("response_url", tuple(problems), body))
            return web.json_response({"ok": False, "error": "invalid_blocks"}, status=400)
        async with self._changed:
            self.responses.append((request.match_info["key"], body))
            self._changed.notify_all()
        key = request.match_info["key"]
        call = Call("response_url", {"key": key, **body}, dict(request.headers))
        for observer in self.observers:
            observer(call)
        return web.json_response({"ok": True})

    def _apps_connections_open(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        return {"ok": True, "url": origin.replace("http://", "ws://") + "/socket"}

    async def _handle_socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode as Slack runs it: hello, then envelopes out and acks back."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {}})
        async with self._changed:
            self.sockets.append(ws)
            self._changed.notify_all()
        async for message in ws:
            if message.type == web.WSMsgType.TEXT:
                async with self._changed:
                    self.socket_acks.append(json.loads(message.data))
                    self._changed.notify_all()
        return ws

    async def send_envelope(self, kind: str, payload: dict[str, Any], within: float = 5.0) -> str:
        """Push one Socket Mode envelope to the connected app; returns its envelope_id."""

        def open_sockets() -> list[web.WebSocketResponse]:
            return [ws for ws in self.sockets if not ws.closed]

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: bool(open_sockets()))
        envelope_id = f"env-{next(self._ids)}"
        await open_sockets()[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": kind != "events_api",
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id

    async def wait_for_ack(self, envelope_id: str, within: float = 5.0) -> dict[str, Any]:
        def found() -> list[dict[str, Any]]:
            return [a for a in self.socket_acks if a.get("envelope_id") == envelope_id]

        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: bool(found()))
        return found()[0]

    async def _handle_upload(self, request: web.Request) -> web.Response:
        upload = self.files.get(request.match_info["file_id"])
        if upload is None:
            return web.Response(status=404, text="file not found")
        upload.content = await request.read()
        # files.slack.com answers text/plain; slack_sdk only checks the status.
        return web.Response(text=f"OK - {len(upload.content)}")

    @staticmethod
    def _validate(method: str, args: dict[str, Any]) -> list[str]:
        if method in _MESSAGE_METHODS:
            return validate_message(args)
        if method in _VIEW_METHODS:
            return validate_view(args.get("view"))
        return []

    # --- methods ------------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):08d}"

    def _next_ts(self) -> str:
        micros = 1_700_000_000_000_000 + 100 * next(self._ids)
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _auth_test(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://handoff-test.slack.com/",
            "team": TEAM_NAME,
            "user": "handoff",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "ts": ts,
            "text": args.get("text", ""),
            "team": TEAM_ID,
        }
        if "blocks" in args:
            message["blocks"] = args["blocks"]
        if "thread_ts" in args:
            message["thread_ts"] = args["thread_ts"]
        return message

    def _chat_post_message(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        channel = args.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if "text" not in args and "blocks" not in args and "attachments" not in args:
            return {"ok": False, "error": "no_text"}
        ts = self._next_ts()
        message = self._message(args, ts)
        self.messages[(channel, ts)] = {**message, "channel": channel}
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        channel, ts = args.get("channel"), args.get("ts")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not ts:
            return {"ok": False, "error": "message_not_found"}
        message = self._message(args, ts)
        # Messages the fake never saw (a card from a payload file) are accepted and stored.
        self.messages[(channel, ts)] = {**message, "channel": channel}
        return {
            "ok": True,
            "channel": channel,
            "ts": ts,
            "text": message["text"],
            "message": message,
        }

    def _chat_post_ephemeral(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        if not args.get("channel"):
            return {"ok": False, "error": "channel_not_found"}
        if not args.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _conversations_open(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        channel_id = self.dm_channel(users[0]) if len(users) == 1 else self._next_id("G")
        return {"ok": True, "channel": {"id": channel_id}}

    def _store_view(self, view: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view_id = view_id or self._next_id("V")
        stored = {
            **view,
            "id": view_id,
            "team_id": TEAM_ID,
            "app_id": "A0TEST",
            "bot_id": BOT_ID,
            "hash": self._next_id("h"),
            "state": {"values": {}},
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
        }
        self.views[view_id] = stored
        return stored

    def _views_open(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        if not args.get("trigger_id") and not args.get("interactivity_pointer"):
            return {"ok": False, "error": "invalid_arguments"}
        return {"ok": True, "view": self._store_view(args["view"])}

    def _views_update(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        view_id = args.get("view_id")
        if view_id is None and args.get("external_id") is None:
            return {"ok": False, "error": "invalid_arguments"}
        if view_id is not None and view_id not in self.views:
            return {"ok": False, "error": "not_found"}
        return {"ok": True, "view": self._store_view(args["view"], view_id)}

    def _views_publish(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        user_id = args.get("user_id")
        if not user_id:
            return {"ok": False, "error": "invalid_arguments"}
        stored = self._store_view(args["view"])
        self.home_views[user_id] = stored
        return {"ok": True, "view": stored}

    def _users_info(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        user_id = str(args.get("user", ""))
        if user_id not in self.users:
            if not user_id.startswith(("U", "W")):
                return {"ok": False, "error": "user_not_found"}
            # Unregistered user IDs answer as ordinary people in UTC, so flow tests only
            # register the users whose details matter to them.
            self.add_user(user_id)
        return {"ok": True, "user": self.users[user_id]}

    def _usergroups_users_list(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        group = str(args.get("usergroup", ""))
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(self.usergroups[group])}

    def _files_get_upload_url(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        filename, length = args.get("filename"), args.get("length")
        if not filename or length is None:
            return {"ok": False, "error": "invalid_arguments"}
        file_id = self._next_id("F")
        self.files[file_id] = UploadedFile(file_id, str(filename), int(length))
        return {"ok": True, "upload_url": f"{origin}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, args: dict[str, Any], origin: str) -> dict[str, Any]:
        entries = args.get("files")
        if not isinstance(entries, list) or not entries:
            return {"ok": False, "error": "invalid_arguments"}
        completed = []
        for entry in entries:
            upload = self.files.get(str(entry.get("id")))
            if upload is None or upload.content is None:
                return {"ok": False, "error": "file_not_found"}
            if len(upload.content) != upload.length:
                return {"ok": False, "error": "file_size_mismatch"}
            upload.title = entry.get("title") or upload.filename
            upload.channel = args.get("channel_id") or args.get("channels")
            upload.initial_comment = args.get("initial_comment")
            upload.thread_ts = args.get("thread_ts")
            upload.completed = True
            completed.append(
                {
                    "id": upload.id,
                    "name": upload.filename,
                    "title": upload.title,
                    "size": upload.length,
                    "channels": [upload.channel] if upload.channel else [],
                }
            )
        return {"ok": True, "files": completed}


def _by_ts(item: tuple[tuple[str, str], dict[str, Any]]) -> float:
    return float(item[0][1])


def _bearer(header: str | None) -> str | None:
    if header and header.startswith("Bearer "):
        return header.removeprefix("Bearer ").strip()
    return None


async def _read_args(request: web.Request) -> dict[str, Any]:
    """slack_sdk sends query parameters, form posts or JSON bodies depending on the method."""
    args: dict[str, Any] = dict(request.query)
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        else:
            form = await request.post()
            args.update({key: value for key, value in form.items() if isinstance(value, str)})
    for key in _JSON_ARGS & args.keys():
        if isinstance(args[key], str):
            # Undecodable text is left as sent, so validation reports it.
            with contextlib.suppress(json.JSONDecodeError):
                args[key] = json.loads(args[key])
    return args


@asynccontextmanager
async def run_fake_slack(
    *, tokens: frozenset[str] = frozenset({DEFAULT_TOKEN})
) -> AsyncIterator[FakeSlackApi]:
    """Serve a FakeSlackApi on 127.0.0.1 at a free port; ``.base_url`` ends in ``/api/``."""
    fake = FakeSlackApi(tokens=tokens)
    server = TestServer(fake.app, host="127.0.0.1")
    await server.start_server()
    try:
        fake.base_url = str(server.make_url("/api/"))
        yield fake
    finally:
        for ws in fake.sockets:
            await ws.close()
        await server.close()
