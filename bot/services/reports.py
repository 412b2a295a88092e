"""`/leads` reports: parse the command, decide who may see what, fetch the figures.

Who sees what, in one rule each:
- a manager (the caller tells us: Slack user group, config list, ...) sees everything;
- a rep (listed in a channel's `reps` in handoff.yml, known from fallback assignments, or who ever
  claimed a lead) sees only leads they hold, from before their first claim on: every report is
  scoped to them, asking for another rep is refused politely, the leaderboard (which compares
  reps) is for managers;
- anyone else is refused, and `help` is open to all.
Everything returned is plain data; `slack/blocks.py` turns it into messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, tzinfo

from bot.clock import Clock
from bot.domain.funnel import Funnel
from bot.domain.report_query import (
    HELP_TEXT,
    DailyPoint,
    ExportRequest,
    FindRequest,
    FoundLead,
    FunnelRequest,
    HelpRequest,
    LeaderboardRequest,
    LeaderboardRow,
    LeadsRequest,
    Mention,
    Period,
    Report,
    ReportQueryError,
    ReportRequest,
    ReportScope,
    ReturnedLead,
    ReturnsRequest,
    StaleList,
    StaleRequest,
    parse_leads_command,
)
from bot.reports.chart import render_funnel_chart, render_report_chart
from bot.reports.csv_export import build_leads_csv
from bot.storage.reports import ReportStore

# Looks a plain `#name` / `@name` up in Slack (conversations.list / users.list); None if unknown.
NameResolver = Callable[[str], Awaitable[str | None]]

EXPORT_LIMIT = 50_000
STALE_LIMIT = 20

NOT_ALLOWED = "Reports are for sales managers and reps. Ask your sales manager for the numbers."
LEADERBOARD_FOR_MANAGERS = (
    "The leaderboard compares reps, so it is for managers. `/leads report` shows your own numbers."
)


@dataclass(frozen=True)
class Access:
    """Whether a request may run, and the scope it runs with (a rep's is always themselves)."""

    allowed: bool
    scope: ReportScope = field(default_factory=ReportScope)
    refusal: str | None = None


@dataclass(frozen=True)
class Refusal:
    message: str


@dataclass(frozen=True)
class HelpAnswer:
    text: str
    problem: str | None = None  # what was wrong with the command, shown above the help


@dataclass(frozen=True)
class ReportAnswer:
    period: Period
    report: Report
    daily: tuple[DailyPoint, ...]
    chart_png: bytes | None  # only when `chart` was asked for
    public: bool
    funnel: Funnel | None = None


@dataclass(frozen=True)
class StaleAnswer:
    stale: StaleList


@dataclass(frozen=True)
class FindAnswer:
    text: str
    leads: tuple[FoundLead, ...]


@dataclass(frozen=True)
class ReturnsAnswer:
    period: Period
    returns: tuple[ReturnedLead, ...]


@dataclass(frozen=True)
class LeaderboardAnswer:
    period: Period
    rows: tuple[LeaderboardRow, ...]


@dataclass(frozen=True)
class ExportAnswer:
    filename: str
    content: bytes
    rows: int
    truncated: bool  # more leads than EXPORT_LIMIT matched


@dataclass(frozen=True)
class FunnelAnswer:
    period: Period
    funnel: Funnel
    chart_png: bytes


ReportsAnswer = (
    Refusal
    | HelpAnswer
    | ReportAnswer
    | StaleAnswer
    | FindAnswer
    | ReturnsAnswer
    | LeaderboardAnswer
    | ExportAnswer
    | FunnelAnswer
)


class ReportsService:
    def __init__(
        self,
        store: ReportStore,
        clock: Clock,
        tz: tzinfo = UTC,
        resolve_channel: NameResolver | None = None,
        resolve_user: NameResolver | None = None,
        configured_reps: frozenset[str] = frozenset(),
    ) -> None:
        self._store = store
        self._configured_reps = configured_reps
        self._clock = clock
        self._tz = tz
        self._resolve_channel = resolve_channel
        self._resolve_user = resolve_user

    def parse(self, text: str) -> LeadsRequest | ReportQueryError:
        return parse_leads_command(text, self._clock(), self._tz)

    async def answer(self, user_id: str, is_manager: bool, text: str) -> ReportsAnswer:
        """The whole `/leads` command: parse, resolve mentions, check access, fetch."""
        request = self.parse(text)
        if isinstance(request, ReportQueryError):
            return HelpAnswer(HELP_TEXT, problem=request.message)
        if isinstance(request, HelpRequest):
            return HelpAnswer(HELP_TEXT)
        resolved = await self._resolve(request)
        if isinstance(resolved, Refusal):
            return resolved
        access = await self.can_view(user_id, is_manager, resolved)
        if not access.allowed:
            return Refusal(access.refusal or NOT_ALLOWED)
        return await self._fetch(resolved, access.scope)

    async def can_view(self, user_id: str, is_manager: bool, request: LeadsRequest) -> Access:
        """See the module docstring. Mentions must already carry IDs to match a rep."""
        channel, rep = _mentions(request)
        channel_id = None if channel is None else channel.id
        if isinstance(request, HelpRequest):
            return Access(allowed=True)
        if is_manager:
            return Access(
                allowed=True, scope=ReportScope(channel_id, None if rep is None else rep.id)
            )
        if user_id not in self._configured_reps and not await self._store.is_rep(user_id):
            return Access(allowed=False, refusal=NOT_ALLOWED)
        if isinstance(request, LeaderboardRequest):
            return Access(allowed=False, refusal=LEADERBOARD_FOR_MANAGERS)
        if rep is not None and rep.id != user_id:
            return Access(
                allowed=False,
                refusal=(
                    f"You can see your own numbers, not {_show(rep, '@')}'s. "
                    "Ask your sales manager for theirs."
                ),
            )
        return Access(allowed=True, scope=ReportScope(channel_id, user_id))

    async def _resolve(self, request: LeadsRequest) -> LeadsRequest | Refusal:
        """Give plain `#name` / `@name` mentions their Slack IDs, or explain we cannot."""
        if not isinstance(request, ReportRequest | StaleRequest):
            return request
        channel, rep = request.channel, request.rep
        if channel is not None and channel.id is None:
            found = await _lookup(self._resolve_channel, channel)
            if found is None:
                return Refusal(_unresolved(channel, "#"))
            channel = found
        if rep is not None and rep.id is None:
            found = await _lookup(self._resolve_user, rep)
            if found is None:
                return Refusal(_unresolved(rep, "@"))
            rep = found
        return replace(request, channel=channel, rep=rep)

    async def _fetch(self, request: LeadsRequest, scope: ReportScope) -> ReportsAnswer:
        store = self._store
        if isinstance(request, ReportRequest):
            # The funnel is the longest query: started first, beside the report's sections.
            funnel, report = await asyncio.gather(
                store.get_funnel(request.period, scope), store.get_report(request.period, scope)
            )
            daily: tuple[DailyPoint, ...] = ()
            chart = None
            if request.chart:
                daily = tuple(await store.list_daily_series(request.period, scope, self._tz))
                title = f"Leads in and median time to claim, {request.period.label}"
                # matplotlib takes a few hundred ms of CPU: keep the event loop free.
                chart = await asyncio.to_thread(render_report_chart, daily, title)
            return ReportAnswer(request.period, report, daily, chart, request.public, funnel)
        if isinstance(request, FunnelRequest):
            funnel = await store.get_funnel(request.period, scope)
            title = f"Lead funnel, {request.period.label}"
            png = await asyncio.to_thread(render_funnel_chart, funnel.total, title)
            return FunnelAnswer(request.period, funnel, png)
        if isinstance(request, StaleRequest):
            return StaleAnswer(await store.list_stale(self._clock(), scope, STALE_LIMIT))
        if isinstance(request, FindRequest):
            return FindAnswer(request.text, tuple(await store.find_leads(request.text, scope)))
        if isinstance(request, ReturnsRequest):
            returns = await store.list_returns(request.period, scope)
            return ReturnsAnswer(request.period, tuple(returns))
        if isinstance(request, LeaderboardRequest):
            rows = await store.list_leaderboard(request.period, scope)
            return LeaderboardAnswer(request.period, tuple(rows))
        if isinstance(request, ExportRequest):
            export_rows = await store.list_export_rows(request.period, scope, EXPORT_LIMIT + 1)
            truncated = len(export_rows) > EXPORT_LIMIT
            export_rows = export_rows[:EXPORT_LIMIT]
            start, end = request.period.start, request.period.end
            filename = f"leads-{start:%Y%m%d}-{end:%Y%m%d}.csv"
            return ExportAnswer(filename, build_leads_csv(export_rows), len(export_rows), truncated)
        return HelpAnswer(HELP_TEXT)


def _mentions(request: LeadsRequest) -> tuple[Mention | None, Mention | None]:
    if isinstance(request, ReportRequest | StaleRequest):
        return request.channel, request.rep
    return None, None


async def _lookup(resolver: NameResolver | None, mention: Mention) -> Mention | None:
    if resolver is None or mention.name is None:
        return None
    found = await resolver(mention.name)
    return None if found is None else Mention(id=found, name=mention.name)


def _show(mention: Mention, sigil: str) -> str:
    if mention.id is not None:
        return f"<{sigil}{mention.id}>"
    return f"{sigil}{mention.name}"


def _unresolved(mention: Mention, sigil: str) -> str:
    return (
        f"I could not tell which {'channel' if sigil == '#' else 'person'} "
        f"`{sigil}{mention.name}` is. Pick it from Slack's suggestions as you type."
    )
