"""The CSV export: a header row, one row per lead, formulas neutralised."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from bot.domain.report_query import ExportRow
from bot.reports.csv_export import HEADER, build_leads_csv


def _row(**values: object) -> ExportRow:
    base: dict[str, object] = {
        "id": 7,
        "email": "ana@acme.io",
        "first_name": "Ana",
        "last_name": "López",
        "title": None,
        "company": "Acme, Inc.",
        "country": "ES",
        "source": "web",
        "campaign": None,
        "state": "claimed",
        "score": 81,
        "grade": "A",
        "created_at": datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        "hot_at": None,
        "routed_at": None,
        "route_channel": "C0EMEA",
        "claimed_by": "U0ANA",
        "claimed_at": None,
        "contacted_at": None,
        "closed_at": None,
        "return_reason": None,
    }
    base.update(values)
    return ExportRow(**base)  # type: ignore[arg-type]


def _read(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # BOM, so Excel reads UTF-8
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def test_header_and_values() -> None:
    [header, row] = _read(build_leads_csv([_row()]))
    assert header == list(HEADER)
    assert header[:3] == ["id", "email", "first_name"]
    values = dict(zip(header, row, strict=True))
    assert values["id"] == "7"
    assert values["last_name"] == "López"
    assert values["company"] == "Acme, Inc."  # quoted, not split
    assert values["created_at"] == "2026-03-02T09:00:00+00:00"
    assert values["title"] == ""
    assert values["score"] == "81"


def test_formula_cells_are_neutralised() -> None:
    rows = [
        _row(first_name='=HYPERLINK("http://evil")', last_name="+1+1", company="-2+3"),
        _row(email="@SUM(A1)", title="\tx", campaign="a=b", source="ok-"),
    ]
    [_, first, second] = _read(build_leads_csv(rows))
    values = dict(zip(HEADER, first, strict=True))
    assert values["first_name"] == '\'=HYPERLINK("http://evil")'
    assert values["last_name"] == "'+1+1"
    assert values["company"] == "'-2+3"
    values = dict(zip(HEADER, second, strict=True))
    assert values["email"] == "'@SUM(A1)"
    assert values["title"] == "'\tx"
    assert values["campaign"] == "a=b"  # only a leading sign is dangerous
    assert values["source"] == "ok-"


def test_no_rows_is_just_the_header() -> None:
    assert _read(build_leads_csv([])) == [list(HEADER)]
