"""Report aggregates, computed in SQL on SQLite and PostgreSQL alike.

Every figure is a GROUP BY / COUNT / percentile in the database; Python only reshapes the few
aggregated rows. Raw SQL is assembled from the constants in this module alone; every value
that comes from a user or the clock is a bound parameter (`:name`, compiled per dialect).
Percentiles follow PostgreSQL's `percentile_cont` (linear interpolation between neighbours);
on SQLite the same formula is written with window functions.
"""

# S608 is off for this module only: its SQL is assembled from the module's own constants
# (column names, dimensions, dialect snippets), never from input; values are always bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TypeVar

from tortoise.expressions import Q

from bot.domain.funnel import Funnel, FunnelMetrics, FunnelRow
from bot.domain.lifecycle import SLA_TIMED_STATES
from bot.domain.report_query import (
    BreakdownRow,
    ClaimShare,
    DailyPoint,
    ExportRow,
    FoundLead,
    GradeMix,
    LeaderboardRow,
    Period,
    ReasonCount,
    Report,
    ReportMetrics,
    ReportScope,
    ReturnedLead,
    StaleLead,
    StaleList,
    TransitionRecord,
    full_name,
    local_days,
)
from bot.storage.models import Lead, Transition
from bot.storage.sql import DialectSql

DIMENSIONS = ("source", "channel", "rep")
COUNT_COLUMNS = (
    "leads_in",
    "hot",
    "routed",
    "claimed",
    "contacted",
    "won",
    "lost",
    "disqualified",
    "sla_breaches",
    "returns",
)
TOP_REASONS = 5
# Report queries in flight per store: the 2 cores of a small server stay busy, and the
# default pool of 5 keeps connections for webhooks and the outbox.
QUERY_CONCURRENCY = 3
FIND_LIMIT = 10
EXPORT_COLUMNS = tuple(ExportRow.__dataclass_fields__)

_T = TypeVar("_T")


class _Sql(DialectSql):
    """The shared dialect helpers; report durations are rounded to the millisecond on SQLite."""

    def seconds(self, later: str, earlier: str) -> str:
        if self.postgres:
            return super().seconds(later, earlier)
        # Tortoise stores SQLite datetimes as ISO text; julianday() reads it, to ~50 µs.
        return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"


def _during(column: str) -> str:
    return f"({column} >= :start AND {column} < :end)"


def _scope_sql(scope: ReportScope, rep_column: str = "l.claimed_by") -> str:
    clauses = []
    if scope.channel is not None:
        clauses.append(" AND l.route_channel = :channel")
    if scope.rep is not None:
        clauses.append(f" AND {rep_column} = :rep")
    return "".join(clauses)


def _params(period: Period, scope: ReportScope) -> dict[str, Any]:
    params: dict[str, Any] = {"start": period.start, "end": period.end}
    if scope.channel is not None:
        params["channel"] = scope.channel
    if scope.rep is not None:
        params["rep"] = scope.rep
    return params


def _rollup(inner: str, columns: Sequence[str], dimensions: Sequence[str]) -> str:
    """Totals and one GROUP BY per dimension over ``inner`` (columns source, channel, rep, ...).

    The inner query is materialised once; SQLite has no GROUPING SETS.
    """
    sums = ", ".join(f"COALESCE(SUM({c}), 0) AS {c}" for c in columns)
    parts = [f"SELECT 'total' AS dim, CAST(NULL AS VARCHAR(200)) AS key, {sums} FROM g"]
    parts += [f"SELECT '{d}', {d}, {sums} FROM g GROUP BY {d}" for d in dimensions]
    return f"WITH g AS MATERIALIZED ({inner}) " + " UNION ALL ".join(parts)


def _to_timedelta(seconds: Any) -> timedelta | None:
    return None if seconds is None else timedelta(seconds=float(seconds))


def _to_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(str(value)).astimezone(UTC)


