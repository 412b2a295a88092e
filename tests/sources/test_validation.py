"""What the database can hold: refused naming the field, or normalised with a warning."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.sources.generic import parse_event, parse_lead
from bot.sources.validation import MAX_DEPTH, PayloadError, parse_json_body

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _lead(body: str):  # type: ignore[no-untyped-def]
    return parse_lead(parse_json_body(body.encode()))


def _refused(body: str) -> dict[str, str]:
    with pytest.raises(PayloadError) as caught:
        _lead(body)
    return {e.field: e.message for e in caught.value.errors}


def test_nul_is_stripped_from_names_keys_and_custom_with_a_warning() -> None:
    parsed = _lead(
        '{"email": "ana@acme.io", "first_name": "An\\u0000a", '
        '"custom": {"no\\u0000te": "x\\u0000"}}'
    )
    assert parsed.profile.first_name == "Ana"
    assert parsed.profile.custom == {"note": "x"}
    fields = {w.field for w in parsed.warnings}
    assert {"first_name", "custom.note"} <= fields
    assert all("NUL" in w.message for w in parsed.warnings)


def test_lone_surrogate_is_refused_naming_the_field() -> None:
    errors = _refused('{"email": "ana@acme.io", "custom": {"note": "a\\ud800b"}}')
    assert "lone surrogate" in errors["custom.note"]


def test_numbers_too_long_or_not_finite_are_refused() -> None:
    errors = _refused(
        '{"email": "ana@acme.io", "custom": {"a": ' + "9" * 5000 + ', "b": 1e999, "c": NaN}}'
    )
    assert set(errors) == {"custom.a", "custom.b", "custom.c"}


@pytest.mark.parametrize("depth", [MAX_DEPTH + 2, 990, 100_000])
def test_deep_nesting_is_refused(depth: int) -> None:
    errors = _refused(
        '{"email": "ana@acme.io", "custom": {"x": ' + "[" * depth + "]" * depth + "}}"
    )
    assert "nested deeper" in errors["body"]


def test_nesting_within_the_limit_is_kept() -> None:
    depth = MAX_DEPTH - 3
    parsed = _lead('{"email": "ana@acme.io", "custom": {"x": ' + "[" * depth + "]" * depth + "}}")
    assert "x" in parsed.profile.custom


@pytest.mark.parametrize("size", [2**31, 2**63, -1, True, "lots", "²"])
def test_company_size_out_of_range_keeps_the_lead_and_the_raw_value(size: object) -> None:
    parsed = parse_lead({"email": "ana@acme.io", "company_size": size})
    assert parsed.profile.company_size is None
    assert parsed.profile.custom["company_size"] == size
    assert [w.field for w in parsed.warnings] == ["company_size"]


def test_odd_optional_fields_keep_the_lead_with_one_warning_each() -> None:
    parsed = parse_lead(
        {
            "email": "ana@acme.io",
            "country": "Atlantis",
            "company_size": "lots",
            "website": "not a web address",
            "first_name": {"nested": True},
            "custom": {"first_name": "sender's own"},
        }
    )
    profile = parsed.profile
    assert (profile.country, profile.company_size, profile.website, profile.first_name) == (
        None,
        None,
        None,
        None,
    )
    assert profile.custom == {
        "country": "Atlantis",
        "company_size": "lots",
        "website": "not a web address",
        "first_name": "sender's own",
        "raw_first_name": {"nested": True},
    }
    warnings = {w.field: w.message for w in parsed.warnings}
    assert set(warnings) == {"country", "company_size", "website", "first_name"}
    assert "Atlantis" in warnings["country"]
    assert "custom.raw_first_name" in warnings["first_name"]


def test_email_stays_required() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_lead({"email": "not an email", "country": "Atlantis"})
    # Refused for the email; the odd country is named too, so one fix round is enough.
    assert [e.field for e in caught.value.errors] == ["email", "country"]


@pytest.mark.parametrize(
    "website", ["acme.io", "https://www.acme.io/about", "http://acme.co.uk", "Acme.IO"]
)
def test_real_web_addresses_are_kept(website: str) -> None:
    assert parse_lead({"email": "ana@acme.io", "website": website}).profile.website == website


@pytest.mark.parametrize(
    "occurred_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-01:00", "1900-01-01T00:00Z"]
)
def test_event_times_out_of_range_are_refused(occurred_at: str) -> None:
    with pytest.raises(PayloadError) as caught:
        parse_event({"email": "ana@acme.io", "type": "x", "occurred_at": occurred_at}, NOW)
    assert [e.field for e in caught.value.errors] == ["occurred_at"]


def test_event_properties_lose_nul_with_a_warning() -> None:
    parsed = parse_event(
        {"email": "ana@acme.io", "type": "page_view", "properties": {"path": "/a\x00b"}}, NOW
    )
    assert parsed.event.properties == {"path": "/ab"}
    assert [w.field for w in parsed.warnings] == ["properties.path"]
