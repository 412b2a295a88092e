"""Shared fixtures: one database fixture parametrised over SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tortoise.backends.base.executor import EXECUTOR_CACHE

from bot.config import HandoffConfig, parse_config
from bot.storage.database import open_database
from tests.asyncio_dump import pytest_timeout_set_timer
from tests.fakes import fake_slack
from tests.fakes.hubspot_api import fake_hubspot
from tests.support import FakeClock

# Shared fixtures: a validating fake Slack Web API and a fake HubSpot CRM API, on loopback.
__all__ = ["fake_hubspot", "fake_slack"]
# A timeout also prints the event loop's tasks and where each waits (tests/asyncio_dump.py).
__all__ += ["pytest_timeout_set_timer"]

PG_ADMIN_URL = os.environ.get("HANDOFF_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

_pg_state: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--fuzz-long",
        action="store_true",
        help="run the fuzz tests (tests/fuzz) with ten times the CI budget of requests",
    )


@pytest.fixture(autouse=True)
def _no_slack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bolt silently reads SLACK_* variables; tests pass everything explicitly.
    for name in list(os.environ):
        if name.startswith(("SLACK_", "HANDOFF_")) or name == "DATABASE_URL":
            monkeypatch.delenv(name, raising=False)


async def _pg_reachable() -> str | None:
    if "reason" not in _pg_state:
        try:
            conn = await asyncpg.connect(PG_ADMIN_URL, timeout=3)
            await conn.close()
            _pg_state["reason"] = None
        except (OSError, asyncpg.PostgresError) as exc:
            _pg_state["reason"] = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc}"
    reason: str | None = _pg_state["reason"]
    return reason


def _pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database URL per test, on each backend."""
    # Tortoise caches INSERT statements per connection name and table for the whole process;
    # a run that alternates backends must drop SQLite's statements before using PostgreSQL.
    EXECUTOR_CACHE.clear()
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'handoff.sqlite3'}"
        return
    reason = await _pg_reachable()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"{reason} (PostgreSQL tests are never skipped in CI)")
        pytest.skip(reason)
    name = f"handoff_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _pg_url(name)
    finally:
        admin = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[str]:
    """An open ORM context on a fresh, migrated database (for storage-level tests)."""
    async with open_database(database_url):
        yield database_url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_config(**overrides: Any) -> HandoffConfig:
    data: dict[str, Any] = {
        "hot_threshold": 50,
        "routing": {"default_channel": "C0DEFAULT", "rules": []},
        # Off unless a test asks: at start-up a due weekly digest would post to marketing.
        "reports": {"returns_digest": False},
    }
    data.update(overrides)
    return parse_config(data, "test config")


@pytest.fixture
def config() -> HandoffConfig:
    return make_config()


@pytest.fixture
def example_config_path() -> Iterator[Path]:
    yield Path(__file__).resolve().parent.parent / "handoff.example.yml"
