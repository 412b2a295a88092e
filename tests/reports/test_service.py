"""ReportsService: who may see what, and answers built from the dataset (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.report_query import (
    HELP_TEXT,
    LeaderboardRequest,
    Mention,
    Period,
    ReportRequest,
    ReportScope,
    StaleRequest,
)
from bot.services.reports import (
    LEADERBOARD_FOR_MANAGERS,
    NOT_ALLOWED,
    Access,
    ExportAnswer,
    FindAnswer,
    HelpAnswer,
    LeaderboardAnswer,
    Refusal,
    ReportAnswer,
    ReportsService,
    ReturnsAnswer,
    StaleAnswer,
)
from bot.storage.reports import ReportStore
from tests.reports.dataset import ANA, BOB, CAROL, EMEA, NOW, US, insert_dataset
from tests.support import FakeClock

PERIOD = "2026-03-01..2026-03-09"
WEEK = Period(NOW - timedelta(days=7), NOW, "7d")
MANAGER = "U0BOSS"
STRANGER = "U0MKT"


async def _resolve(name: str) -> str | None:
    return {"sales-us": US, "bob": BOB}.get(name)


@pytest.fixture
async def service(db: str) -> ReportsService:
    await insert_dataset()
    return ReportsService(
        ReportStore(), FakeClock(NOW), resolve_channel=_resolve, resolve_user=_resolve
    )


def _report(rep: str | None = None, channel: str | None = None) -> ReportRequest:
    return ReportRequest(
        WEEK,
        channel=None if channel is None else Mention(channel, None),
        rep=None if rep is None else Mention(rep, None),
    )


async def test_managers_see_everything(service: ReportsService) -> None:
    assert await service.can_view(MANAGER, True, _report()) == Access(True, ReportScope())
    assert await service.can_view(MANAGER, True, _report(rep=BOB)) == Access(
        True, ReportScope(rep=BOB)
    )
    assert await service.can_view(MANAGER, True, LeaderboardRequest(WEEK)) == Access(True)


async def test_a_rep_report_is_their_own(service: ReportsService) -> None:
    assert await service.can_view(ANA, False, _report()) == Access(True, ReportScope(rep=ANA))
    assert await service.can_view(ANA, False, _report(rep=ANA)) == Access(
        True, ReportScope(rep=ANA)
    )
    assert await service.can_view(ANA, False, _report(channel=EMEA)) == Access(
        True, ReportScope(channel=EMEA, rep=ANA)
    )
    assert await service.can_view(CAROL, False, StaleRequest()) == Access(
        True, ReportScope(rep=CAROL)
    )


async def test_a_rep_asking_for_another_is_refused_politely(service: ReportsService) -> None:
    access = await service.can_view(ANA, False, _report(rep=BOB))
    assert access == Access(
        False,
        refusal=f"You can see your own numbers, not <@{BOB}>'s. Ask your sales manager for theirs.",
    )
    leaderboard = await service.can_view(ANA, False, LeaderboardRequest(WEEK))
    assert leaderboard == Access(False, refusal=LEADERBOARD_FOR_MANAGERS)


async def test_others_are_refused(service: ReportsService) -> None:
    assert await service.can_view(STRANGER, False, _report()) == Access(False, refusal=NOT_ALLOWED)
    assert await service.answer(STRANGER, False, "report") == Refusal(NOT_ALLOWED)
    assert await service.answer(STRANGER, False, "help") == HelpAnswer(HELP_TEXT)


async def test_bad_command_answers_help_with_the_problem(service: ReportsService) -> None:
    answer = await service.answer(MANAGER, True, "reprot 30d")
    assert answer == HelpAnswer(HELP_TEXT, problem="unknown subcommand 'reprot'")


async def test_manager_report_with_chart(service: ReportsService) -> None:
    answer = await service.answer(MANAGER, True, f"report {PERIOD} chart public")
    assert isinstance(answer, ReportAnswer)
    assert answer.public
    assert answer.report.total.leads_in == 8  # see tests/storage/test_reports.py
    assert [p.leads_in for p in answer.daily] == [1, 1, 1, 2, 1, 1, 0, 0, 1]
    assert answer.chart_png is not None
    assert answer.chart_png.startswith(b"\x89PNG")


async def test_rep_report_is_scoped_without_asking(service: ReportsService) -> None:
    answer = await service.answer(BOB, False, f"report {PERIOD}")
    assert isinstance(answer, ReportAnswer)
    assert answer.chart_png is None
    assert answer.report.scope == ReportScope(rep=BOB)
    assert (answer.report.total.claimed, answer.report.total.returns) == (1, 1)  # L3; L6 once


async def test_plain_names_are_resolved_or_explained(service: ReportsService) -> None:
    answer = await service.answer(MANAGER, True, f"report {PERIOD} #sales-us")
    assert isinstance(answer, ReportAnswer)
    assert answer.report.scope == ReportScope(channel=US)
    assert answer.report.total.leads_in == 3  # L3 L4 L8
    # A rep naming themselves in plain text is resolved first, then allowed.
    own = await service.answer(BOB, False, "report @bob")
    assert isinstance(own, ReportAnswer)
    unknown = await service.answer(MANAGER, True, "report #nowhere")
    assert unknown == Refusal(
        "I could not tell which channel `#nowhere` is. "
        "Pick it from Slack's suggestions as you type."
    )


async def test_other_subcommands(service: ReportsService) -> None:
    stale = await service.answer(MANAGER, True, "stale")
    assert isinstance(stale, StaleAnswer)
    assert stale.stale.total == 3
    mine = await service.answer(BOB, False, "stale")
    assert isinstance(mine, StaleAnswer)
    assert [s.owner for s in mine.stale.leads] == [BOB]

    found = await service.answer(MANAGER, True, "find maria garcia")
    assert isinstance(found, FindAnswer)
    assert [f.email for f in found.leads] == ["maria.garcia@acme.io"]
    hidden = await service.answer(BOB, False, "find maria garcia")
    assert hidden == FindAnswer("maria garcia", ())  # not a lead BOB holds

    returns = await service.answer(MANAGER, True, f"returns {PERIOD}")
    assert isinstance(returns, ReturnsAnswer)
    assert [r.reason for r in returns.returns] == ["budget", "timing"]

    board = await service.answer(MANAGER, True, f"leaderboard {PERIOD}")
    assert isinstance(board, LeaderboardAnswer)
    assert [r.rep for r in board.rows] == [ANA, BOB]


async def test_export(service: ReportsService) -> None:
    answer = await service.answer(MANAGER, True, f"export {PERIOD}")
    assert isinstance(answer, ExportAnswer)
    assert (answer.filename, answer.rows, answer.truncated) == (
        "leads-20260301-20260310.csv",
        8,
        False,
    )
    lines = answer.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("id,email,first_name,last_name")
    assert len(lines) == 9  # header + 8 leads
    assert any(",'-rm@umbrella.com," in line for line in lines)  # injection-safe email
    assert any(",'=cmd|calc," in line for line in lines)  # and campaign
    own = await service.answer(BOB, False, f"export {PERIOD}")
    assert isinstance(own, ExportAnswer)
    assert own.rows == 1  # L3
