"""Parsing `/leads` command text into typed requests, and periods into UTC intervals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.report_query import (
    ExportRequest,
    FindRequest,
    HelpRequest,
    LeaderboardRequest,
    LeadsRequest,
    Mention,
    Period,
    ReportQueryError,
    ReportRequest,
    ReturnsRequest,
    StaleRequest,
    local_days,
    parse_leads_command,
    parse_mention,
    parse_period,
)

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")
SEVEN_DAYS = Period(NOW - timedelta(days=7), NOW, "7d")
THIRTY_DAYS = Period(NOW - timedelta(days=30), NOW, "30d")
EMEA = Mention(id="C0123", name="sales-emea")
ANA = Mention(id="U0123", name="ana")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", HelpRequest()),
        ("help", HelpRequest()),
        ("  HELP  ", HelpRequest()),
        ("report", ReportRequest(SEVEN_DAYS)),
        ("report 30d", ReportRequest(THIRTY_DAYS)),
        ("Report 30D chart public", ReportRequest(THIRTY_DAYS, chart=True, public=True)),
        ("report <#C0123|sales-emea>", ReportRequest(SEVEN_DAYS, channel=EMEA)),
        ("report chart <@U0123|ana> 30d", ReportRequest(THIRTY_DAYS, rep=ANA, chart=True)),
        ("report <@U0123>", ReportRequest(SEVEN_DAYS, rep=Mention("U0123", None))),
        ("report #sales-emea", ReportRequest(SEVEN_DAYS, channel=Mention(None, "sales-emea"))),
        ("report @ana.lopez", ReportRequest(SEVEN_DAYS, rep=Mention(None, "ana.lopez"))),
        ("report @U0123ABC", ReportRequest(SEVEN_DAYS, rep=Mention("U0123ABC", None))),
        (
            "report 2026-03-01..2026-03-02",
            ReportRequest(Period(utc(2026, 3, 1), utc(2026, 3, 3), "2026-03-01..2026-03-02")),
        ),
        ("stale", StaleRequest()),
        ("stale <@U0123|ana>", StaleRequest(rep=ANA)),
        ("find ana@acme.io", FindRequest("ana@acme.io")),
        ("find  Ana   Lopez ", FindRequest("Ana Lopez")),
        ("returns", ReturnsRequest(SEVEN_DAYS)),
        ("returns 30d", ReturnsRequest(THIRTY_DAYS)),
        ("leaderboard 30d", LeaderboardRequest(THIRTY_DAYS)),
        ("export 30d", ExportRequest(THIRTY_DAYS)),
    ],
)
def test_parses_commands(text: str, expected: LeadsRequest) -> None:
    assert parse_leads_command(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("reprot", "unknown subcommand 'reprot'"),
        ("report 2026-13-01..", "bad period '2026-13-01..': expected YYYY-MM-DD..YYYY-MM-DD"),
        ("report 2026-13-01..2026-13-02", "bad period '2026-13-01..2026-13-02': not a real date"),
        ("report 2026-03-05..2026-03-01", "bad period '2026-03-05..2026-03-01': end before start"),
        ("report 0d", "bad period '0d': days must be between 1 and 366"),
        ("report 7x", "bad period '7x'"),
        ("report weekly", "unexpected 'weekly': expected a period such as 7d or 30d"),
        ("report 7d 30d", "two periods given: '7d' and '30d'"),
        ("report <#C1|a> <@U1|b>", "give one #channel or one @rep, not several"),
        ("report <!here>", "could not read the mention '<!here>'"),
        ("find", "find needs an email or a name, e.g. `/leads find ana@acme.io`"),
        ("find " + "x" * 201, "find text is too long (at most 200 characters)"),
        ("returns 7d extra", "unexpected 'extra' after `returns`: give at most a period"),
        ("stale soon", "unexpected 'soon' after `stale`: give a #channel or @rep"),
    ],
)
def test_errors_name_the_problem(text: str, message: str) -> None:
    assert parse_leads_command(text, NOW) == ReportQueryError(message)


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("today", utc(2026, 3, 9, 23), NOW),  # Berlin midnight is 23:00 UTC in winter
        ("7d", NOW - timedelta(hours=7 * 24), NOW),
        ("2026-03-01", utc(2026, 2, 28, 23), utc(2026, 3, 1, 23)),
        # The end day is included; DST begins in Berlin on 03-29, so its midnight is 22:00 UTC.
        ("2026-03-28..2026-03-30", utc(2026, 3, 27, 23), utc(2026, 3, 30, 22)),
    ],
)
def test_periods_in_a_time_zone(text: str, start: datetime, end: datetime) -> None:
    assert parse_period(text, NOW, BERLIN) == Period(start, end, text)


def test_today_in_utc_starts_at_midnight() -> None:
    assert parse_period("today", NOW) == Period(utc(2026, 3, 10), NOW, "today")


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_period("7d", datetime(2026, 3, 10))  # noqa: DTZ001 - the point of the test


def test_local_days_follow_dst() -> None:
    period = parse_period("2026-03-28..2026-03-30", NOW, BERLIN)
    assert isinstance(period, Period)
    days = local_days(period, BERLIN)
    assert [d for d, _, _ in days] == [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)]
    assert [hi - lo for _, lo, hi in days] == [
        timedelta(hours=24),
        timedelta(hours=23),  # clocks go forward
        timedelta(hours=24),
    ]


def test_local_days_clip_a_rolling_period() -> None:
    days = local_days(Period(utc(2026, 3, 1, 12), utc(2026, 3, 2, 6), "x"))
    assert days == [
        (date(2026, 3, 1), utc(2026, 3, 1, 12), utc(2026, 3, 2)),
        (date(2026, 3, 2), utc(2026, 3, 2), utc(2026, 3, 2, 6)),
    ]


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("<#C0123|sales-emea>", ("channel", EMEA)),
        ("<#C0123>", ("channel", Mention("C0123", None))),
        ("#C0123ABC", ("channel", Mention("C0123ABC", None))),
        ("<@W0123|ana>", ("rep", Mention("W0123", "ana"))),
        ("@ana", ("rep", Mention(None, "ana"))),
        ("ana", None),
        ("<https://example.com>", None),
    ],
)
def test_mentions(word: str, expected: object) -> None:
    assert parse_mention(word) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("find <mailto:ana@acme.io|ana@acme.io>", "find ana@acme.io"),
        ("find <mailto:ana@acme.io>", "find ana@acme.io"),
        ("find <https://acme.io|acme.io>", "find acme.io"),
        ("report <#C0123|sales> 7d", "report <#C0123|sales> 7d"),  # mentions stay
        ("assign 42 <@U0ANA|ana>", "assign 42 <@U0ANA|ana>"),
    ],
)
def test_slack_links_in_command_text_are_unescaped(typed: str, expected: str) -> None:
    from bot.domain.report_query import unescape_links

    assert unescape_links(typed) == expected
