"""The benchmark's direct database access: throwaway databases, bulk fills in plain SQL (fast),
and the read-outs the table needs (backlog, processing lag, committed transactions)."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

PG_LEADS = """
INSERT INTO leads (email, {domain_col} first_name, last_name, source, campaign, utm, custom,
    state, score, grade, score_reasons, created_at, updated_at, hot_at, cycle, routed_at,
    route_channel, claimed_by, claimed_at, contacted_at, closed_at,
    card_channel, card_ts, dm_channel, dm_ts)
SELECT 'fill' || i || '@company' || (i % 5000) || '.com', {domain_val}
    'First' || (i % 1000), 'Last' || (i % 5000),
    (ARRAY['web','webinar','ads','event','referral','partner'])[1 + i % 6],
    'campaign-' || (i % 40), '{{}}', '{{}}',
    CASE WHEN NOT hot THEN 'nurturing' WHEN NOT claimed THEN 'routed'
         WHEN NOT contacted THEN 'claimed' WHEN r4 < 0.3 THEN 'won' WHEN r4 < 0.6 THEN 'lost'
         WHEN r4 < 0.7 THEN 'disqualified' ELSE 'contacted' END,
    (r1 * 100)::int, (ARRAY['A','B','C','D'])[1 + (i % 4)], '[]', created, created,
    CASE WHEN hot THEN created + interval '5 min' END, CASE WHEN hot THEN 1 ELSE 0 END,
    CASE WHEN hot THEN created + interval '6 min' END,
    CASE WHEN hot THEN 'C0CHAN' || (i % 8) END,
    CASE WHEN claimed THEN 'U0REP' || (i % 30) END,
    CASE WHEN claimed THEN created + interval '6 min' + r2 * interval '1 hour' END,
    CASE WHEN contacted THEN created + interval '2 hours' + r3 * interval '4 hours' END,
    CASE WHEN contacted AND r4 < 0.7 THEN created + r4 * interval '20 days' END,
    -- Routed and claimed leads had their card and owner DM sent: the repair sweep must
    -- not take the filled history for cards that never went out.
    CASE WHEN hot THEN 'C0CHAN' || (i % 8) END, CASE WHEN hot THEN 'fill.' || i END,
    CASE WHEN claimed THEN 'D0REP' || (i % 30) END, CASE WHEN claimed THEN 'fill.' || i END
FROM (
    SELECT i, r1, r2, r3, r4, created, hot, hot AND r2 < 0.85 AS claimed,
        hot AND r2 < 0.85 AND r3 < 0.8 AS contacted
    FROM (
        SELECT i, random() AS r1, random() AS r2, random() AS r3, random() AS r4,
            $1::timestamptz - random() * interval '365 days' AS created, random() < 0.3 AS hot
        FROM generate_series($2::bigint, $3::bigint) AS i
    ) raw
) AS g
"""

# The same shape for SQLite: a recursive counter, julian days for time, text timestamps in
# the format Tortoise writes ("YYYY-MM-DD HH:MM:SS.fff+00:00").
SQLITE_LEADS = """
WITH RECURSIVE seq(i) AS (SELECT :start UNION ALL SELECT i + 1 FROM seq WHERE i < :stop),
raw AS MATERIALIZED (
    SELECT i, (abs(random()) % 1000000) / 1e6 AS r1, (abs(random()) % 1000000) / 1e6 AS r2,
        (abs(random()) % 1000000) / 1e6 AS r3, (abs(random()) % 1000000) / 1e6 AS r4,
        julianday(:now) - (abs(random()) % 365000000) / 1e6 AS created,
        (abs(random()) % 1000) < 300 AS hot
    FROM seq
),
g AS (
    SELECT *, hot AND r2 < 0.85 AS claimed, hot AND r2 < 0.85 AND r3 < 0.8 AS contacted FROM raw
)
INSERT INTO leads (email, {domain_col} first_name, last_name, source, campaign, utm, custom,
    state, score, grade, score_reasons, created_at, updated_at, hot_at, cycle, routed_at,
    route_channel, claimed_by, claimed_at, contacted_at, closed_at,
    card_channel, card_ts, dm_channel, dm_ts)
