"""Business-hours clock: windows, weekends, holidays and DST in Europe/Madrid."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from pydantic import ValidationError

from bot.domain.sla import (
    BusinessHours,
    add_business_time,
    business_time_between,
    is_open,
    next_opening,
)

MADRID = ZoneInfo("Europe/Madrid")

# 2025 in Madrid: DST starts Sun 30 March (02:00 CET -> 03:00 CEST) and ends Sun 26 October
# (03:00 CEST -> 02:00 CET). Christmas Day 2025 is a Thursday.
OFFICE = BusinessHours.model_validate(
    {
        "timezone": "Europe/Madrid",
        "days": ["mon", "tue", "wed", "thu", "fri"],
        "start": "09:00",
        "end": "18:00",
        "holidays": ["2025-12-25"],
    }
)
# Every day, so the Sunday DST switches fall inside business days.
EVERY_DAY = BusinessHours.model_validate(
    {"timezone": "Europe/Madrid", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}
)
# A window that straddles the 02:00/03:00 switch itself.
NIGHT_SHIFT = BusinessHours.model_validate(
    {
        "timezone": "Europe/Madrid",
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "start": "01:00",
        "end": "05:00",
    }
)
ALWAYS = BusinessHours.always()


def madrid(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=MADRID)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours", "start", "duration", "expected"),
    [
        pytest.param(
            OFFICE,
            madrid(2025, 6, 10, 10),
            timedelta(minutes=15),
            utc(2025, 6, 10, 8, 15),
            id="inside-window",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 10, 17, 55),
            timedelta(minutes=15),
            utc(2025, 6, 11, 7, 10),
            id="overnight-1755-plus-15m-is-0910-next-day",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 10, 17, 45),
            timedelta(minutes=15),
            utc(2025, 6, 10, 16),
            id="lands-exactly-on-close",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 13, 17),
            timedelta(hours=2),
            utc(2025, 6, 16, 8),
            id="weekend-friday-to-monday",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 12, 24, 17, 30),
            timedelta(hours=1),
            utc(2025, 12, 26, 8, 30),
            id="holiday-skipped",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 14, 12),
            timedelta(minutes=30),
            utc(2025, 6, 16, 7, 30),
            id="start-on-saturday",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 10, 7),
            timedelta(hours=1),
            utc(2025, 6, 10, 8),
            id="start-before-opening",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 10, 20),
            timedelta(0),
            utc(2025, 6, 11, 7),
            id="zero-outside-hours-is-next-opening",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 9, 9),
            timedelta(hours=20),
            utc(2025, 6, 11, 9),
            id="spans-three-days",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 3, 28, 17, 55),
            timedelta(minutes=15),
            utc(2025, 3, 31, 7, 10),
            id="dst-spring-forward-over-weekend",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 10, 24, 17, 55),
            timedelta(minutes=15),
            utc(2025, 10, 27, 8, 10),
            id="dst-fall-back-over-weekend",
        ),
        pytest.param(
            EVERY_DAY,
            madrid(2025, 3, 30, 9),
            timedelta(hours=9),
            utc(2025, 3, 30, 16),
            id="dst-spring-forward-day-has-nine-real-hours",
        ),
        pytest.param(
            NIGHT_SHIFT,
            madrid(2025, 3, 30, 1),
            timedelta(hours=3),
            utc(2025, 3, 30, 3),
            id="window-across-spring-forward-is-three-real-hours",
        ),
        pytest.param(
            NIGHT_SHIFT,
            madrid(2025, 10, 26, 1),
            timedelta(hours=5),
            utc(2025, 10, 26, 4),
            id="window-across-fall-back-is-five-real-hours",
        ),
        pytest.param(
            ALWAYS,
            madrid(2025, 3, 30, 1, 30),
            timedelta(hours=1),
            utc(2025, 3, 30, 1, 30),
            id="always-open-is-real-time",
        ),
    ],
)
def test_add_business_time(
    hours: BusinessHours, start: datetime, duration: timedelta, expected: datetime
) -> None:
    due = add_business_time(start, duration, hours)
    assert due == expected
    assert due.tzinfo is UTC


@pytest.mark.parametrize(
    ("hours", "start", "end", "expected"),
    [
        pytest.param(
            OFFICE,
            madrid(2025, 6, 10, 10),
            madrid(2025, 6, 10, 11, 30),
            timedelta(minutes=90),
            id="same-window",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 10, 17, 55),
            madrid(2025, 6, 11, 9, 10),
            timedelta(minutes=15),
            id="overnight",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 13, 17),
            madrid(2025, 6, 16, 10),
            timedelta(hours=2),
            id="weekend",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 12, 24, 17),
            madrid(2025, 12, 26, 10),
            timedelta(hours=2),
            id="holiday",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 14, 10),
            madrid(2025, 6, 15, 23),
            timedelta(0),
            id="entirely-outside-hours",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 6, 11),
            madrid(2025, 6, 10),
            timedelta(0),
            id="end-before-start",
        ),
        pytest.param(
            OFFICE,
            madrid(2025, 3, 28, 17),
            madrid(2025, 3, 31, 10),
            timedelta(hours=2),
            id="dst-spring-forward-weekend",
        ),
        pytest.param(
            EVERY_DAY,
            madrid(2025, 3, 29, 17),
            madrid(2025, 3, 30, 10),
            timedelta(hours=2),
            id="dst-spring-forward-night",
        ),
        pytest.param(
            EVERY_DAY,
            madrid(2025, 3, 30),
            madrid(2025, 3, 31),
            timedelta(hours=9),
            id="dst-spring-forward-day-window",
        ),
        pytest.param(
            EVERY_DAY,
            madrid(2025, 10, 26),
            madrid(2025, 10, 27),
            timedelta(hours=9),
            id="dst-fall-back-day-window",
        ),
        pytest.param(
            NIGHT_SHIFT,
            madrid(2025, 3, 30),
            madrid(2025, 3, 31),
            timedelta(hours=3),
            id="window-across-spring-forward",
        ),
        pytest.param(
            NIGHT_SHIFT,
            madrid(2025, 10, 26),
            madrid(2025, 10, 27),
            timedelta(hours=5),
            id="window-across-fall-back",
        ),
        pytest.param(
            ALWAYS,
            madrid(2025, 10, 26),
            madrid(2025, 10, 27),
            timedelta(hours=25),
            id="always-open-fall-back-day-is-25-hours",
        ),
    ],
)
def test_business_time_between(
    hours: BusinessHours, start: datetime, end: datetime, expected: timedelta
) -> None:
    assert business_time_between(start, end, hours) == expected


@pytest.mark.parametrize(
    ("hours", "at", "expected"),
    [
        pytest.param(OFFICE, madrid(2025, 6, 10, 12), True, id="midday"),
        pytest.param(OFFICE, madrid(2025, 6, 10, 9), True, id="opening-instant"),
        pytest.param(OFFICE, madrid(2025, 6, 10, 18), False, id="closing-instant"),
        pytest.param(OFFICE, madrid(2025, 6, 10, 8, 59), False, id="before-opening"),
        pytest.param(OFFICE, madrid(2025, 6, 14, 12), False, id="saturday"),
        pytest.param(OFFICE, madrid(2025, 12, 25, 12), False, id="holiday"),
        pytest.param(OFFICE, utc(2025, 6, 10, 7, 30), True, id="utc-input-0930-local"),
        pytest.param(ALWAYS, madrid(2025, 6, 14, 3), True, id="always-open"),
    ],
)
def test_is_open(hours: BusinessHours, at: datetime, expected: bool) -> None:
    assert is_open(at, hours) is expected


@pytest.mark.parametrize(
    ("hours", "at", "expected"),
    [
        pytest.param(OFFICE, madrid(2025, 6, 10, 12), utc(2025, 6, 10, 10), id="open-is-itself"),
        pytest.param(OFFICE, madrid(2025, 6, 10, 7), utc(2025, 6, 10, 7), id="later-today"),
        pytest.param(OFFICE, madrid(2025, 6, 13, 18), utc(2025, 6, 16, 7), id="friday-evening"),
        pytest.param(OFFICE, madrid(2025, 12, 24, 19), utc(2025, 12, 26, 8), id="holiday"),
        pytest.param(OFFICE, madrid(2025, 3, 28, 19), utc(2025, 3, 31, 7), id="after-dst-start"),
        pytest.param(ALWAYS, madrid(2025, 6, 14, 3), utc(2025, 6, 14, 1), id="always-open"),
    ],
)
def test_next_opening(hours: BusinessHours, at: datetime, expected: datetime) -> None:
    opening = next_opening(at, hours)
    assert opening == expected
    assert opening.tzinfo is UTC


def test_never_open_config_gives_up_instead_of_looping() -> None:
    every_day_a_holiday = BusinessHours.model_validate(
        {
            "timezone": "Europe/Madrid",
            "holidays": [date(2025, 1, 1) + timedelta(days=n) for n in range(3 * 366)],
        }
    )
    start = madrid(2025, 1, 1)
    with pytest.raises(ValueError, match="never open"):
        add_business_time(start, timedelta(minutes=15), every_day_a_holiday)
    with pytest.raises(ValueError, match="never open"):
        next_opening(start, every_day_a_holiday)
    # Bounded by its end, the elapsed-time question has an answer: none.
    assert business_time_between(start, madrid(2028, 1, 1), every_day_a_holiday) == timedelta(0)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: is_open(datetime(2025, 6, 10, 12), OFFICE), id="is_open"),  # noqa: DTZ001
        pytest.param(lambda: next_opening(datetime(2025, 6, 10, 12), OFFICE), id="next_opening"),  # noqa: DTZ001
        pytest.param(
            lambda: add_business_time(datetime(2025, 6, 10, 12), timedelta(hours=1), OFFICE),  # noqa: DTZ001
            id="add_business_time",
        ),
        pytest.param(
            lambda: business_time_between(madrid(2025, 6, 10), datetime(2025, 6, 11), OFFICE),  # noqa: DTZ001
            id="business_time_between",
        ),
    ],
)
def test_naive_datetimes_are_refused(call: object) -> None:
    assert callable(call)
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


def test_negative_duration_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        add_business_time(madrid(2025, 6, 10, 10), timedelta(minutes=-5), OFFICE)


def test_yaml_block_matches_the_model() -> None:
    block = yaml.safe_load(
        """
