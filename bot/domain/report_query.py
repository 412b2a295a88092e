"""The `/leads` slash command: its text parsed into a typed request, or a problem to show."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

from bot.domain.identifiers import parse_lead_id

HELP_TEXT = """\
*/leads* — reports on the lead hand-off
• `/leads report [period] [#channel|@rep] [chart] [public]` — volume, speed to claim and first \
touch, SLA breaches, returns and outcomes
• `/leads stale` — routed or claimed leads nobody has contacted yet, oldest first
• `/leads find <email or name>` — a lead and its history
• `/leads returns [period]` — leads handed back to marketing, with reasons
• `/leads leaderboard [period]` — claims, first touches, speed and wins per rep
• `/leads export [period]` — the period's leads as a CSV file
• `/leads funnel [period]` — new → hot → claimed → contacted → won, with a chart
• `/leads help` — this text
_period_: `today`, `7d` (the default), `30d`, any `<n>d` up to 366, `YYYY-MM-DD` or \
`YYYY-MM-DD..YYYY-MM-DD` (both days included). `public` posts the report in the channel \
instead of only to you."""

DEFAULT_DAYS = 7
MAX_DAYS = 366
MAX_FIND_LENGTH = 200

SUBCOMMANDS = (
    "help", "report", "stale", "find", "returns", "leaderboard", "export", "funnel"
)  # fmt: skip


@dataclass(frozen=True)
class ReportQueryError:
    """Why the command text could not be understood; the caller shows it with `HELP_TEXT`."""

    message: str


@dataclass(frozen=True)
class Period:
    """A half-open interval [start, end) of aware UTC instants, and how the user wrote it."""

    start: datetime
    end: datetime
    label: str


@dataclass(frozen=True)
class Mention:
    """A channel or user as typed: Slack's escaped form carries an ID, a plain `#x` only a name."""

    id: str | None
    name: str | None

    @property
    def display(self) -> str:
        return self.name or self.id or "?"


@dataclass(frozen=True)
class HelpRequest:
    pass


@dataclass(frozen=True)
class ReportRequest:
    period: Period
    channel: Mention | None = None
    rep: Mention | None = None
    chart: bool = False
    public: bool = False


@dataclass(frozen=True)
class StaleRequest:
    channel: Mention | None = None
    rep: Mention | None = None


@dataclass(frozen=True)
class FindRequest:
    text: str


@dataclass(frozen=True)
class ReturnsRequest:
    period: Period


@dataclass(frozen=True)
class LeaderboardRequest:
    period: Period


@dataclass(frozen=True)
class ExportRequest:
    period: Period


@dataclass(frozen=True)
class FunnelRequest:
    period: Period


LeadsRequest = (
    HelpRequest
    | ReportRequest
    | StaleRequest
    | FindRequest
    | ReturnsRequest
    | LeaderboardRequest
    | ExportRequest
    | FunnelRequest
)

# <#C0123|sales-emea>, <#C0123>, <@U0123|ana>, <@U0123>; Slack IDs are upper-case alphanumerics.
_ESCAPED_RE = re.compile(r"<(?P<sigil>[#@])(?P<id>[A-Z0-9]+)(?:\|(?P<name>[^>]*))?>")
_PLAIN_RE = re.compile(r"(?P<sigil>[#@])(?P<name>[\w.\-]+)")
_SLACK_USER_ID_RE = re.compile(r"[UW][A-Z0-9]{2,}")
_SLACK_CHANNEL_ID_RE = re.compile(r"[CGD][A-Z0-9]{2,}")
_DAYS_RE = re.compile(r"(?P<n>[0-9]{1,4})d")
_DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_RANGE_RE = re.compile(rf"(?P<a>{_DATE_RE})?\.\.(?P<b>{_DATE_RE})?")


# Slack escapes what it links in command text: `<mailto:ana@acme.io|ana@acme.io>`,
# `<http://acme.io|acme.io>`. Channel and user mentions (`<#C…>`, `<@U…>`) are kept.
_LINK_RE = re.compile(r"<(?:mailto:|https?://)[^|>]*\|([^>]*)>|<(?:mailto:)([^|>]*)>")


def unescape_links(text: str) -> str:
    """The text a person typed, where Slack turned an email or URL into a link."""
    return _LINK_RE.sub(lambda m: m.group(1) or m.group(2) or "", text)