class ReportStore:
    """Read-only queries behind `/leads`; all return domain values from `report_query`.

    The sections of a report are independent queries. On PostgreSQL they run concurrently,
    each on its own pooled connection, at most ``QUERY_CONCURRENCY`` at a time per store, so
    reports never take the whole pool from the ingest path. On SQLite they run one at a time:
    its one connection would take them in turn anyway, and a webhook's INSERT then waits
    behind one report query, not behind all of them.
    """

    def __init__(self) -> None:
        self._slots: asyncio.Semaphore | None = None

    async def _bounded(self, section: Awaitable[_T]) -> _T:
        if self._slots is None:
            self._slots = asyncio.Semaphore(QUERY_CONCURRENCY if _Sql().postgres else 1)
        async with self._slots:
            return await section

    async def get_report(self, period: Period, scope: ReportScope) -> Report:
        counts, times, reasons, grades, shares = await asyncio.gather(
            self._bounded(self._counts(period, scope, DIMENSIONS)),
            self._bounded(self._times(period, scope, DIMENSIONS)),
            self._bounded(self._top_reasons(period, scope)),
            self._bounded(self._grade_mix(period, scope)),
            self._bounded(self._claim_shares(period, scope)),
        )
        rows: dict[str, list[BreakdownRow]] = {d: [] for d in DIMENSIONS}
        total = ReportMetrics()
        for (dim, key), values in counts.items():
            fields: dict[str, Any] = {**values, **times.get((dim, key), {})}
            metrics = ReportMetrics(**fields)
            if dim == "total":
                total = metrics
            else:
                rows[dim].append(BreakdownRow(key, metrics))
        for dim_rows in rows.values():
            dim_rows.sort(key=lambda r: (-r.metrics.leads_in, -r.metrics.claimed, r.key or ""))
        return Report(
            start=period.start,
            end=period.end,
            scope=scope,
            total=total,
            by_source=tuple(rows["source"]),
            by_channel=tuple(rows["channel"]),
            by_rep=tuple(rows["rep"]),
            top_return_reasons=reasons,
            grade_mix=grades,
            claim_shares=shares,
        )

    async def _counts(
        self, period: Period, scope: ReportScope, dimensions: Sequence[str]
    ) -> dict[tuple[str, str | None], dict[str, int]]:
        sql = _Sql()
        zeros = ", 0 AS sla_breaches, 0 AS returns"
        state_ends = "".join(
            f", SUM(CASE WHEN {_during('l.closed_at')} AND l.state = '{s}' THEN 1 ELSE 0 END)"
            f" AS {s}"
            for s in ("won", "lost", "disqualified")
        )
        lead_counts = f"""
            SELECT l.source AS source, l.route_channel AS channel, l.claimed_by AS rep,
                SUM(CASE WHEN {_during("l.created_at")} THEN 1 ELSE 0 END) AS leads_in,
                SUM(CASE WHEN {_during("l.created_at")} AND l.hot_at IS NOT NULL
                    THEN 1 ELSE 0 END) AS hot,
                SUM(CASE WHEN {_during("l.routed_at")} THEN 1 ELSE 0 END) AS routed,
                SUM(CASE WHEN {_during("l.claimed_at")} THEN 1 ELSE 0 END) AS claimed,
                SUM(CASE WHEN {_during("l.contacted_at")} THEN 1 ELSE 0 END) AS contacted
                {state_ends}{zeros}
            FROM leads l
            WHERE ({_during("l.created_at")} OR {_during("l.routed_at")}
                OR {_during("l.claimed_at")} OR {_during("l.contacted_at")}
                OR {_during("l.closed_at")}){_scope_sql(scope)}
            GROUP BY l.source, l.route_channel, l.claimed_by"""
        no_leads = ", ".join(f"0 AS {c}" for c in COUNT_COLUMNS[:8])
        breaches = f"""
            SELECT l.source, l.route_channel, l.claimed_by, {no_leads},
                COUNT(*) AS sla_breaches, 0 AS returns
            FROM nudges n JOIN leads l ON l.id = n.lead_id
            WHERE n.kind LIKE 'escalate%' AND {_during("n.created_at")}{_scope_sql(scope)}
            GROUP BY l.source, l.route_channel, l.claimed_by"""
        returns = f"""
            SELECT l.source, l.route_channel, t.actor, {no_leads},
                0 AS sla_breaches, COUNT(*) AS returns
            FROM transitions t JOIN leads l ON l.id = t.lead_id
            WHERE t.action = 'returned' AND {_during("t.at")}{_scope_sql(scope, "t.actor")}
            GROUP BY l.source, l.route_channel, t.actor"""
        inner = f"{lead_counts} UNION ALL {breaches} UNION ALL {returns}"
        query = _rollup(inner, COUNT_COLUMNS, dimensions)
        rows = await sql.fetch(query, _params(period, scope))
        return {(r["dim"], r["key"]): {c: int(r[c]) for c in COUNT_COLUMNS} for r in rows}

    async def _times(
        self, period: Period, scope: ReportScope, dimensions: Sequence[str]
    ) -> dict[tuple[str, str | None], dict[str, timedelta | None]]:
        sql = _Sql()
        samples = f"""
            SELECT 'claim' AS metric, l.source AS source, l.route_channel AS channel,
                l.claimed_by AS rep, {sql.seconds("l.claimed_at", "l.routed_at")} AS v
            FROM leads l
            WHERE {_during("l.claimed_at")} AND l.routed_at <= l.claimed_at{_scope_sql(scope)}
            UNION ALL
            SELECT 'touch', l.source, l.route_channel, l.claimed_by,
                {sql.seconds("l.contacted_at", "l.routed_at")}
            FROM leads l
            WHERE {_during("l.contacted_at")} AND l.routed_at <= l.contacted_at
                {_scope_sql(scope)}"""
        query = _percentiles_by(sql, f"WITH s AS MATERIALIZED ({samples})", "s", dimensions)
        rows = await sql.fetch(query, _params(period, scope))
        result: dict[tuple[str, str | None], dict[str, timedelta | None]] = {}
        for r in rows:
            entry = result.setdefault((r["dim"], r["key"]), {})
            if r["metric"] == "claim":
                entry["median_time_to_claim"] = _to_timedelta(r["p50"])
                entry["p90_time_to_claim"] = _to_timedelta(r["p90"])
            else:
                entry["median_time_to_first_touch"] = _to_timedelta(r["p50"])
        return result

    async def _top_reasons(self, period: Period, scope: ReportScope) -> tuple[ReasonCount, ...]:
        sql = _Sql()
        reason = f"COALESCE({sql.json_text('t.detail', 'reason')}, 'unspecified')"
        query = f"""
            SELECT {reason} AS reason, COUNT(*) AS n
            FROM transitions t JOIN leads l ON l.id = t.lead_id
            WHERE t.action = 'returned' AND {_during("t.at")}{_scope_sql(scope, "t.actor")}
            GROUP BY {reason} ORDER BY n DESC, reason LIMIT {TOP_REASONS}"""
        rows = await sql.fetch(query, _params(period, scope))
        return tuple(ReasonCount(str(r["reason"]), int(r["n"])) for r in rows)

    async def _grade_mix(self, period: Period, scope: ReportScope) -> tuple[GradeMix, ...]:
        sql = _Sql()
        query = f"""
            SELECT l.claimed_by AS rep, l.grade AS grade, COUNT(*) AS n FROM leads l
            WHERE {_during("l.claimed_at")} AND l.claimed_by IS NOT NULL{_scope_sql(scope)}
            GROUP BY l.claimed_by, l.grade ORDER BY l.claimed_by, l.grade"""
        mix: dict[str, dict[str, int]] = {}
        for r in await sql.fetch(query, _params(period, scope)):
            mix.setdefault(r["rep"], {})[r["grade"]] = int(r["n"])
        return tuple(GradeMix(rep, grades) for rep, grades in mix.items())

    async def _claim_shares(self, period: Period, scope: ReportScope) -> tuple[ClaimShare, ...]:
        # Shares are of the whole channel even for a rep's own report: the denominator is the
        # point, and it names nobody else.
        channel_only = ReportScope(channel=scope.channel)
        sql = _Sql()
        query = f"""
            SELECT l.route_channel AS channel, l.claimed_by AS rep, COUNT(*) AS n,
                SUM(COUNT(*)) OVER (PARTITION BY l.route_channel) AS channel_n
            FROM leads l
            WHERE {_during("l.claimed_at")} AND l.claimed_by IS NOT NULL
                {_scope_sql(channel_only)}
            GROUP BY l.route_channel, l.claimed_by"""
        rows = await sql.fetch(query, _params(period, channel_only))
        shares = [
            ClaimShare(r["channel"], r["rep"], int(r["n"]), int(r["channel_n"]))
            for r in rows
            if scope.rep is None or r["rep"] == scope.rep
        ]
        shares.sort(key=lambda s: (s.channel or "", -s.claims, s.rep))
        return tuple(shares)

    async def get_funnel(self, period: Period, scope: ReportScope) -> Funnel:
        """The funnel of the leads created in the period (see `bot.domain.funnel`)."""
        return await self._bounded(self._funnel(period, scope))

    async def _funnel(self, period: Period, scope: ReportScope) -> Funnel:
        sql = _Sql()
        params = _params(period, scope)
        times: dict[tuple[str, str | None], dict[str, timedelta | None]] = {}
        if sql.postgres:
            # Counts and medians in one pass over the cohort (it is the costly part).
            counts = await sql.fetch(_funnel_in_one_pass(sql, scope), params)
            for r in counts:
                times[(r["dim"], r["key"])] = {
                    f"median_{step}": _to_timedelta(r[f"median_{step}"]) for step in _STEP_NAMES
                }
        else:
            counts = []
            for r in await sql.fetch(_funnel_in_two_parts(sql, scope), params):
                if r["metric"] is None:
                    counts.append(r)
                else:
                    median = _to_timedelta(r["p50"])
                    times.setdefault((r["dim"], r["key"]), {})[f"median_{r['metric']}"] = median
        total = FunnelMetrics()
        rows: dict[str, list[FunnelRow]] = {d: [] for d in FUNNEL_DIMENSIONS}
        for r in counts:
            key = (r["dim"], r["key"])
            fields: dict[str, Any] = {c: int(r[f"f_{c}"]) for c in FUNNEL_COUNTS}
            fields.update(times.get(key, {}))
            metrics = FunnelMetrics(**fields)
            if r["dim"] == "total":
                total = metrics
            else:
                rows[r["dim"]].append(FunnelRow(r["key"], metrics))
        for dim_rows in rows.values():
            dim_rows.sort(key=lambda row: (-row.metrics.new, -row.metrics.won, row.key or ""))
        return Funnel(total, tuple(rows["source"]), tuple(rows["channel"]))

    async def list_daily_series(
        self, period: Period, scope: ReportScope, tz: tzinfo = UTC
    ) -> list[DailyPoint]:
        """Per local day of ``period``: leads in, and the median time to claim of its claims."""
        days = local_days(period, tz)
        if not days:
            return []
        sql = _Sql()
        params: dict[str, Any] = _params(period, scope)
        for i, (_, _, hi) in enumerate(days):
            params[f"hi{i}"] = hi

        def day_of(column: str) -> str:
            # Days are contiguous and end at the period's end, so the first upper bound above a
            # row's timestamp is its day: one pass over the period's rows, no range join.
            whens = " ".join(f"WHEN {column} < :hi{i} THEN {i}" for i in range(len(days)))
            return f"CASE {whens} END"

        scope_sql = _scope_sql(scope)
        volume = f"""
            SELECT {day_of("l.created_at")} AS i, COUNT(*) AS n FROM leads l
            WHERE {_during("l.created_at")}{scope_sql}
            GROUP BY 1"""
        counts = {int(r["i"]): int(r["n"]) for r in await sql.fetch(volume, params)}
        samples = f"""
            WITH x AS (
                SELECT {day_of("l.claimed_at")} AS i,
                    {sql.seconds("l.claimed_at", "l.routed_at")} AS v
                FROM leads l
                WHERE {_during("l.claimed_at")} AND l.routed_at <= l.claimed_at{scope_sql})"""
        medians = {
            int(r["i"]): _to_timedelta(r["p50"])
            for r in await sql.fetch(_percentiles(sql, samples, "x", ("i",)), params)
        }
        return [
            DailyPoint(day, counts.get(i, 0), medians.get(i)) for i, (day, _, _) in enumerate(days)
        ]

    async def list_leaderboard(self, period: Period, scope: ReportScope) -> list[LeaderboardRow]:
        """Per rep who claimed, contacted or won something in the period; best first."""
        counts, times = await asyncio.gather(
            self._bounded(self._counts(period, scope, ("rep",))),
            self._bounded(self._times(period, scope, ("rep",))),
        )
        board = [
            LeaderboardRow(
                rep=key,
                claimed=c["claimed"],
                contacted=c["contacted"],
                median_time_to_claim=times.get((dim, key), {}).get("median_time_to_claim"),
                won=c["won"],
            )
            for (dim, key), c in counts.items()
            if dim == "rep" and key is not None and (c["claimed"] or c["contacted"] or c["won"])
        ]
        slowest = timedelta.max
        board.sort(key=lambda r: (-r.won, -r.claimed, r.median_time_to_claim or slowest, r.rep))
        return board

    async def list_stale(self, now: datetime, scope: ReportScope, limit: int = 20) -> StaleList:
        """Routed or claimed leads nobody has contacted, oldest hand-off first."""
        query = Lead.filter(
            state__in=[state.value for state in SLA_TIMED_STATES],
            contacted_at__isnull=True,
            routed_at__isnull=False,
        )
        if scope.channel is not None:
            query = query.filter(route_channel=scope.channel)
        if scope.rep is not None:
            query = query.filter(claimed_by=scope.rep)
        total = await query.count()
        rows = await query.order_by("routed_at", "id").limit(limit)
        leads = tuple(
            StaleLead(
                lead_id=r.id,
                email=r.email,
                name=full_name(r.first_name, r.last_name),
                company=r.company,
                state=r.state,
                channel=r.route_channel,
                owner=r.claimed_by,
                routed_at=_to_datetime(r.routed_at),
                claimed_at=r.claimed_at,
                age=now - _to_datetime(r.routed_at),
            )
            for r in rows
        )
        return StaleList(total=total, leads=leads)

    async def find_leads(self, text: str, scope: ReportScope) -> list[FoundLead]:
        """An exact email, else leads whose email or name contains every word; newest first."""
        needle = text.strip().lower()
        query = Lead.filter(email=needle)
        if scope.rep is not None:
            query = query.filter(claimed_by=scope.rep)
        rows = await query.limit(1)
        if not rows:
            query = Lead.all()
            for word in needle.split():
                query = query.filter(
                    Q(email__icontains=word)
                    | Q(first_name__icontains=word)
                    | Q(last_name__icontains=word)
                )
            if scope.rep is not None:
                query = query.filter(claimed_by=scope.rep)
            rows = await query.order_by("-created_at", "-id").limit(FIND_LIMIT)
        history: dict[int, list[TransitionRecord]] = {r.id: [] for r in rows}
        for t in await Transition.filter(lead_id__in=list(history)).order_by("at", "id"):
            history[t.lead_id].append(  # type: ignore[attr-defined]
                TransitionRecord(t.at, t.actor, t.action, t.from_state, t.to_state, t.detail)
            )
        return [
            FoundLead(
                lead_id=r.id,
                email=r.email,
                name=full_name(r.first_name, r.last_name),
                company=r.company,
                title=r.title,
                state=r.state,
                score=r.score,
                grade=r.grade,
                source=r.source,
                campaign=r.campaign,
                channel=r.route_channel,
                owner=r.claimed_by,
                created_at=r.created_at,
                routed_at=r.routed_at,
                claimed_at=r.claimed_at,
                contacted_at=r.contacted_at,
                returned_at=r.returned_at,
                return_reason=r.return_reason,
                transitions=tuple(history[r.id]),
            )
            for r in rows
        ]

    async def list_returns(
        self, period: Period, scope: ReportScope, limit: int = 200
    ) -> list[ReturnedLead]:
        """Every hand-back in the period (a lead returned twice appears twice), newest first."""
        query = Transition.filter(action="returned", at__gte=period.start, at__lt=period.end)
        if scope.channel is not None:
            query = query.filter(lead__route_channel=scope.channel)
        if scope.rep is not None:
            query = query.filter(actor=scope.rep)
        rows = await (
            query.order_by("-at", "-id")
            .limit(limit)
            .values(
                "at",
                "actor",
                "detail",
                "lead_id",
                "lead__email",
                "lead__first_name",
                "lead__last_name",
                "lead__company",
                "lead__source",
                "lead__campaign",
                "lead__route_channel",
            )
        )
        result = []
        for r in rows:
            detail = r["detail"] if isinstance(r["detail"], dict) else {}
            reason, note = detail.get("reason"), detail.get("note")
            result.append(
                ReturnedLead(
                    lead_id=r["lead_id"],
                    email=r["lead__email"],
                    name=full_name(r["lead__first_name"], r["lead__last_name"]),
                    company=r["lead__company"],
                    at=_to_datetime(r["at"]),
                    reason=None if reason is None else str(reason),
                    note=None if note is None else str(note),
                    source=r["lead__source"],
                    campaign=r["lead__campaign"],
                    returned_by=r["actor"],
                    channel=r["lead__route_channel"],
                )
            )
        return result

    async def list_export_rows(
        self, period: Period, scope: ReportScope, limit: int = 50_000
    ) -> list[ExportRow]:
        """Leads created in the period, oldest first, at most ``limit``."""
        query = Lead.filter(created_at__gte=period.start, created_at__lt=period.end)
        if scope.channel is not None:
            query = query.filter(route_channel=scope.channel)
        if scope.rep is not None:
            query = query.filter(claimed_by=scope.rep)
        rows = await query.order_by("created_at", "id").limit(limit).values(*EXPORT_COLUMNS)
        return [ExportRow(**r) for r in rows]

    async def is_rep(self, user_id: str) -> bool:
        """Listed in the reps table (assignments), holding a lead now, or ever claimed one."""
        sql = _Sql()
        query = """
            SELECT 1 AS found FROM reps WHERE user_id = :user
            UNION ALL
            SELECT 1 FROM leads WHERE claimed_by = :user
            UNION ALL
            SELECT 1 FROM transitions WHERE actor = :user AND action = 'claimed'"""
        rows = await sql.fetch(f"SELECT found FROM ({query}) q LIMIT 1", {"user": user_id})
        return bool(rows)


