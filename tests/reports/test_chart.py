"""The report chart renders to a PNG without a display."""

from __future__ import annotations

from datetime import date, timedelta

from bot.domain.report_query import DailyPoint
from bot.reports.chart import render_report_chart


def test_renders_a_png() -> None:
    series = [
        DailyPoint(date(2026, 3, 1), 12, timedelta(minutes=4)),
        DailyPoint(date(2026, 3, 2), 0, None),  # a gap in the line
        DailyPoint(date(2026, 3, 3), 30, timedelta(minutes=11, seconds=30)),
    ]
    png = render_report_chart(series, "Leads, 2026-03-01..2026-03-03")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 1000


def test_renders_an_empty_series() -> None:
    assert render_report_chart([], "nothing yet").startswith(b"\x89PNG")
