"""The `/leads export` CSV: one header row, then one row per lead, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import astuple, fields
from datetime import UTC, datetime

from bot.domain.report_query import ExportRow

HEADER = tuple(f.name for f in fields(ExportRow))
# A cell starting with one of these is run as a formula by Excel and friends (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def build_leads_csv(rows: Sequence[ExportRow]) -> bytes:
    """UTF-8 with a BOM (so Excel detects it), CRLF lines, datetimes as ISO 8601 UTC."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([_cell(value) for value in astuple(row)])
    return buffer.getvalue().encode("utf-8-sig")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text