def _percentiles_by(sql: _Sql, with_clause: str, table: str, dimensions: Sequence[str]) -> str:
    """Median and p90 of ``table``.v per metric: overall (dim 'total', key NULL) and per each
    of ``dimensions`` (dim named, key its value, NULL included): rows metric, dim, key, p50, p90.
    """
    if sql.postgres:
        # One GROUPING SETS pass sorts each set's (narrow) rows, instead of sorting one copy of
        # every sample per dimension; GROUPING() tells a set's NULL key from a real NULL value.
        sets = ", ".join(["(metric)", *(f"(metric, {d})" for d in dimensions)])
        dim = " ".join(f"WHEN GROUPING({d}) = 0 THEN '{d}'" for d in dimensions)
        key = " ".join(f"WHEN GROUPING({d}) = 0 THEN CAST({d} AS VARCHAR(200))" for d in dimensions)
        return (
            f"{with_clause} SELECT metric, CASE {dim} ELSE 'total' END AS dim, "
            f"CASE {key} END AS key, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY v) AS p50, "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY v) AS p90 "
            f"FROM {table} GROUP BY GROUPING SETS ({sets})"
        )
    spread = [f"SELECT metric, 'total' AS dim, CAST(NULL AS VARCHAR(200)) AS key, v FROM {table}"]
    spread += [f"SELECT metric, '{d}', {d}, v FROM {table}" for d in dimensions]
    values = f"{with_clause}, x AS ({' UNION ALL '.join(spread)})"
    return _percentiles(sql, values, "x", ("metric", "dim", "key"))


