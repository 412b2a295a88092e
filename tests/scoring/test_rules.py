"""Validation of the scoring: section: defaults load, and every mistake names its key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

import bot.scoring
from bot.scoring import ScoringRules, parse_duration

EXAMPLE = Path(bot.scoring.__file__).with_name("example_scoring.yml")


def _fit_rule(**overrides: Any) -> dict[str, Any]:
    return {"field": "title", "matches": "vp", "points": 10, "reason": "vp"} | overrides


def test_defaults_are_valid_and_not_empty() -> None:
    rules = ScoringRules()

    assert rules.fit
    assert "gmail.com" in rules.negative.free_mail.domains
    assert "page_view" in rules.engagement.events
    assert rules.grades.grade_for(40) == "A"


def test_example_yaml_loads_into_scoring_rules() -> None:
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))

    rules = ScoringRules.model_validate(document["scoring"])

    assert rules.fit[2].in_ == ("us", "ca", "gb", "de")
    assert rules.negative.competitor.domains == ("rival.io", "othercrm.com")
    assert rules.engagement.events["page_view"].half_life == timedelta(days=3)
    assert rules.surge[1].within == timedelta(days=1)


def test_overriding_a_toggle_keeps_its_builtin_domains() -> None:
    rules = ScoringRules.model_validate({"negative": {"free_mail": {"points": -5}}})

    assert rules.negative.free_mail.points == -5
    assert "gmail.com" in rules.negative.free_mail.domains


def test_in_matcher_is_read_from_the_in_key_and_lowercased() -> None:
    rules = ScoringRules.model_validate({"fit": [_fit_rule(matches=None, **{"in": ["US", "Ca"]})]})

    assert rules.fit[0].in_ == ("us", "ca")


def test_domains_are_normalised() -> None:
    rules = ScoringRules.model_validate({"negative": {"competitor": {"domains": [" @Rival.IO "]}}})

    assert rules.negative.competitor.domains == ("rival.io",)


@pytest.mark.parametrize(
    ("config", "loc", "message"),
    [
        pytest.param({"fitt": []}, ("fitt",), "Extra inputs", id="unknown-top-level-key"),
        pytest.param(
            {"fit": [_fit_rule(pionts=3)]}, ("fit", 0, "pionts"), "Extra inputs", id="typo-in-rule"
        ),
        pytest.param(
            {"fit": [_fit_rule(matches="(vp")]},
            ("fit", 0, "matches"),
            "invalid regular expression",
            id="bad-regex",
        ),
        pytest.param(
            {"fit": [_fit_rule(field="titel")]},
            ("fit", 0, "field"),
            "unknown lead field 'titel'",
            id="unknown-field",
        ),
        pytest.param(
            {"fit": [_fit_rule(field="custom.")]},
            ("fit", 0, "field"),
            "custom.<key>",
            id="custom-without-key",
        ),
        pytest.param(
            {"fit": [_fit_rule(**{"in": ["x"]})]},
            ("fit", 0),
            "exactly one of matches, in, range (found: matches, in)",
            id="two-matchers",
        ),
        pytest.param(
            {"fit": [_fit_rule(matches=None)]},
            ("fit", 0),
            "(found: none)",
            id="no-matcher",
        ),
        pytest.param(
            {"fit": [_fit_rule(matches=None, **{"in": []})]},
            ("fit", 0, "in"),
            "at least one value",
            id="empty-in",
        ),
        pytest.param(
            {"fit": [_fit_rule(matches=None, range={"min": 10, "max": 5})]},
            ("fit", 0, "range"),
            "min 10 is above max 5",
            id="range-upside-down",
        ),
        pytest.param(
            {"fit": [_fit_rule(matches=None, range={})]},
            ("fit", 0, "range"),
            "min, max or both",
            id="range-without-bounds",
        ),
        pytest.param(
            {"fit": [_fit_rule(group="Hot Stuff")]},
            ("fit", 0, "group"),
            "pattern",
            id="bad-group-name",
        ),
        pytest.param(
            {"engagement": {"max_age": "5 parsecs"}},
            ("engagement", "max_age"),
            '"90s", "15m", "4h", "2d", "1w"',
            id="bad-duration",
        ),
        pytest.param(
            {"engagement": {"events": {"email_open": {"points": 2, "half_life": 7}}}},
            ("engagement", "events", "email_open", "half_life"),
            "expected a duration",
            id="bare-number-duration",
        ),
        pytest.param(
            {"engagement": {"default_half_life": "0s"}},
            ("engagement", "default_half_life"),
            "longer than zero",
            id="zero-half-life",
        ),
        pytest.param(
            {
                "engagement": {
                    "events": {
                        "page_view": {
                            "points": 1,
                            "pages": [{"pattern": "[", "points": 1, "label": "x"}],
                        }
                    }
                }
            },
            ("engagement", "events", "page_view", "pages", 0, "pattern"),
            "invalid regular expression",
            id="bad-page-pattern",
        ),
        pytest.param(
            {"negative": {"competitor": {"domains": ["not a domain"]}}},
            ("negative", "competitor", "domains", 0),
            "expected a domain",
            id="bad-domain",
        ),
        pytest.param(
            {"surge": [{"event": "page_view", "count": 1, "within": "1h", "points": 5}]},
            ("surge", 0, "count"),
            "greater than or equal to 2",
            id="surge-of-one",
        ),
        pytest.param(
            {"caps": {"engagment": 40}}, (), "caps: unknown group 'engagment'", id="cap-typo"
        ),
        pytest.param(
            {"grades": {"groups": ["fit", "intent"]}},
            (),
            "grades.groups: unknown group 'intent'",
            id="grade-group-typo",
        ),
        pytest.param(
            {"grades": {"thresholds": {"A": 40, "D": 10}}},
            ("grades",),
            "both in thresholds and below",
            id="grade-below-in-thresholds",
        ),
        pytest.param(
            {"completeness": {"points": -1}},
            ("completeness", "points"),
            "greater than or equal to 0",
            id="negative-completeness",
        ),
    ],
)
def test_invalid_config_names_the_bad_key(
    config: dict[str, Any], loc: tuple[str | int, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        ScoringRules.model_validate(config)

    errors = caught.value.errors()
    assert [error["loc"] for error in errors] == [loc]
    assert message in errors[0]["msg"]


def test_caps_may_name_a_group_defined_by_a_rule() -> None:
    rules = ScoringRules.model_validate(
        {"fit": [_fit_rule(group="intent")], "caps": {"intent": 5}, "grades": {"groups": ["fit"]}}
    )

    assert rules.caps == {"intent": 5}


def test_rules_are_immutable() -> None:
    rules = ScoringRules()

    with pytest.raises(ValidationError):
        rules.engagement.max_age = timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("4h", timedelta(hours=4)),
        ("2d", timedelta(days=2)),
        ("1w", timedelta(weeks=1)),
        (" 1H30M ", timedelta(minutes=90)),
    ],
)
def test_parse_duration_reads_config_units(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["5 parsecs", "", "15", "1.5h", "-2d", "h"])
def test_parse_duration_rejects_other_formats(text: str) -> None:
    with pytest.raises(ValueError, match="expected a duration like"):
        parse_duration(text)