SELECT 'fill' || i || '@company' || (i % 5000) || '.com', {domain_val}
    'First' || (i % 1000), 'Last' || (i % 5000),
    CASE i % 6 WHEN 0 THEN 'web' WHEN 1 THEN 'webinar' WHEN 2 THEN 'ads' WHEN 3 THEN 'event'
        WHEN 4 THEN 'referral' ELSE 'partner' END,
    'campaign-' || (i % 40), '{{}}', '{{}}',
    CASE WHEN NOT hot THEN 'nurturing' WHEN NOT claimed THEN 'routed'
         WHEN NOT contacted THEN 'claimed' WHEN r4 < 0.3 THEN 'won' WHEN r4 < 0.6 THEN 'lost'
         WHEN r4 < 0.7 THEN 'disqualified' ELSE 'contacted' END,
    CAST(r1 * 100 AS INTEGER), CASE i % 4 WHEN 0 THEN 'A' WHEN 1 THEN 'B' WHEN 2 THEN 'C'
        ELSE 'D' END, '[]', TS(created), TS(created),
    CASE WHEN hot THEN TS(created + 5 / 1440.0) END, CASE WHEN hot THEN 1 ELSE 0 END,
    CASE WHEN hot THEN TS(created + 6 / 1440.0) END,
    CASE WHEN hot THEN 'C0CHAN' || (i % 8) END,
    CASE WHEN claimed THEN 'U0REP' || (i % 30) END,
    CASE WHEN claimed THEN TS(created + 6 / 1440.0 + r2 / 24.0) END,
    CASE WHEN contacted THEN TS(created + 2 / 24.0 + r3 * 4 / 24.0) END,
    CASE WHEN contacted AND r4 < 0.7 THEN TS(created + r4 * 20) END,
    -- Routed and claimed leads had their card and owner DM sent: the repair sweep must
    -- not take the filled history for cards that never went out.
    CASE WHEN hot THEN 'C0CHAN' || (i % 8) END, CASE WHEN hot THEN 'fill.' || i END,
    CASE WHEN claimed THEN 'D0REP' || (i % 30) END, CASE WHEN claimed THEN 'fill.' || i END
