"""Website form posts: field mapping, control fields left out, spam signals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.sources.forms import MISSING_EMAIL, collect, map_form, spam_reason
from bot.sources.generic import ParsedLead, PayloadError
from bot.sources.mapping import parse_mapped

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def _parse(pairs: list[tuple[str, str]], field_map: dict[str, str] | None = None) -> ParsedLead:
    fields = collect(pairs, control={"token", "website_url", "_ts"})
    return parse_mapped(
        map_form(fields, field_map or {}), "form:demo", missing_email_hint=MISSING_EMAIL
    )


def test_fields_named_like_lead_fields_map_themselves_ignoring_case_and_spaces() -> None:
    parsed = _parse(
        [
            ("Email", "Ana@Acme.io"),
            ("First Name", "Ana"),
            ("job", "VP Sales"),
            ("company_size", "250"),
            ("utm_campaign", "spring"),
            ("token", "secret-should-not-be-kept"),
            ("_ts", "1700000000"),
        ],
        {"job": "title"},
    )
    lead = parsed.profile
    assert (lead.email, lead.first_name, lead.title, lead.company_size) == (
        "ana@acme.io",
        "Ana",
        "VP Sales",
        250,
    )
    assert lead.utm == {"campaign": "spring"}
    assert lead.source == "form:demo"
    assert lead.custom == {}


def test_checkbox_groups_are_joined_and_unmapped_fields_kept() -> None:
    parsed = _parse(
        [("email", "a@acme.io"), ("interest", "routing"), ("interest", "reports"), ("msg", "hi")]
    )
    assert parsed.profile.custom == {"interest": "routing, reports", "msg": "hi"}
    assert parsed.unknown_fields == ("interest", "msg")


def test_bad_value_is_named_by_the_form_field() -> None:
    with pytest.raises(PayloadError) as caught:
        _parse([("your-email", "nope")], {"your-email": "email"})
    assert [e.field for e in caught.value.errors] == ["your-email"]


def test_form_without_an_email_field_is_refused() -> None:
    with pytest.raises(PayloadError) as caught:
        _parse([("name", "Ana")])
    assert caught.value.errors[0].message == MISSING_EMAIL


def test_honeypot_and_too_fast_posts_look_like_spam() -> None:
    loaded = str(int((NOW - timedelta(seconds=1)).timestamp() * 1000))
    earlier = str(int((NOW - timedelta(seconds=30)).timestamp()))
    fill = timedelta(seconds=3)
    assert spam_reason([("website_url", "http://x")], "website_url", None, fill, NOW)
    assert spam_reason([("website_url", " ")], "website_url", None, fill, NOW) is None
    assert "after the form loaded" in (spam_reason([("_ts", loaded)], None, "_ts", fill, NOW) or "")
    assert spam_reason([("_ts", earlier)], None, "_ts", fill, NOW) is None
    # No timestamp field, or one no script filled in: not held to a fill time.
    assert spam_reason([], None, "_ts", fill, NOW) is None
    assert spam_reason([("_ts", "")], None, "_ts", fill, NOW) is None


def test_nul_characters_and_nameless_fields_are_dropped() -> None:
    fields = collect([("email", "a@acme.io\x00"), ("", "x"), ("no\x00te", "hi\x00")], control=())
    assert fields == {"email": "a@acme.io", "note": "hi"}