def _percentiles(sql: _Sql, with_clause: str, table: str, group: Sequence[str]) -> str:
    """Median and p90 of ``table``.v per ``group``, as percentile_cont computes them."""
    columns = ", ".join(group)
    if sql.postgres:
        return (
            f"{with_clause} SELECT {columns}, "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY v) AS p50, "
            "percentile_cont(0.9) WITHIN GROUP (ORDER BY v) AS p90 "
            f"FROM {table} GROUP BY {columns}"
        )
    return (
        f"{with_clause}, {_ranked(table, group)} SELECT {columns}, {_cont('0.5')} AS p50, "
        f"{_cont('0.9')} AS p90 "
        f"FROM ranked GROUP BY {columns}"
    )


def _ranked(table: str, group: Sequence[str]) -> str:
    """SQLite: the CTE ``ranked``, each row of ``table`` with its rank rn in its group of n."""
    columns = ", ".join(group)
    return (
        f"ranked AS (SELECT {columns}, v, "
        f"ROW_NUMBER() OVER (PARTITION BY {columns} ORDER BY v) AS rn, "
        f"COUNT(*) OVER (PARTITION BY {columns}) AS n FROM {table})"
    )


def _cont(p: str) -> str:
    """SQLite: percentile_cont(p) of a group of ``ranked``.

    k = p * (n - 1) is the 0-based fractional rank; interpolate between ranks floor(k) and
    floor(k) + 1 (ROW_NUMBER is 1-based), exactly like PostgreSQL.
    """
    floor_rank = f"CAST({p} * (n - 1) AS INTEGER) + 1"
    low = f"MAX(CASE WHEN rn = {floor_rank} THEN v END)"
    high = f"COALESCE(MAX(CASE WHEN rn = {floor_rank} + 1 THEN v END), {low})"
    k = f"{p} * (MAX(n) - 1)"
    return f"({low} + ({k} - CAST({k} AS INTEGER)) * ({high} - {low}))"