def parse_leads_command(
    text: str, now: datetime, tz: tzinfo = UTC
) -> LeadsRequest | ReportQueryError:
    """Parse the text after `/leads`. Empty text is a request for help."""
    words = unescape_links(text).split()
    if not words:
        return HelpRequest()
    sub, args = words[0].lower(), words[1:]
    if sub == "help":
        return HelpRequest()
    if sub == "find":
        needle = " ".join(args).strip()
        if not needle:
            return ReportQueryError("find needs an email or a name, e.g. `/leads find ana@acme.io`")
        if len(needle) > MAX_FIND_LENGTH:
            return ReportQueryError(f"find text is too long (at most {MAX_FIND_LENGTH} characters)")
        return FindRequest(needle)
    if sub == "report":
        return _parse_report(args, now, tz)
    if sub == "stale":
        return _parse_stale(args)
    if sub in ("returns", "leaderboard", "export", "funnel"):
        if len(args) > 1:
            return ReportQueryError(f"unexpected '{args[1]}' after `{sub}`: give at most a period")
        period = parse_period(args[0], now, tz) if args else default_period(now)
        if isinstance(period, ReportQueryError):
            return period
        if sub == "returns":
            return ReturnsRequest(period)
        if sub == "leaderboard":
            return LeaderboardRequest(period)
        if sub == "funnel":
            return FunnelRequest(period)
        return ExportRequest(period)
    return ReportQueryError(f"unknown subcommand '{words[0]}'")


def _parse_report(args: list[str], now: datetime, tz: tzinfo) -> ReportRequest | ReportQueryError:
    period: Period | None = None
    channel: Mention | None = None
    rep: Mention | None = None
    chart = public = False
    for arg in args:
        word = arg.lower()
        if word == "chart":
            chart = True
        elif word == "public":
            public = True
        elif (mention := parse_mention(arg)) is not None:
            kind, value = mention
            if channel is not None or rep is not None:
                return ReportQueryError("give one #channel or one @rep, not several")
            if kind == "channel":
                channel = value
            else:
                rep = value
        elif arg.startswith(("#", "@", "<")):
            return ReportQueryError(f"could not read the mention '{arg}'")
        else:
            if period is not None:
                return ReportQueryError(f"two periods given: '{period.label}' and '{arg}'")
            parsed = parse_period(arg, now, tz)
            if isinstance(parsed, ReportQueryError):
                return parsed
            period = parsed
    if period is None:
        period = default_period(now)
    return ReportRequest(period=period, channel=channel, rep=rep, chart=chart, public=public)


def _parse_stale(args: list[str]) -> StaleRequest | ReportQueryError:
    if len(args) > 1:
        return ReportQueryError(f"unexpected '{args[1]}' after `stale`")
    if not args:
        return StaleRequest()
    mention = parse_mention(args[0])
    if mention is None:
        return ReportQueryError(f"unexpected '{args[0]}' after `stale`: give a #channel or @rep")
    kind, value = mention
    return StaleRequest(channel=value) if kind == "channel" else StaleRequest(rep=value)


ASSIGN_USAGE = "Usage: `/leads assign <lead id or email> @rep`"


@dataclass(frozen=True)
class AssignRequest:
    """`/leads assign <lead id or email> @rep`: exactly one of lead_id and email is set."""

    rep_id: str
    lead_id: int | None = None
    email: str | None = None


def parse_assign_command(text: str) -> AssignRequest | ReportQueryError:
    words = unescape_links(text).split()
    if len(words) != 3 or words[0].lower() != "assign":
        return ReportQueryError(f"expected a lead and a rep. {ASSIGN_USAGE}")
    target = parse_mention(words[2])
    if target is None or target[0] != "rep" or target[1].id is None:
        return ReportQueryError(
            f"pick the rep from Slack's suggestions so the mention has an ID. {ASSIGN_USAGE}"
        )
    key = words[1].removeprefix("#")
    if "@" in key:
        if len(key) > 320:
            return ReportQueryError(f"that email is too long. {ASSIGN_USAGE}")
        return AssignRequest(rep_id=target[1].id, email=key.lower())
    lead_id = parse_lead_id(key)
    if lead_id is None:
        return ReportQueryError(
            f"'{key[:30]}' is not a lead id (digits, as on the card) or an email. {ASSIGN_USAGE}"
        )
    return AssignRequest(rep_id=target[1].id, lead_id=lead_id)


