"""`/leads` text of any shape is parsed into a request or a problem to show, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.report_query import (
    AssignRequest,
    ReportQueryError,
    parse_assign_command,
    parse_leads_command,
)

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
WORDS = st.sampled_from(
    ["report", "stale", "find", "returns", "leaderboard", "export", "assign", "help", "chart",
     "public", "today", "7d", "9999d", "0d", "9999-12-31", "0001-01-01", "2026-02-30", "..",
     "2026-01-01..", "<@U0ANA>", "<#C0SALES|sales>", "@ana", "#sales", "<@", "²", "١٢d",
     "99999999999999999999", "\x00", "\ud800", "<mailto:a@b.io|a@b.io>"]
)  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=80), st.lists(WORDS | st.text(max_size=12), max_size=6).map(" ".join)
)


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_any_leads_text_parses_or_explains(text: str) -> None:
    for tz in (UTC, ZoneInfo("Pacific/Kiritimati"), ZoneInfo("Pacific/Pago_Pago")):
        parse_leads_command(text, NOW, tz)


@settings(max_examples=150, deadline=None)
@given(TEXT)
def test_any_assign_text_parses_or_explains(text: str) -> None:
    parsed = parse_assign_command("assign " + text)
    if isinstance(parsed, AssignRequest):
        assert (parsed.lead_id is None) != (parsed.email is None)
        assert parsed.lead_id is None or 0 < parsed.lead_id < 2**63
    else:
        assert isinstance(parsed, ReportQueryError) and parsed.message