FUNNEL_DIMENSIONS = ("source", "channel")
FUNNEL_COUNTS = ("new", "hot", "claimed", "contacted", "won", "returned", "disqualified", "lost")
# Prefixed in SQL: `new` is a keyword in some dialects.
_FUNNEL_COLUMNS = tuple(f"f_{c}" for c in FUNNEL_COUNTS)
FUNNEL_STEPS = (("new", "hot"), ("hot", "claimed"), ("claimed", "contacted"), ("contacted", "won"))


_STEP_NAMES = tuple(f"{a}_to_{b}" for a, b in FUNNEL_STEPS)


def _step_seconds(sql: _Sql, a: str, b: str) -> str:
    """Seconds from stage ``a`` to ``b`` of a cohort row ``c``; NULL unless both, in order."""
    condition = f"c.{a}_at IS NOT NULL AND c.{b}_at IS NOT NULL AND c.{a}_at <= c.{b}_at"
    return f"CASE WHEN {condition} THEN {sql.seconds(f'c.{b}_at', f'c.{a}_at')} END"


def _funnel_samples(sql: _Sql) -> str:
    """One row (metric, source, channel, v) per cohort row ``c`` and step it made, in order."""
    return " UNION ALL ".join(
        f"SELECT '{a}_to_{b}' AS metric, c.source AS source, c.channel AS channel, "
        f"{sql.seconds(f'c.{b}_at', f'c.{a}_at')} AS v FROM c "
        f"WHERE c.{a}_at IS NOT NULL AND c.{b}_at IS NOT NULL AND c.{a}_at <= c.{b}_at"
        for a, b in FUNNEL_STEPS
    )


