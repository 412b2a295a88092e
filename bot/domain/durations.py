"""Short duration strings ("15m", "4h", "1h30m") for config, and human-readable formatting."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}
# Units must appear largest first and at most once, so "30m1h" or "1h1h" are rejected as typos.
_DURATION_RE = re.compile(
    r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?"
)
_EXPECTED = (
    'expected a duration like "90s", "15m", "4h", "2d", "1w" or "1h30m" '
    "(a whole number followed by s, m, h, d or w)"
)


def parse_duration(text: str) -> timedelta:
    """Parse "90s", "15m", "4h", "2d", "1w" or combinations such as "1d4h" or "1h30m"."""
    cleaned = text.strip().lower()
    match = _DURATION_RE.fullmatch(cleaned)
    if not cleaned or match is None:
        raise ValueError(f"{_EXPECTED}, got {text!r}")
    seconds = sum(
        int(value) * _UNIT_SECONDS[unit] for unit, value in match.groupdict().items() if value
    )
    return timedelta(seconds=seconds)


def _to_duration(value: object) -> object:
    # A bare number is refused: "nudge_after: 15" could mean seconds, minutes or hours.
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"duration must not be negative, got {value}")
        return value
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"{_EXPECTED}, got {value!r}")


def compact_duration(value: timedelta) -> str:
    """The inverse of `parse_duration`: 5400 s -> "1h30m", zero -> "0s"."""
    if value < timedelta(0):
        raise ValueError(f"duration must not be negative, got {value}")
    remaining = int(value.total_seconds())
    parts: list[str] = []
    for unit, size in _UNIT_SECONDS.items():
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


# For config models: `nudge_after: Duration` accepts "15m" (or a timedelta) and dumps back to "15m".
Duration = Annotated[
    timedelta,
    BeforeValidator(_to_duration),
    PlainSerializer(compact_duration, return_type=str, when_used="json"),
]

_HUMAN_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60))


def format_duration(value: timedelta) -> str:
    """Humanise for people: "45 s", "3 min", "2 h 5 min", "1 d 4 h" (two largest units, floored)."""
    if value < timedelta(0):
        return f"-{format_duration(-value)}"
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{seconds} s"
    parts: list[str] = []
    for unit, size in _HUMAN_UNITS:
        count, seconds = divmod(seconds, size)
        if count or parts:
            parts.append(f"{count} {unit}")
        if len(parts) == 2:
            break
    # "2 h 0 min" reads worse than "2 h"; the second unit is only shown when it says something.
    if len(parts) == 2 and parts[1].startswith("0 "):
        parts.pop()
    return " ".join(parts)
