"""Duration strings in config and their humanised form."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from bot.domain.durations import Duration, compact_duration, format_duration, parse_duration


class _Nudges(BaseModel):
    model_config = ConfigDict(extra="forbid")

    nudge_after: Duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d4h", timedelta(days=1, hours=4)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        (" 15M ", timedelta(minutes=15)),
        ("0m", timedelta(0)),
    ],
)
def test_parse_duration_accepts_unit_suffixes(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "15", "m", "1.5h", "-5m", "15 m", "15min", "30m1h", "1h1h", "1y", "h1"],
)
def test_parse_duration_rejects_other_text_naming_the_format(text: str) -> None:
    with pytest.raises(ValueError, match=r'expected a duration like "90s", "15m"'):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(0), "0 s"),
        (timedelta(seconds=45), "45 s"),
        (timedelta(minutes=3), "3 min"),
        (timedelta(minutes=3, seconds=59), "3 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(hours=2, minutes=5), "2 h 5 min"),
        (timedelta(days=1, hours=4), "1 d 4 h"),
        (timedelta(days=1, hours=4, minutes=30), "1 d 4 h"),
        (timedelta(days=1, minutes=30), "1 d"),
        (timedelta(days=12), "12 d"),
        (-timedelta(minutes=3), "-3 min"),
    ],
)
def test_format_duration_shows_two_largest_units(value: timedelta, expected: str) -> None:
    assert format_duration(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (timedelta(0), "0s"),
        (timedelta(minutes=15), "15m"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(days=90), "12w6d"),
    ],
)
def test_compact_duration_round_trips_through_parse(value: timedelta, expected: str) -> None:
    assert compact_duration(value) == expected
    assert parse_duration(expected) == value


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("15m", timedelta(minutes=15)), (timedelta(hours=4), timedelta(hours=4))],
)
def test_duration_field_accepts_text_or_timedelta(raw: object, expected: timedelta) -> None:
    assert _Nudges.model_validate({"nudge_after": raw}).nudge_after == expected


def test_duration_field_dumps_back_to_config_text() -> None:
    model = _Nudges.model_validate({"nudge_after": "1h30m"})
    assert model.model_dump(mode="json") == {"nudge_after": "1h30m"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (15, "expected a duration like"),
        ("15 minutes", "expected a duration like"),
        (timedelta(minutes=-1), "must not be negative"),
    ],
)
def test_duration_field_error_names_the_key(raw: object, message: str) -> None:
    with pytest.raises(ValidationError) as error:
        _Nudges.model_validate({"nudge_after": raw})
    assert error.value.errors()[0]["loc"] == ("nudge_after",)
    assert message in str(error.value)