def _funnel_in_one_pass(sql: _Sql, scope: ReportScope) -> str:
    """PostgreSQL: the rows of `_rollup` over `_funnel_flags` plus a ``median_<step>`` column
    each, from one GROUPING SETS pass (percentile_cont skips the NULL of a step not made)."""
    dim = " ".join(f"WHEN GROUPING(f.{d}) = 0 THEN '{d}'" for d in FUNNEL_DIMENSIONS)
    key = " ".join(
        f"WHEN GROUPING(f.{d}) = 0 THEN CAST(f.{d} AS VARCHAR(200))" for d in FUNNEL_DIMENSIONS
    )
    sums = ", ".join(f"COALESCE(SUM(f.{c}), 0) AS {c}" for c in _FUNNEL_COLUMNS)
    medians = ", ".join(
        f"percentile_cont(0.5) WITHIN GROUP (ORDER BY f.s_{step}) AS median_{step}"
        for step in _STEP_NAMES
    )
    steps = ", ".join(f"{_step_seconds(sql, a, b)} AS s_{a}_to_{b}" for a, b in FUNNEL_STEPS)
    flags = _funnel_flags(scope, extra=steps)
    sets = ", ".join(["()", *(f"(f.{d})" for d in FUNNEL_DIMENSIONS)])
    return (
        f"SELECT CASE {dim} ELSE 'total' END AS dim, CASE {key} END AS key, {sums}, {medians} "
        f"FROM ({flags}) f GROUP BY GROUPING SETS ({sets})"
    )


