"""Business-hours clock: how much working time has passed, and when a deadline falls due."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Annotated, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator, model_validator

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WORKWEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri")

# A config that never opens (every day a holiday, say) must fail instead of looping forever.
MAX_CLOSED_SPAN = timedelta(days=2 * 366)

_TIME_RE = re.compile(r"(?P<hour>[01]?\d|2[0-3]):(?P<minute>[0-5]\d)")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _to_wall_time(value: object) -> object:
    # Pydantic would read an int as seconds after midnight, and YAML 1.1 reads an unquoted 18:00
    # as the sexagesimal int 1080, so `end: 18:00` would silently become 00:18. Only "HH:MM" passes.
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError("give a wall-clock time without offset; the zone comes from timezone")
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            f'expected a time like "09:00", got the number {value}; quote the time in YAML '
            "(unquoted 18:00 is read as 1080)"
        )
    if isinstance(value, str) and (match := _TIME_RE.fullmatch(value.strip())):
        return time(int(match["hour"]), int(match["minute"]))
    raise ValueError(f'expected a time like "09:00" (HH:MM, 24-hour), got {value!r}')


def _to_date(value: object) -> object:
    # datetime is a subclass of date; a holiday is a whole local day, never an instant.
    if isinstance(value, datetime):
        raise ValueError(f"expected a date like 2025-12-25, got the datetime {value!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _DATE_RE.fullmatch(value.strip()):
        return date.fromisoformat(value.strip())
    raise ValueError(f"expected a date like 2025-12-25 (YYYY-MM-DD), got {value!r}")


def _to_weekday(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


WallTime = Annotated[time, BeforeValidator(_to_wall_time)]
Holiday = Annotated[date, BeforeValidator(_to_date)]
Day = Annotated[Weekday, BeforeValidator(_to_weekday)]


class PublicHolidays(BaseModel):
    """A country's public holidays (and a region's, e.g. DE + BY for Bavaria) from the
    maintained `holidays` package, computed for any year."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    country: str
    subdivision: str | None = None

    @model_validator(mode="after")
    def _check_known(self) -> Self:
        supported = holidays.list_supported_countries()
        country = self.country.strip().upper()
        if country not in supported:
            raise ValueError(
                f"no public holidays known for country {self.country!r}; use an ISO code like DE"
            )
        if self.subdivision is not None and self.subdivision not in supported[country]:
            listed = ", ".join(supported[country][:40]) or "none"
            raise ValueError(f"{country} has no subdivision {self.subdivision!r}; known: {listed}")
        return self

    @cached_property
    def calendar(self) -> holidays.HolidayBase:
        return holidays.country_holidays(self.country.strip().upper(), subdiv=self.subdivision)

    def __contains__(self, day: date) -> bool:
        return day in self.calendar


