"""Business hours skip public holidays from the `holidays` package, by country and region."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.config import ConfigError
from bot.domain.sla import BusinessHours, is_open, next_opening
from tests.conftest import make_config


def _hours(**public: str) -> BusinessHours:
    return BusinessHours.model_validate(
        {"timezone": "Europe/Berlin", "public_holidays": public, "holidays": ["2026-03-03"]}
    )


def test_national_holiday_is_closed() -> None:
    christmas = datetime(2026, 12, 25, 10, 0, tzinfo=UTC)  # a Friday
    assert not is_open(christmas, _hours(country="DE"))
    assert next_opening(christmas, _hours(country="DE")) == datetime(2026, 12, 28, 8, 0, tzinfo=UTC)


def test_regional_holiday_follows_the_subdivision() -> None:
    epiphany = datetime(2026, 1, 6, 10, 0, tzinfo=UTC)  # a Tuesday; a holiday in Bavaria only
    assert not is_open(epiphany, _hours(country="DE", subdivision="BY"))
    assert is_open(epiphany, _hours(country="DE", subdivision="BE"))


def test_explicit_dates_still_count_alongside() -> None:
    assert not is_open(datetime(2026, 3, 3, 10, 0, tzinfo=UTC), _hours(country="DE"))
    assert is_open(datetime(2026, 3, 4, 10, 0, tzinfo=UTC), _hours(country="DE"))


@pytest.mark.parametrize(
    ("public", "problem"),
    [
        ({"country": "XX"}, "no public holidays known"),
        ({"country": "DE", "subdivision": "ZZ"}, "ZZ"),
    ],
)
def test_unknown_country_or_region_fails_naming_the_key(
    public: dict[str, str], problem: str
) -> None:
    with pytest.raises(ConfigError, match=r"business_hours\.public_holidays") as caught:
        make_config(business_hours={"timezone": "Europe/Berlin", "public_holidays": public})
    assert problem in str(caught.value)