def _funnel_in_two_parts(sql: _Sql, scope: ReportScope) -> str:
    """SQLite: the rows of `_rollup` over `_funnel_flags` (metric NULL), then the median rows
    of `_percentiles_by` over `_funnel_samples` (counts 0), over one materialised cohort."""
    sums = ", ".join(f"COALESCE(SUM({c}), 0) AS {c}" for c in _FUNNEL_COLUMNS)
    zeros = ", ".join(f"0 AS {c}" for c in _FUNNEL_COLUMNS)
    spread = ["SELECT metric, 'total' AS dim, CAST(NULL AS VARCHAR(200)) AS key, v FROM s"]
    spread += [f"SELECT metric, '{d}', {d}, v FROM s" for d in FUNNEL_DIMENSIONS]
    group = ("metric", "dim", "key")
    ctes = (
        f"WITH c AS MATERIALIZED ({_funnel_cohort(scope, fold_first=True)}), "
        f"g AS MATERIALIZED ({_funnel_flags(scope, cohort='c')}), "
        f"s AS MATERIALIZED ({_funnel_samples(sql)}), "
        f"x AS ({' UNION ALL '.join(spread)}), {_ranked('x', group)}"
    )
    parts = [
        f"SELECT 'total' AS dim, CAST(NULL AS VARCHAR(200)) AS key, {sums}, "
        "CAST(NULL AS VARCHAR(50)) AS metric, NULL AS p50 FROM g"
    ]
    parts += [
        f"SELECT '{d}', {d}, {sums}, NULL, NULL FROM g GROUP BY {d}" for d in FUNNEL_DIMENSIONS
    ]
    parts.append(
        f"SELECT dim, key, {zeros}, metric, {_cont('0.5')} FROM ranked GROUP BY metric, dim, key"
    )
    return f"{ctes} " + " UNION ALL ".join(parts)