def parse_mention(word: str) -> tuple[Literal["channel", "rep"], Mention] | None:
    """`<#C1|name>` / `<@U1|name>` as Slack escapes them, or plain `#name` / `@name`."""
    if match := _ESCAPED_RE.fullmatch(word):
        kind: Literal["channel", "rep"] = "channel" if match["sigil"] == "#" else "rep"
        return kind, Mention(id=match["id"], name=match["name"] or None)
    if match := _PLAIN_RE.fullmatch(word):
        name = match["name"]
        if match["sigil"] == "#":
            # A plain ID (typed or pasted) is as good as the escaped form.
            is_id = _SLACK_CHANNEL_ID_RE.fullmatch(name) is not None
            return "channel", Mention(id=name if is_id else None, name=None if is_id else name)
        is_id = _SLACK_USER_ID_RE.fullmatch(name) is not None
        return "rep", Mention(id=name if is_id else None, name=None if is_id else name)
    return None


def default_period(now: datetime) -> Period:
    """The last seven days, up to ``now``."""
    end = now.astimezone(UTC)
    return Period(end - timedelta(days=DEFAULT_DAYS), end, f"{DEFAULT_DAYS}d")


def parse_period(text: str, now: datetime, tz: tzinfo = UTC) -> Period | ReportQueryError:
    """`today`, `<n>d`, `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD` (end day included), in ``tz``."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    word = text.strip().lower()
    local_now = now.astimezone(tz)
    if word == "today":
        return Period(_local_midnight(local_now.date(), tz), now.astimezone(UTC), word)
    if match := _DAYS_RE.fullmatch(word):
        days = int(match["n"])
        if not 1 <= days <= MAX_DAYS:
            return ReportQueryError(f"bad period '{text}': days must be between 1 and {MAX_DAYS}")
        end = now.astimezone(UTC)
        return Period(end - timedelta(days=days), end, word)
    if match := _RANGE_RE.fullmatch(word):
        if match["a"] is None or match["b"] is None:
            return ReportQueryError(f"bad period '{text}': expected YYYY-MM-DD..YYYY-MM-DD")
        first, last = _date(match["a"]), _date(match["b"])
        if first is None or last is None:
            return ReportQueryError(f"bad period '{text}': not a real date")
        if not (_reportable(first) and _reportable(last)):
            return ReportQueryError(f"bad period '{text}': {_DAY_RANGE}")
        if last < first:
            return ReportQueryError(f"bad period '{text}': end before start")
        if (last - first).days + 1 > MAX_DAYS:
            return ReportQueryError(f"bad period '{text}': at most {MAX_DAYS} days")
        start = _local_midnight(first, tz)
        return Period(start, _local_midnight(last + timedelta(days=1), tz), word)
    if re.fullmatch(_DATE_RE, word):
        day = _date(word)
        if day is None:
            return ReportQueryError(f"bad period '{text}': not a real date")
        if not _reportable(day):
            return ReportQueryError(f"bad period '{text}': {_DAY_RANGE}")
        return Period(_local_midnight(day, tz), _local_midnight(day + timedelta(days=1), tz), word)
    if re.match(r"\d", word):
        return ReportQueryError(f"bad period '{text}'")
    return ReportQueryError(f"unexpected '{text}': expected a period such as 7d or 30d")


def local_days(period: Period, tz: tzinfo = UTC) -> list[tuple[date, datetime, datetime]]:
    """The local calendar days overlapping ``period``: (day, start, end) in UTC, clipped to it.

    Day bounds come from the time zone, so a day across a DST change is 23 or 25 hours long.
    """
    days: list[tuple[date, datetime, datetime]] = []
    day = period.start.astimezone(tz).date()
    while True:
        lo = _local_midnight(day, tz)
        if lo >= period.end:
            break
        hi = _local_midnight(day + timedelta(days=1), tz)
        days.append((day, max(lo, period.start), min(hi, period.end)))
        day += timedelta(days=1)
    return days


def _local_midnight(day: date, tz: tzinfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


# Days a report can start or end on: midnight of the day after must still be a datetime in
# every time zone (date.max + 1 day overflows), and nothing happened before 2000.
FIRST_REPORT_DAY = date(2000, 1, 1)
LAST_REPORT_DAY = date(9998, 12, 31)
_DAY_RANGE = f"days from {FIRST_REPORT_DAY} to {LAST_REPORT_DAY}"


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _reportable(day: date) -> bool:
    return FIRST_REPORT_DAY <= day <= LAST_REPORT_DAY


# --- What the reports contain: plain values, filled by storage, rendered by slack/blocks ---


@dataclass(frozen=True)
class ReportScope:
    """Restricts a report: `channel` matches the lead's route channel, `rep` its claimer.

    For returns, `rep` matches who returned the lead. Both may be set (a rep in one channel).
    """

    channel: str | None = None
    rep: str | None = None


@dataclass(frozen=True)
class ReportMetrics:
    """One row of a report. Each count is of events whose own timestamp falls in the period:

    `leads_in` leads created, `hot` those of them that have turned hot (so `hot_rate` is a share
    of `leads_in`), `routed`/`claimed`/`contacted` by routed_at/claimed_at/contacted_at,
    outcomes by closed_at, `sla_breaches` escalations sent, `returns` every hand-back (a lead
    returned twice counts twice). Times run from routed_at of the latest hand-off.
    """

    leads_in: int = 0
    hot: int = 0
    routed: int = 0
    claimed: int = 0
    contacted: int = 0
    won: int = 0
    lost: int = 0
    disqualified: int = 0
    sla_breaches: int = 0
    returns: int = 0
    median_time_to_claim: timedelta | None = None
    p90_time_to_claim: timedelta | None = None
    median_time_to_first_touch: timedelta | None = None

    @property
    def hot_rate(self) -> float | None:
        return self.hot / self.leads_in if self.leads_in else None


@dataclass(frozen=True)
class BreakdownRow:
    """Metrics for one value of a dimension; `key` None means the lead has no value there."""

    key: str | None
    metrics: ReportMetrics


@dataclass(frozen=True)
class ReasonCount:
    reason: str
    count: int


@dataclass(frozen=True)
class GradeMix:
    """Claims one rep made in the period, per lead grade: only "A" can mean cherry-picking."""

    rep: str
    by_grade: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_grade.values())


@dataclass(frozen=True)
class ClaimShare:
    channel: str | None
    rep: str
    claims: int
    channel_claims: int

    @property
    def share(self) -> float:
        return self.claims / self.channel_claims if self.channel_claims else 0.0


@dataclass(frozen=True)
class Report:
    start: datetime
    end: datetime
    scope: ReportScope
    total: ReportMetrics
    by_source: tuple[BreakdownRow, ...]
    by_channel: tuple[BreakdownRow, ...]
    by_rep: tuple[BreakdownRow, ...]
    top_return_reasons: tuple[ReasonCount, ...]
    grade_mix: tuple[GradeMix, ...]
    claim_shares: tuple[ClaimShare, ...]


@dataclass(frozen=True)
class DailyPoint:
    """One local calendar day: leads that came in, and the median time to claim of its claims."""

    day: date
    leads_in: int
    median_time_to_claim: timedelta | None


@dataclass(frozen=True)
class LeaderboardRow:
    rep: str
    claimed: int
    contacted: int
    median_time_to_claim: timedelta | None
    won: int


@dataclass(frozen=True)
class StaleLead:
    lead_id: int
    email: str
    name: str
    company: str | None
    state: str
    channel: str | None
    owner: str | None
    routed_at: datetime
    claimed_at: datetime | None
    age: timedelta  # since routed_at


@dataclass(frozen=True)
class StaleList:
    total: int
    leads: tuple[StaleLead, ...]  # oldest first, at most the limit asked for


@dataclass(frozen=True)
class TransitionRecord:
    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str
    detail: dict[str, object]


@dataclass(frozen=True)
class FoundLead:
    lead_id: int
    email: str
    name: str
    company: str | None
    title: str | None
    state: str
    score: int
    grade: str
    source: str | None
    campaign: str | None
    channel: str | None
    owner: str | None
    created_at: datetime
    routed_at: datetime | None
    claimed_at: datetime | None
    contacted_at: datetime | None
    returned_at: datetime | None
    return_reason: str | None
    transitions: tuple[TransitionRecord, ...]


@dataclass(frozen=True)
class ReturnedLead:
    lead_id: int
    email: str
    name: str
    company: str | None
    at: datetime
    reason: str | None
    note: str | None
    source: str | None
    campaign: str | None
    returned_by: str
    channel: str | None


@dataclass(frozen=True)
class ExportRow:
    """One CSV line; field order is column order."""

    id: int
    email: str
    first_name: str | None
    last_name: str | None
    title: str | None
    company: str | None
    country: str | None
    source: str | None
    campaign: str | None
    state: str
    score: int
    grade: str
    created_at: datetime
    hot_at: datetime | None
    routed_at: datetime | None
    route_channel: str | None
    claimed_by: str | None
    claimed_at: datetime | None
    contacted_at: datetime | None
    closed_at: datetime | None
    return_reason: str | None


def full_name(first: str | None, last: str | None) -> str:
    return " ".join(part for part in (first, last) if part)
