"""What the metrics endpoint reads from the database at scrape time.

Business numbers come from the durable tables (transitions, deliveries, outbox, nudges, leads),
not from counters inside one process: every replica then reports the same, complete numbers,
and a restart loses nothing. Each figure is one grouped query.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from bot.domain.metrics import Distribution, MetricsSnapshot, OutboxHealth
from bot.storage.sql import DialectSql


class MetricsStore:
    async def read_snapshot(self, now: datetime, buckets: Sequence[float]) -> MetricsSnapshot:
        sql = DialectSql()
        leads = {
            str(r["state"]): int(r["n"])
            for r in await sql.fetch("SELECT state, COUNT(*) AS n FROM leads GROUP BY state")
        }
        deliveries = {
            (str(r["kind"]), str(r["source"]), str(r["status"])): int(r["n"])
            for r in await sql.fetch(
                "SELECT kind, source, status, COUNT(*) AS n FROM deliveries "
                "GROUP BY kind, source, status"
            )
        }
        scored_rows = await sql.fetch("SELECT COUNT(*) AS n FROM score_snapshots")
        transitions = {
            (str(r["action"]), str(r["to_state"])): int(r["n"])
            for r in await sql.fetch(
                "SELECT action, to_state, COUNT(*) AS n FROM transitions "
                "WHERE from_state IS NULL OR from_state <> to_state GROUP BY action, to_state"
            )
        }
        channel = sql.json_text("detail", "channel")
        routed = {
            str(r["channel"] or "unknown"): int(r["n"])
            for r in await sql.fetch(
                f"SELECT {channel} AS channel, COUNT(*) AS n FROM transitions "  # noqa: S608
                f"WHERE action = 'routed' GROUP BY {channel}"
            )
        }
        reason = sql.json_text("detail", "reason")
        returns = {
            str(r["reason"] or "unknown"): int(r["n"])
            for r in await sql.fetch(
                f"SELECT {reason} AS reason, COUNT(*) AS n FROM transitions "  # noqa: S608
                f"WHERE action = 'returned' GROUP BY {reason}"
            )
        }
        nudges = {
            str(r["kind"]): int(r["n"])
            for r in await sql.fetch("SELECT kind, COUNT(*) AS n FROM nudges GROUP BY kind")
        }
        outbox = {
            (str(r["kind"]), str(r["status"])): int(r["n"])
            for r in await sql.fetch(
                "SELECT kind, status, COUNT(*) AS n FROM outbox GROUP BY kind, status"
            )
        }
        oldest = {
            str(r["kind"]): max(0.0, float(r["age"]))
            for r in await sql.fetch(
                f"SELECT kind, MAX({sql.seconds(':now', 'created_at')}) AS age "  # noqa: S608
                "FROM outbox WHERE status = 'pending' GROUP BY kind",
                {"now": now},
            )
            if r["age"] is not None
        }
        return MetricsSnapshot(
            leads_by_state=leads,
            deliveries=deliveries,
            scored=int(scored_rows[0]["n"]),
            transitions=transitions,
            routed_by_channel=routed,
            returns_by_reason=returns,
            nudges_by_kind=nudges,
            outbox=outbox,
            oldest_pending_age=oldest,
            time_to_claim=await _distribution(sql, "claimed_at", buckets),
            time_to_first_touch=await _distribution(sql, "contacted_at", buckets),
        )

    async def read_outbox_health(self, now: datetime) -> OutboxHealth:
        sql = DialectSql()
        rows = await sql.fetch("SELECT COUNT(*) AS failed FROM outbox WHERE status = 'failed'")
        pending = await sql.fetch(
            f"SELECT MAX({sql.seconds(':now', 'created_at')}) AS age "  # noqa: S608
            "FROM outbox WHERE status = 'pending'",
            {"now": now},
        )
        age = pending[0]["age"]
        return OutboxHealth(
            None if age is None else max(0.0, float(age)), int(rows[0]["failed"] or 0)
        )


async def _distribution(sql: DialectSql, column: str, buckets: Sequence[float]) -> Distribution:
    """Seconds from routing to ``column`` over every lead that got there (as reports count)."""
    value = sql.seconds(f"l.{column}", "l.routed_at")
    sums = ", ".join(
        f"SUM(CASE WHEN v <= {float(le)!r} THEN 1 ELSE 0 END) AS b{i}"
        for i, le in enumerate(buckets)
    )
    rows = await sql.fetch(
        f"SELECT COUNT(*) AS n, SUM(v) AS total{', ' + sums if sums else ''} "  # noqa: S608
        f"FROM (SELECT {value} AS v FROM leads l "
        f"WHERE l.{column} IS NOT NULL AND l.routed_at IS NOT NULL "
        f"AND l.routed_at <= l.{column}) t"
    )
    row = rows[0]
    cumulative = tuple((float(le), int(row[f"b{i}"] or 0)) for i, le in enumerate(buckets))
    return Distribution(cumulative, int(row["n"]), float(row["total"] or 0.0))