class BusinessHours(BaseModel):
    """When the sales team works, in one IANA timezone.

    The window runs from `start` to `end` local wall-clock time on each of `days`, except the
    local dates in `holidays` and, with `public_holidays`, the public holidays of a country or
    region. Windows must not cross midnight (end > start); a team working
    22:00-06:00 is not expressible yet. `always_open: true` means 24/7 and excludes the rest.
    Wall times that fall in a DST gap are shifted forward by the gap (zoneinfo's fold=0 rule).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str | None = None
    always_open: bool = False
    days: tuple[Day, ...] = _WORKWEEK
    start: WallTime = time(9, 0)
    end: WallTime = time(18, 0)
    holidays: frozenset[Holiday] = frozenset()
    public_holidays: PublicHolidays | None = None

    @classmethod
    def always(cls) -> BusinessHours:
        """24/7: business time is real time. Used when no hours are configured."""
        return cls(always_open=True)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown IANA timezone {value!r}; use a name like 'Europe/Madrid'"
            ) from None
        return value

    @field_validator("days")
    @classmethod
    def _check_days(cls, value: tuple[Weekday, ...]) -> tuple[Weekday, ...]:
        if not value:
            raise ValueError("list at least one day, e.g. [mon, tue, wed, thu, fri]")
        # Canonical week order so two spellings of the same week compare equal.
        return tuple(day for day in _WEEKDAYS if day in value)

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.always_open:
            closed = {"days", "start", "end", "holidays", "public_holidays"}
            clashing = sorted(closed & self.model_fields_set)
            if clashing:
                raise ValueError(f"always_open cannot be combined with {', '.join(clashing)}")
            return self
        if self.timezone is None:
            raise ValueError("timezone is required unless always_open is true")
        if self.end <= self.start:
            raise ValueError(
                f"end ({self.end:%H:%M}) must be after start ({self.start:%H:%M}); "
                "windows crossing midnight are not supported"
            )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone or "UTC")


def _require_aware(name: str, value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


def _window_on(day: date, hours: BusinessHours) -> tuple[datetime, datetime] | None:
    """The (open, close) window of one local date in UTC, or None when closed that day.

    Built from local wall-clock times and then converted to UTC, so its length is real elapsed
    time (subtracting two datetimes that share a ZoneInfo would ignore a DST shift).
    """
    if _WEEKDAYS[day.weekday()] not in hours.days or day in hours.holidays:
        return None
    if hours.public_holidays is not None and day in hours.public_holidays:
        return None
    zone = hours.zone
    opens = datetime.combine(day, hours.start, tzinfo=zone).astimezone(UTC)
    closes = datetime.combine(day, hours.end, tzinfo=zone).astimezone(UTC)
    # A window squeezed out by a DST gap (e.g. 02:15-02:45) has no real time in it.
    return (opens, closes) if closes > opens else None


def _windows(
    after: datetime, hours: BusinessHours, until: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """Windows in order that close after `after` (and open before `until`, when given).

    Without `until` the scan is endless, so it gives up after MAX_CLOSED_SPAN with no window.
    """
    zone = hours.zone
    day = after.astimezone(zone).date()
    last_open = after
    while True:
        day_start = datetime.combine(day, time(0), tzinfo=zone)
        if until is not None and day_start >= until:
            return
        window = _window_on(day, hours)
        if window is not None and window[1] > after:
            yield window
            last_open = window[1]
        elif until is None and day_start - last_open > MAX_CLOSED_SPAN:
            raise ValueError(
                f"business hours never open in the {MAX_CLOSED_SPAN.days} days after "
                f"{last_open.isoformat()}; check days and holidays"
            )
        day += timedelta(days=1)


def is_open(at: datetime, hours: BusinessHours) -> bool:
    """True when `at` falls inside a business-hours window (start inclusive, end exclusive)."""
    at_utc = _require_aware("at", at)
    if hours.always_open:
        return True
    window = _window_on(at_utc.astimezone(hours.zone).date(), hours)
    return window is not None and window[0] <= at_utc < window[1]


def next_opening(at: datetime, hours: BusinessHours) -> datetime:
    """`at` itself (in UTC) when open, else the next instant the business opens."""
    at_utc = _require_aware("at", at)
    if hours.always_open:
        return at_utc
    opens, _ = next(_windows(at_utc, hours))
    return max(opens, at_utc)


def business_time_between(start: datetime, end: datetime, hours: BusinessHours) -> timedelta:
    """Real time elapsed inside business hours from `start` to `end`; zero if end <= start."""
    start_utc = _require_aware("start", start)
    end_utc = _require_aware("end", end)
    if end_utc <= start_utc:
        return timedelta(0)
    if hours.always_open:
        return end_utc - start_utc
    total = timedelta(0)
    for opens, closes in _windows(start_utc, hours, until=end_utc):
        if opens < end_utc:
            total += min(closes, end_utc) - max(opens, start_utc)
    return total


def add_business_time(start: datetime, duration: timedelta, hours: BusinessHours) -> datetime:
    """The UTC instant at which `duration` of business time has passed since `start`.

    Outside hours the clock starts at the next opening, so a zero duration yields that opening.
    A deadline that lands exactly on closing time stays there rather than moving to the next day.
    """
    start_utc = _require_aware("start", start)
    if duration < timedelta(0):
        raise ValueError(f"duration must not be negative, got {duration}")
    if hours.always_open:
        return start_utc + duration
    remaining = duration
    for opens, closes in _windows(start_utc, hours):
        begin = max(opens, start_utc)
        if remaining <= closes - begin:
            return begin + remaining
        remaining -= closes - begin
    raise AssertionError("unreachable: _windows is endless or raises")  # pragma: no cover