business_hours:
  timezone: Europe/Madrid
  days: [mon, tue, wed, thu, fri]
  start: "09:00"
  end: "18:00"
  holidays: [2025-12-25, 2026-01-01, 2026-01-06]
"""
    )
    hours = BusinessHours.model_validate(block["business_hours"])
    assert hours.timezone == "Europe/Madrid"
    assert hours.days == ("mon", "tue", "wed", "thu", "fri")
    assert (hours.start.hour, hours.end.hour) == (9, 18)
    assert date(2026, 1, 6) in hours.holidays


def test_always_open_needs_no_timezone() -> None:
    hours = BusinessHours.model_validate({"always_open": True})
    assert hours == BusinessHours.always()


@pytest.mark.parametrize(
    ("raw", "key", "message"),
    [
        ({"timezone": "Europe/Madird"}, "timezone", "unknown IANA timezone 'Europe/Madird'"),
        ({"timezone": "../etc/passwd"}, "timezone", "unknown IANA timezone"),
        ({"timezone": "Europe/Madrid", "days": ["mon", "fry"]}, "days", "'mon', 'tue'"),
        ({"timezone": "Europe/Madrid", "days": []}, "days", "at least one day"),
        # What PyYAML makes of an unquoted `end: 18:00`.
        ({"timezone": "Europe/Madrid", "end": 1080}, "end", "quote the time"),
        ({"timezone": "Europe/Madrid", "start": "9am"}, "start", "HH:MM"),
        ({"timezone": "Europe/Madrid", "start": "25:00"}, "start", "HH:MM"),
        ({"timezone": "Europe/Madrid", "holidays": ["25/12/2025"]}, "holidays", "YYYY-MM-DD"),
        ({"timezone": "Europe/Madrid", "hoildays": []}, "hoildays", "Extra inputs"),
        ({"timezone": "Europe/Madrid", "start": "18:00", "end": "09:00"}, "", "must be after"),
        ({"days": ["mon"]}, "", "timezone is required"),
        ({"always_open": True, "days": ["mon"]}, "", "always_open cannot be combined with days"),
    ],
)
def test_invalid_business_hours_name_the_key(
    raw: dict[str, object], key: str, message: str
) -> None:
    with pytest.raises(ValidationError) as error:
        BusinessHours.model_validate(raw)
    # Field errors carry the key in loc; whole-model errors must name it in the message.
    assert error.value.errors()[0]["loc"][:1] == ((key,) if key else ())
    assert message in str(error.value)
