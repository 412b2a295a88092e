"""Fixtures that run the real aiohttp application on loopback."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.config import HandoffConfig, Settings
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
        app = build_app(settings, app_config or config, clock, poll_seconds=0.05)
        client: AppClient = await aiohttp_client(app)
        return client

    return start
