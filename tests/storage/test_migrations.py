"""The committed migrations build exactly the schema the models describe, and re-run safely."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tortoise import Tortoise

from bot.storage.database import migrate_database, open_database, tortoise_config
from bot.storage.models import Lead

MIGRATIONS = Path(__file__).resolve().parents[2] / "bot" / "storage" / "migrations"


def _columns(path: Path) -> dict[str, set[tuple[str, str, int]]]:
    with sqlite3.connect(path) as conn:
        tables = [
            row[0]
            for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            if row[0] != "tortoise_migrations" and not row[0].startswith("sqlite_")
        ]
        return {
            table: {(r[1], r[2].upper(), r[3]) for r in conn.execute(f"PRAGMA table_info({table})")}
            for table in tables
        }


async def test_migrations_match_the_models(tmp_path: Path) -> None:
    migrated = tmp_path / "migrated.sqlite3"
    generated = tmp_path / "generated.sqlite3"
    await migrate_database(f"sqlite://{migrated}")
    await Tortoise.init(config=tortoise_config(f"sqlite://{generated}"))
    try:
        await Tortoise.generate_schemas()
    finally:
        await Tortoise.close_connections()
    assert _columns(migrated) == _columns(generated), (
        "models changed without a migration: run `.venv/bin/tortoise makemigrations`"
    )


async def test_restart_keeps_data(database_url: str) -> None:
    async with open_database(database_url):
        await Lead.create(email="kept@acme.io", created_at=_now(), updated_at=_now())
    async with open_database(database_url):  # migrations run again on every start-up
        assert await Lead.filter(email="kept@acme.io").exists()


def _now() -> datetime:

    return datetime.now(UTC)


async def test_replicas_starting_together_migrate_once(database_url: str) -> None:
    # Several replicas' start-ups at once (here: tasks) must neither fail nor double-apply.
    if not database_url.startswith("postgres"):
        pytest.skip("replicas share a PostgreSQL server; an SQLite file has one process")
    await asyncio.gather(*(migrate_database(database_url) for _ in range(3)))
    async with open_database(database_url, run_migrations=False):
        conn = Tortoise.get_connection("default")
        rows = await conn.execute_query_dict("SELECT COUNT(*) AS n FROM tortoise_migrations")
        assert int(rows[0]["n"]) == len(list(MIGRATIONS.glob("0*.py")))


async def test_leads_stored_before_the_domain_column_get_their_domain(database_url: str) -> None:
    from tortoise.migrations.api import migrate

    await migrate(config=tortoise_config(database_url), target="models.0001_initial")
    await Tortoise.close_connections()
    async with open_database(database_url, run_migrations=False):
        conn = Tortoise.get_connection("default")
        await conn.execute_script(
            "INSERT INTO leads (email, utm, custom, state, score, grade, score_reasons,"
            " created_at, updated_at, cycle) VALUES ('ana@acme.io', '{}', '{}', 'claimed', 0,"
            " 'D', '[]', '2026-11-24 10:00:00+00:00', '2026-11-24 10:00:00+00:00', 1)"
        )
    async with open_database(database_url):  # start-up applies the rest, backfill included
        assert (await Lead.get(email="ana@acme.io")).email_domain == "acme.io"
