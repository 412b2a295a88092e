"""Fixtures that run the real aiohttp application on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.config import HandoffConfig, Settings
from bot.outbox import RetryPolicy
from bot.server import build_app
from tests.support import WEBHOOK_SECRET, FakeClock

AppClient = TestClient[Any, Any]


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": None,
        "slack_signing_secret": None,
        "slack_app_token": None,
        "slack_api_url": "http://127.0.0.1:9/api/",
        "database_url": database_url,
        "webhook_secret": WEBHOOK_SECRET,
        "config_path": Path("handoff.yml"),
        "host": "127.0.0.1",
        "port": 0,
    }
    values.update(overrides)
    return Settings(**values)


StartApp = Callable[..., Awaitable[AppClient]]


@pytest.fixture
def start_app(
    database_url: str, aiohttp_client: Any, config: HandoffConfig, clock: FakeClock
) -> StartApp:
    # database_url comes first so the database outlives the app during teardown.
    """Start the whole app against the test database; keyword arguments override settings."""

    async def start(app_config: HandoffConfig | None = None, **overrides: Any) -> AppClient:
        settings = make_settings(database_url, **overrides)
        app = build_app(
            settings,
            app_config or config,
            clock,
            poll_seconds=0.05,
            retry=RetryPolicy(base_seconds=0.05, max_seconds=0.5),
        )
        client: AppClient = await aiohttp_client(app)
        return client

    return start


@dataclass
class ReceivedWebhook:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """A marketing system on loopback that records the webhooks Handoff sends it."""

    url: str = ""
    received: list[ReceivedWebhook] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer first, then 200


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()

    async def handle(request: web.Request) -> web.Response:
        receiver.received.append(ReceivedWebhook(dict(request.headers), await request.read()))
        status = receiver.answers.pop(0) if receiver.answers else 200
        return web.json_response({"ok": status < 300}, status=status)

    app = web.Application()
    app.router.add_post("/hooks/handoff", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    receiver.url = str(server.make_url("/hooks/handoff"))
    try:
        yield receiver
    finally:
        await server.close()
