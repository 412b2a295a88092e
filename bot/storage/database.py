"""Database lifecycle: Tortoise config from a URL, migrations on start-up, connection checks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import tortoise.context as tortoise_context
from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.exceptions import ConfigurationError
from tortoise.migrations.api import migrate

from bot.storage.errors import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)

CLOSE_TIMEOUT_SECONDS = 10.0
MODELS_MODULE = "bot.storage.models"
MIGRATIONS_MODULE = "bot.storage.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _normalise_url(database_url)},
        "apps": {
            "models": {
                "models": [MODELS_MODULE],
                "default_connection": "default",
                "migrations": MIGRATIONS_MODULE,
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _normalise_url(url: str) -> str:
    # Operators paste libpq-style URLs; Tortoise wants its own scheme names.
    for prefix in ("postgresql://", "postgresql+asyncpg://", "postgres+asyncpg://"):
        if url.startswith(prefix):
            return "postgres://" + url[len(prefix) :]
    return url


SCHEMES = ("sqlite://", "postgres://")


def database_url_problem(database_url: str) -> str | None:
    """Why the URL cannot work, checked before connecting: an unknown scheme, or a SQLite file
    in a directory that does not exist (aiosqlite then never answers, and start-up hangs)."""
    url = _normalise_url(database_url)
    if not url.startswith(SCHEMES):
        scheme = url.partition("://")[0] if "://" in url else url[:20]
        return (
            f"unknown scheme {scheme!r}: use sqlite://path/to/handoff.sqlite3 or "
            "postgresql://user@host:5432/handoff"
        )
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://").partition("?")[0]
        if path and path != ":memory:":
            directory = Path(path).parent
            if not directory.is_dir():
                return f"directory {str(directory)!r} for the SQLite file does not exist"
    return None


def database_url_for_humans(database_url: str) -> str:
    """The URL without its password, to name in messages."""
    parts = urlsplit(_normalise_url(database_url))
    if parts.password is None:
        return database_url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


def database_startup_problem(exc: BaseException, database_url: str) -> str | None:
    """One line saying why the database could not be opened at start-up, if we know why."""
    where = database_url_for_humans(database_url)
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return f"{exc} on {where}; create it first (createdb), or fix the name"
    if isinstance(
        exc, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
    ):
        return f"the database refused the login on {where}: {exc}"
    if isinstance(exc, ConfigurationError):
        return f"{exc} ({where})"
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return f"cannot connect to {where}: {type(exc).__name__}: {exc}"
    return None


MIGRATION_LOCK_KEY = 0x48414E44  # "HAND": one advisory lock id for Handoff's migrations


async def migrate_database(database_url: str) -> None:
    """Apply every pending migration. Never drops data; safe to run on every start-up.

    Tortoise takes no lock while migrating, so on PostgreSQL replicas starting together queue
    on an advisory lock held by a dedicated connection (not a pooled one, which could release
    it on another connection): the first migrates, the others find nothing left to do.
    """
    url = _normalise_url(database_url)
    if not url.startswith("postgres://"):
        await _migrate(database_url)
        return
    lock_conn = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        await lock_conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        await _migrate(database_url)
    finally:
        await lock_conn.close()  # closing the session releases the lock


async def _migrate(database_url: str) -> None:
    await migrate(config=tortoise_config(database_url))
    await Tortoise.close_connections()


@asynccontextmanager
async def open_database(database_url: str, *, run_migrations: bool = True) -> AsyncIterator[None]:
    """Migrate, then hold an ORM context open for the block; connections are checked at once."""
    if run_migrations:
        await migrate_database(database_url)
    # Global fallback: aiohttp runs handlers and workers in tasks that do not inherit the
    # contextvar set here; this process owns exactly one database.
    ctx: TortoiseContext = await Tortoise.init(
        config=tortoise_config(database_url), _enable_global_fallback=True
    )
    try:
        await check_database()
        yield
    finally:
        try:
            # asyncpg's pool waits for every connection to come back; a task stuck holding one
            # must not hold the whole shutdown.
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await ctx.close_connections()
        except TimeoutError:
            log.error("database connections did not close within %s s", CLOSE_TIMEOUT_SECONDS)
        except Exception:
            log.exception("closing the database connections failed")
        finally:
            _release_global_context(ctx)


def _release_global_context(ctx: TortoiseContext) -> None:
    # Tortoise clears its global fallback only when closing succeeds; a close that timed out
    # or failed would leave it set, and the next open_database in this process (a restart in
    # tests, a one-shot command) would refuse to start.
    if tortoise_context._global_context is ctx:
        tortoise_context._global_context = None


async def check_database() -> None:
    """Round-trip to the database; raises if it is unreachable."""
    conn = Tortoise.get_connection("default")
    await conn.execute_query("SELECT 1")


# For the `tortoise makemigrations` developer command only (see pyproject.toml).
TORTOISE_ORM = tortoise_config("sqlite://:memory:")