FROM g
"""
SQLITE_TS = "strftime('%Y-%m-%d %H:%M:%f+00:00', "

FILL_TRANSITIONS = """
INSERT INTO transitions (lead_id, actor, action, from_state, to_state, detail, at)
SELECT id, claimed_by, 'returned', 'claimed', 'nurturing', '{{"reason": "timing"}}', claimed_at
FROM leads WHERE claimed_by IS NOT NULL AND id % 10 = 0 AND id > {after}
"""
FILL_NUDGES = """
INSERT INTO nudges (lead_id, kind, cycle, status, target, created_at)
SELECT id, 'escalate_unclaimed', 1, 'sent', route_channel, routed_at
FROM leads WHERE routed_at IS NOT NULL AND id % 7 = 0 AND id > {after}
"""


@dataclass(frozen=True)
class Backlog:
    pending: int
    processed: int
    failed: int


class BenchDatabase:
    """One throwaway database: a SQLite file in a temp dir, or a new PostgreSQL database."""

    def __init__(self, backend: str, workdir: Path, pg_admin_url: str) -> None:
        self.backend = backend
        self._admin_url = pg_admin_url
        self._name = f"handoff_bench_{uuid.uuid4().hex[:10]}"
        self._path = workdir / f"{self._name}.sqlite3"
        base = pg_admin_url.rpartition("/")[0]
        self.url = f"{base}/{self._name}" if backend == "postgres" else f"sqlite://{self._path}"

    @property
    def postgres(self) -> bool:
        return self.backend == "postgres"

    async def create(self) -> None:
        if self.postgres:
            admin = await asyncpg.connect(self._admin_url)
            try:
                await admin.execute(f'CREATE DATABASE "{self._name}"')
            finally:
                await admin.close()

    async def drop(self) -> None:
        if self.postgres:
            admin = await asyncpg.connect(self._admin_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{self._name}" WITH (FORCE)')
            finally:
                await admin.close()

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        if self.postgres:
            conn = await asyncpg.connect(self.url)
            try:
                return [tuple(r) for r in await conn.fetch(sql, *args)]
            finally:
                await conn.close()
        return await asyncio.to_thread(self._sqlite_fetch, sql.replace("$1", "?"), args)

    def _sqlite_fetch(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self._path, timeout=30) as conn:
            return list(conn.execute(sql, args))

    async def execute_script(self, statements: list[tuple[str, Any]]) -> None:
        if self.postgres:
            conn = await asyncpg.connect(self.url)
            try:
                for sql, args in statements:
                    await conn.execute(sql, *(args or ()))
            finally:
                await conn.close()
            return
        await asyncio.to_thread(self._sqlite_script, statements)

    def _sqlite_script(self, statements: list[tuple[str, Any]]) -> None:
        with sqlite3.connect(self._path, timeout=60) as conn:
            for sql, args in statements:
                conn.execute(sql, args or {})

    async def has_column(self, table: str, column: str) -> bool:
        if self.postgres:
            conn = await asyncpg.connect(self.url)
            try:
                found = await conn.fetchval(
                    "SELECT 1 FROM information_schema.columns "
                    "WHERE table_name = $1 AND column_name = $2",
                    table,
                    column,
                )
            finally:
                await conn.close()
            return found is not None
        rows = await self.fetch(f"PRAGMA table_info({table})")
        return any(row[1] == column for row in rows)

    async def backlog(self) -> Backlog:
        rows = await self.fetch(
            "SELECT SUM(CASE WHEN status IN ('pending', 'processing') THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN status = 'processed' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) FROM deliveries"
        )
        pending, processed, failed = (int(v or 0) for v in rows[0])
        return Backlog(pending, processed, failed)

    async def discard_backlog(self) -> int:
        """Mark what is still pending failed, so the next scenario starts from an empty queue
        (each scenario measures its own load, not the previous one's leftovers)."""
        left = await self.pending()
        if left:
            await self.execute_script(
                [
                    (
                        "UPDATE deliveries SET status = 'failed', error = 'bench: discarded' "
                        "WHERE status IN ('pending', 'processing')",
                        None,
                    )
                ]
            )
        return left

    async def pending(self) -> int:
        """Deliveries not yet processed: cheap enough to sample every second (an index)."""
        rows = await self.fetch(
            "SELECT COUNT(*) FROM deliveries WHERE status IN ('pending', 'processing')"
        )
        return int(rows[0][0] or 0)

    async def lead_count(self) -> int:
        rows = await self.fetch("SELECT COUNT(*) FROM leads")
        return int(rows[0][0] or 0)

    async def processed_times(self, after_id: int) -> list[datetime]:
        """When each delivery after ``after_id`` was processed, in order."""
        rows = await self.fetch(
            "SELECT processed_at FROM deliveries WHERE id > $1 AND processed_at IS NOT NULL",
            after_id,
        )
        return sorted(_when(row[0]) for row in rows)

    async def max_delivery_id(self) -> int:
        rows = await self.fetch("SELECT MAX(id) FROM deliveries")
        return int(rows[0][0] or 0)

    async def lag_seconds(self, after_id: int) -> list[float]:
        """received -> processed, per delivery after ``after_id``."""
        rows = await self.fetch(
            "SELECT received_at, processed_at FROM deliveries WHERE id > $1 "
            "AND processed_at IS NOT NULL",
            after_id,
        )
        return [(_when(done) - _when(got)).total_seconds() for got, done in rows]

    async def processing_rate(self, after_id: int) -> tuple[int, float]:
        """How many deliveries after ``after_id`` were processed, and over how many seconds
        (first to last processed_at)."""
        rows = await self.fetch(
            "SELECT COUNT(*), MIN(processed_at), MAX(processed_at) FROM deliveries "
            "WHERE id > $1 AND processed_at IS NOT NULL",
            after_id,
        )
        count, first, last = rows[0]
        if not count or first is None:
            return 0, 0.0
        return int(count), (_when(last) - _when(first)).total_seconds()

    async def fill_leads(self, total: int, already: int = 0) -> None:
        """Bring the table to ``total`` bench-made leads (``already`` are there)."""
        if total <= already:
            return
        with_domain = await self.has_column("leads", "email_domain")
        now = datetime.now(UTC)
        if self.postgres:
            sql = PG_LEADS.format(
                domain_col="email_domain," if with_domain else "",
                domain_val="'company' || (i % 5000) || '.com'," if with_domain else "",
            )
            statements: list[tuple[str, Any]] = [(sql, (now, already + 1, total))]
        else:
            sql = SQLITE_LEADS.format(
                domain_col="email_domain," if with_domain else "",
                domain_val="'company' || (i % 5000) || '.com'," if with_domain else "",
            ).replace("TS(", SQLITE_TS)
            statements = [(sql, {"start": already + 1, "stop": total, "now": now.isoformat(" ")})]
        rows = await self.fetch("SELECT COALESCE(MAX(id), 0) FROM leads")
        after = int(rows[0][0])
        statements.append((FILL_TRANSITIONS.format(after=after), None))
        statements.append((FILL_NUDGES.format(after=after), None))
        # A database that grew to 1M leads over months has been vacuumed and checkpointed
        # many times; one bulk-filled a moment ago has not (no visibility map, hint bits
        # unset, a checkpoint and an autovacuum of the whole table still to come, which then
        # run during the measurements). Settle it first, as time would have.
        if self.postgres:
            statements += [("VACUUM (ANALYZE)", None), ("CHECKPOINT", None)]
            await self.execute_script(statements)
            return
        statements.append(("ANALYZE", None))
        await self.execute_script(statements)
        await self.execute_script([("PRAGMA wal_checkpoint(TRUNCATE)", None)])

    async def fill_deliveries(self, count: int, bodies: list[bytes]) -> None:
        """Queue ``count`` lead deliveries as if the webhook had accepted them."""
        now = datetime.now(UTC)
        rows = [
            ("lead", "generic", f"lead:bench-drain-{n}", body.decode(), "pending", 0)
            for n, body in enumerate(bodies[:count])
        ]
        if self.postgres:
            conn = await asyncpg.connect(self.url)
            try:
                await conn.copy_records_to_table(
                    "deliveries",
                    records=[(*r, now) for r in rows],
                    columns=[
                        "kind",
                        "source",
                        "idempotency_key",
                        "body",
                        "status",
                        "attempts",
                        "received_at",
                    ],
                )
            finally:
                await conn.close()
        else:
            stamp = now.isoformat(" ")
            await self.execute_many(
                "INSERT INTO deliveries (kind, source, idempotency_key, body, status, attempts, "
                "received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(*r, stamp) for r in rows],
            )
        # A queue that grew this large through the webhook has been re-analyzed by autovacuum
        # on the way; one bulk-copied a moment ago keeps the statistics of the empty table
        # fill_leads analyzed, and PostgreSQL then sorts the whole queue on disk for every
        # lease (200 ms each, measured) until autovacuum's next round.
        await self.execute_script([("ANALYZE deliveries", None)])

    async def execute_many(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        def run() -> None:
            with sqlite3.connect(self._path, timeout=60) as conn:
                conn.executemany(sql, rows)

        await asyncio.to_thread(run)

    async def committed_transactions(self) -> int:
        """pg_stat_database.xact_commit of this database (read from the admin database)."""
        admin = await asyncpg.connect(self._admin_url)
        try:
            await admin.execute("SELECT pg_stat_clear_snapshot()")
            value = await admin.fetchval(
                "SELECT xact_commit FROM pg_stat_database WHERE datname = $1", self._name
            )
            return int(value or 0)
        finally:
            await admin.close()


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