def _funnel_cohort(scope: ReportScope, fold_first: bool = False) -> str:
    """One row per lead created in the period: when it first reached each stage, from the
    audit trail, and whether it was ever returned, disqualified or lost.

    ``fold_first`` (for SQLite, which has no index on transitions.lead_id and would build one
    per query for the join) folds the cohort's transitions per lead first, then joins the
    leads to them: the same rows (a lead without transitions gets NULL times and 0 flags).
    """
    firsts = "".join(
        f", MIN(CASE WHEN t.to_state = '{stage}' THEN t.at END) AS {stage}_at"
        for stage in ("hot", "claimed", "contacted", "won")
    )
    flags = """,
            MAX(CASE WHEN t.action = 'returned' THEN 1 ELSE 0 END) AS returned,
            MAX(CASE WHEN t.to_state = 'disqualified' THEN 1 ELSE 0 END) AS disqualified,
            MAX(CASE WHEN t.to_state = 'lost' THEN 1 ELSE 0 END) AS lost"""
    if not fold_first:
        return f"""
        SELECT l.id AS id, l.source AS source, l.route_channel AS channel,
            l.created_at AS new_at{firsts}{flags}
        FROM leads l LEFT JOIN transitions t ON t.lead_id = l.id
        WHERE {_during("l.created_at")}{_scope_sql(scope)}
        GROUP BY l.id, l.source, l.route_channel, l.created_at"""
    stages = "".join(f", a.{s}_at AS {s}_at" for s in ("hot", "claimed", "contacted", "won"))
    return f"""
        WITH cl AS MATERIALIZED (
            SELECT l.id AS id, l.source AS source, l.route_channel AS channel,
                l.created_at AS new_at
            FROM leads l WHERE {_during("l.created_at")}{_scope_sql(scope)}),
        a AS MATERIALIZED (
            SELECT t.lead_id AS lead_id{firsts}{flags}
            FROM transitions t WHERE t.lead_id IN (SELECT id FROM cl)
            GROUP BY t.lead_id)
        SELECT cl.id AS id, cl.source AS source, cl.channel AS channel,
            cl.new_at AS new_at{stages},
            COALESCE(a.returned, 0) AS returned, COALESCE(a.disqualified, 0) AS disqualified,
            COALESCE(a.lost, 0) AS lost
        FROM cl LEFT JOIN a ON a.lead_id = cl.id"""


def _funnel_flags(scope: ReportScope, extra: str = "", cohort: str | None = None) -> str:
    """Per lead of the cohort, 1 for each stage reached; a later stage implies the earlier.
    ``extra`` adds columns computed from the cohort row ``c``; ``cohort`` names a CTE that
    already holds the cohort."""
    extra = f", {extra}" if extra else ""
    source = f"{cohort} c" if cohort else f"({_funnel_cohort(scope)}) c"

    def reached(*stages: str) -> str:
        condition = " OR ".join(f"c.{stage}_at IS NOT NULL" for stage in stages)
        return f"CASE WHEN {condition} THEN 1 ELSE 0 END"

    return f"""
        SELECT c.source AS source, c.channel AS channel, 1 AS f_new,
            {reached("hot", "claimed", "contacted", "won")} AS f_hot,
            {reached("claimed", "contacted", "won")} AS f_claimed,
            {reached("contacted", "won")} AS f_contacted,
            {reached("won")} AS f_won,
            c.returned AS f_returned, c.disqualified AS f_disqualified, c.lost AS f_lost{extra}
        FROM {source}"""


_RETURN_DIMENSIONS = ("reason", "source", "campaign")


async def count_returns_by(period: Period, dimension: str) -> list[ReasonCount]:
    """Returns in the period grouped by reason, lead source or campaign, most first (in SQL)."""
    if dimension not in _RETURN_DIMENSIONS:
        raise ValueError(f"cannot group returns by {dimension!r}")
    sql = _Sql()
    key = sql.json_text("t.detail", "reason") if dimension == "reason" else f"l.{dimension}"
    rows = await sql.fetch(
        f"SELECT {key} AS k, COUNT(*) AS n FROM transitions t JOIN leads l ON l.id = t.lead_id "
        "WHERE t.action = 'returned' AND t.at >= :start AND t.at < :end "
        "GROUP BY k ORDER BY n DESC, k",
        {"start": period.start, "end": period.end},
    )
    return [ReasonCount(str(r["k"]) if r["k"] is not None else "(none)", int(r["n"])) for r in rows]
