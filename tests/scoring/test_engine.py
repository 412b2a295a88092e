"""score_lead: matchers, negatives, completeness, decay, aggregation, caps, surge and grades."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bot.domain.leads import EngagementEvent, LeadProfile
from bot.scoring import ScoringRules, score_lead
from bot.scoring.engine import format_age

from .helpers import NOW, build_event, build_rules, reason_lines

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
LONG_HALF_LIFE = "520w"  # decay negligible, so a test can reason in whole points


def _fit(**matcher: Any) -> dict[str, Any]:
    return {"points": 10, "reason": "matched"} | matcher


@pytest.mark.parametrize(
    ("rule", "lead", "matched"),
    [
        (_fit(field="title", matches=r"\bvp\b"), {"title": "VP of Sales"}, True),
        (_fit(field="title", matches=r"\bvp\b"), {"title": "svp, growth"}, False),
        (_fit(field="title", matches="head|director"), {"title": "Sales DIRECTOR"}, True),
        (_fit(field="title", matches="head"), {"title": None}, False),
        (_fit(field="country", **{"in": ["US", "CA"]}), {"country": "us"}, True),
        (_fit(field="country", **{"in": ["US", "CA"]}), {"country": "FR"}, False),
        (_fit(field="industry", **{"in": ["saas"]}), {"industry": " SaaS "}, True),
        (_fit(field="company_size", range={"min": 50, "max": 500}), {"company_size": 50}, True),
        (_fit(field="company_size", range={"min": 50, "max": 500}), {"company_size": 500}, True),
        (_fit(field="company_size", range={"min": 50, "max": 500}), {"company_size": 501}, False),
        (_fit(field="company_size", range={"min": 50}), {"company_size": None}, False),
        (_fit(field="company_size", range={"max": 10}), {"company_size": 3}, True),
        (_fit(field="custom.seats", range={"min": 20}), {"custom": {"seats": "25"}}, True),
        (_fit(field="custom.seats", range={"min": 20}), {"custom": {"seats": "many"}}, False),
        (_fit(field="custom.seats", range={"min": 0}), {"custom": {"seats": True}}, False),
        (
            _fit(field="custom.plan", **{"in": ["team"]}),
            {"custom": {"plan": ["pro", "Team"]}},
            True,
        ),
        (_fit(field="utm.source", **{"in": ["linkedin"]}), {"utm": {"source": "LinkedIn"}}, True),
        (_fit(field="email_domain", **{"in": ["acme.com"]}), {"email": "Jo@ACME.com"}, True),
    ],
)
def test_fit_matchers(rule: dict[str, Any], lead: dict[str, Any], matched: bool) -> None:
    profile = LeadProfile(**({"email": "jo@example.com"} | lead))

    score = score_lead(profile, [], build_rules(fit=[rule]), NOW)

    assert reason_lines(score) == (["+10 matched"] if matched else [])
    assert score.points == (10 if matched else 0)


def test_every_matching_fit_rule_adds_its_own_line() -> None:
    rules = build_rules(
        fit=[
            _fit(field="title", matches="director", points=25, reason="director title"),
            _fit(field="company_size", range={"min": 100}, points=15, reason="100+ staff"),
            _fit(field="industry", **{"in": ["retail"]}, points=5, reason="retail"),
        ]
    )
    lead = LeadProfile(email="a@acme.com", title="Director IT", company_size=300, industry="SaaS")

    score = score_lead(lead, [], rules, NOW)

    assert reason_lines(score) == ["+25 director title", "+15 100+ staff"]
    assert score.points == 40


@pytest.mark.parametrize(
    ("email", "title", "expected"),
    [
        ("jo@gmail.com", None, ["−20 free-mail domain (gmail.com)"]),
        ("jo@GMAIL.COM", None, ["−20 free-mail domain (gmail.com)"]),
        ("jo@mailinator.com", None, ["−40 disposable email domain (mailinator.com)"]),
        ("jo@rival.io", None, ["−50 competitor domain (rival.io)"]),
        ("jo@eu.rival.io", None, ["−50 competitor domain (eu.rival.io)"]),
        ("jo@notrival.io", None, []),
        ("jo@acme.com", "Marketing Student", ["−30 student or job seeker"]),
        ("jo@acme.com", "Student ambassador", ["−30 student or job seeker"]),
        ("jo@acme.com", "Head of Studies", []),
        (
            "jo@gmail.com",
            "intern",
            ["−30 student or job seeker", "−20 free-mail domain (gmail.com)"],
        ),
    ],
)
def test_negative_rules(email: str, title: str | None, expected: list[str]) -> None:
    rules = build_rules(
        negative={
            "free_mail": {"domains": ["gmail.com"], "points": -20},
            "disposable": {"domains": ["mailinator.com"], "points": -40},
            "competitor": {"domains": ["rival.io"], "points": -50},
            "rules": [
                {
                    "field": "title",
                    "matches": r"\b(student|intern)\b",
                    "points": -30,
                    "reason": "student or job seeker",
                }
            ],
        }
    )

    score = score_lead(LeadProfile(email=email, title=title), [], rules, NOW)

    assert reason_lines(score) == expected
    assert all(reason.group == "negative" for reason in score.reasons)


def test_default_rules_flag_free_mail() -> None:
    score = score_lead(LeadProfile(email="jo@gmail.com"), [], ScoringRules(), NOW)

    assert "−20 free-mail domain (gmail.com)" in reason_lines(score)


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ({}, []),
        ({"first_name": "Jo", "title": "CTO"}, ["+3 profile 2/6 complete"]),
        ({"first_name": "Jo", "title": "CTO", "company": "Acme"}, ["+5 profile 3/6 complete"]),
        (
            {"first_name": "Jo", "last_name": "Li", "title": "CTO", "company": "Acme"},
            ["+7 profile 4/6 complete"],
        ),
        (
            {"first_name": "Jo", "title": "  ", "custom": {"budget": ""}},
            ["+2 profile 1/6 complete"],
        ),
        (
            {
                "first_name": "Jo",
                "last_name": "Li",
                "title": "CTO",
                "company": "Acme",
                "phone": "+1 555",
                "custom": {"budget": 5000},
            },
            ["+10 profile 6/6 complete"],
        ),
    ],
)
def test_completeness_spreads_points_over_fields(
    profile: dict[str, Any], expected: list[str]
) -> None:
    rules = build_rules(
        completeness={
            "fields": ["first_name", "last_name", "title", "company", "phone", "custom.budget"],
            "points": 10,
        }
    )

    score = score_lead(LeadProfile(email="jo@acme.com", **profile), [], rules, NOW)

    assert reason_lines(score) == expected


def _meeting_rules(**engagement: Any) -> ScoringRules:
    return build_rules(
        engagement={"events": {"meeting_booked": {"points": 40, "half_life": "2d"}}} | engagement
    )


@pytest.mark.parametrize(
    ("age", "points"),
    [
        (timedelta(0), 40),
        (-HOUR, 40),  # clock skew: an event from the future counts as now
        (2 * DAY, 20),  # exactly one half-life
        (4 * DAY, 10),  # two half-lives
        (DAY, 28),  # 40 * 0.5 ** 0.5 = 28.28
        (90 * DAY, 0),  # decayed below half a point: no line at all
    ],
)
def test_engagement_decays_by_half_life(age: timedelta, points: int) -> None:
    score = score_lead(
        LeadProfile(email="jo@acme.com"),
        [build_event("meeting_booked", age)],
        _meeting_rules(),
        NOW,
    )

    assert score.points == points
    assert [reason.points for reason in score.reasons] == ([points] if points else [])


def test_events_older_than_max_age_count_nothing() -> None:
    rules = build_rules(
        engagement={
            "max_age": "30d",
            "events": {"meeting_booked": {"points": 40, "half_life": LONG_HALF_LIFE}},
        }
    )
    lead = LeadProfile(email="jo@acme.com")

    at_limit = score_lead(lead, [build_event("meeting_booked", 30 * DAY)], rules, NOW)
    beyond = score_lead(
        lead, [build_event("meeting_booked", 30 * DAY + timedelta(seconds=1))], rules, NOW
    )

    assert at_limit.points == 40
    assert beyond.points == 0
    assert beyond.reasons == ()


def test_half_points_round_away_from_zero() -> None:
    rules = build_rules(engagement={"events": {"email_click": {"points": 5, "half_life": "2d"}}})

    score = score_lead(
        LeadProfile(email="jo@acme.com"), [build_event("email_click", 2 * DAY)], rules, NOW
    )

    assert reason_lines(score) == ["+3 clicked a link in an email 2 d ago"]  # 2.5 -> 3, not 2


def test_event_type_without_half_life_uses_the_default() -> None:
    rules = build_rules(
        engagement={"default_half_life": "1d", "events": {"demo_request": {"points": 30}}}
    )

    score = score_lead(
        LeadProfile(email="jo@acme.com"), [build_event("demo_request", DAY)], rules, NOW
    )

    assert reason_lines(score) == ["+15 demo_request event 1 d ago"]


@pytest.mark.parametrize(
    ("age", "text"),
    [
        (timedelta(0), "just now"),
        (timedelta(seconds=59), "just now"),
        (timedelta(minutes=5, seconds=59), "5 min ago"),
        (timedelta(hours=2, minutes=59), "2 h ago"),
        (timedelta(days=3, hours=23), "3 d ago"),
    ],
)
def test_format_age(age: timedelta, text: str) -> None:
    assert format_age(age) == text


def test_page_patterns_replace_page_view_points_and_name_the_page() -> None:
    rules = build_rules(
        engagement={
            "events": {
                "page_view": {
                    "points": 3,
                    "half_life": LONG_HALF_LIFE,
                    "pages": [
                        {"pattern": "/pricing", "points": 15, "label": "visited /pricing"},
                        {"pattern": "/pric", "points": 99, "label": "never reached"},
                    ],
                }
            }
        }
    )
    events = [
        build_event("page_view", 2 * HOUR, "https://acme.com/PRICING?plan=team"),
        build_event("page_view", 3 * HOUR, "https://acme.com/blog/post"),
        build_event("page_view", 4 * HOUR),  # no url: an ordinary page view
    ]

    score = score_lead(LeadProfile(email="jo@acme.com"), events, rules, NOW)

    assert reason_lines(score) == [
        "+15 visited /pricing 2 h ago",
        "+6 viewed 2 pages, latest 3 h ago",
    ]


def test_repeated_events_aggregate_into_one_line() -> None:
    rules = build_rules(
        engagement={"events": {"email_open": {"points": 2, "half_life": LONG_HALF_LIFE}}}
    )
    events = [build_event("email_open", age) for age in (5 * HOUR, 2 * HOUR, 9 * HOUR)]

    score = score_lead(LeadProfile(email="jo@acme.com"), events, rules, NOW)

    assert reason_lines(score) == ["+6 opened 3 emails, latest 2 h ago"]


def test_fifty_page_views_are_one_line_with_a_custom_label() -> None:
    rules = build_rules(
        engagement={
            "events": {
                "docs_view": {"points": 1, "half_life": LONG_HALF_LIFE, "label": "read docs"}
            }
        }
    )
    events = [build_event("docs_view", timedelta(minutes=minute)) for minute in range(50)]

    score = score_lead(LeadProfile(email="jo@acme.com"), events, rules, NOW)

    assert reason_lines(score) == ["+50 read docs 50 times, latest just now"]


def test_unknown_event_types_are_ignored() -> None:
    score = score_lead(
        LeadProfile(email="jo@acme.com"), [build_event("tweet_liked", HOUR)], _meeting_rules(), NOW
    )

    assert score.reasons == ()


def test_event_type_max_caps_its_line_and_says_so() -> None:
    rules = build_rules(
        engagement={"events": {"email_open": {"points": 2, "half_life": LONG_HALF_LIFE, "max": 10}}}
    )
    events = [build_event("email_open", HOUR * hours) for hours in range(1, 13)]

    score = score_lead(LeadProfile(email="jo@acme.com"), events, rules, NOW)

    assert reason_lines(score) == ["+10 opened 12 emails, latest 1 h ago (capped at 10)"]


@pytest.mark.parametrize(
    ("cap", "expected_points", "expected_cap_line"),
    [
        (40, 40, "−15 engagement capped at 40"),
        (54, 54, "−1 engagement capped at 54"),
        (55, 55, None),
        (0, 0, "−55 engagement capped at 0"),
    ],
)
def test_group_cap_adds_a_visible_trimming_line(
    cap: int, expected_points: int, expected_cap_line: str | None
) -> None:
    rules = build_rules(
        engagement={
            "events": {
                "meeting_booked": {"points": 40, "half_life": LONG_HALF_LIFE},
                "form_submit": {"points": 15, "half_life": LONG_HALF_LIFE},
            }
        },
        caps={"engagement": cap},
    )
    events = [build_event("meeting_booked", HOUR), build_event("form_submit", HOUR)]

    score = score_lead(LeadProfile(email="jo@acme.com"), events, rules, NOW)

    assert score.points == expected_points
    cap_lines = [line for line in reason_lines(score) if "capped" in line]
    assert cap_lines == ([expected_cap_line] if expected_cap_line else [])


def _surge_rules(**surge: Any) -> ScoringRules:
    rule = {"event": "page_view", "count": 5, "within": "2h", "points": 10} | surge
    return build_rules(surge=[rule])


@pytest.mark.parametrize(
    ("ages_in_minutes", "expected"),
    [
        ([0, 10, 20, 30, 40], ["+10 5 page views in the last 2 h"]),
        ([0, 10, 20, 30, 40, 50, 60], ["+10 7 page views in the last 2 h"]),
        ([0, 10, 20, 30], []),
        ([0, 10, 20, 30, 121], []),  # the fifth one fell out of the window
        ([0, 10, 20, 30, 120], ["+10 5 page views in the last 2 h"]),  # window edge included
        ([-5, 10, 20, 30, 40], ["+10 5 page views in the last 2 h"]),  # skewed future event
    ],
)
def test_surge_counts_events_in_the_window_ending_now(
    ages_in_minutes: list[int], expected: list[str]
) -> None:
    events = [build_event("page_view", timedelta(minutes=age)) for age in ages_in_minutes]

    score = score_lead(LeadProfile(email="jo@acme.com"), events, _surge_rules(), NOW)

    assert reason_lines(score) == expected
    assert all(reason.group == "surge" for reason in score.reasons)


def test_surge_with_pattern_counts_only_matching_pages() -> None:
    rules = _surge_rules(count=3, within="1d", pattern="/pricing", label="pricing page views")
    pricing = [build_event("page_view", HOUR * h, "https://acme.com/pricing") for h in (1, 2)]
    blog = [build_event("page_view", HOUR, "https://acme.com/blog") for _ in range(5)]

    without_third = score_lead(LeadProfile(email="jo@acme.com"), pricing + blog, rules, NOW)
    with_third = score_lead(
        LeadProfile(email="jo@acme.com"),
        [*pricing, *blog, build_event("page_view", 3 * HOUR, "https://acme.com/Pricing")],
        rules,
        NOW,
    )

    assert without_third.reasons == ()
    assert reason_lines(with_third) == ["+10 3 pricing page views in the last 1 d"]


@pytest.mark.parametrize(
    ("fit_points", "grade"),
    [(80, "A"), (40, "A"), (39, "B"), (25, "B"), (24, "C"), (10, "C"), (9, "D"), (-30, "D")],
)
def test_grade_thresholds(fit_points: int, grade: str) -> None:
    rules = build_rules(
        fit=[{"field": "title", "matches": ".", "points": fit_points, "reason": "fit"}],
        grades={"thresholds": {"A": 40, "B": 25, "C": 10}, "below": "D"},
    )

    score = score_lead(LeadProfile(email="jo@acme.com", title="CTO"), [], rules, NOW)

    assert score.grade == grade


def test_grade_comes_from_fit_negative_and_completeness_only() -> None:
    rules = build_rules(
        fit=[{"field": "title", "matches": "cto", "points": 30, "reason": "cto"}],
        negative={"free_mail": {"domains": ["gmail.com"], "points": -10}, "rules": []},
        completeness={"fields": ["title"], "points": 10},
        engagement={"events": {"meeting_booked": {"points": 40}}},
        grades={"thresholds": {"A": 40, "B": 25, "C": 10}},
    )
    lead = LeadProfile(email="jo@gmail.com", title="CTO")

    quiet = score_lead(lead, [], rules, NOW)
    busy = score_lead(lead, [build_event("meeting_booked", HOUR)], rules, NOW)

    assert quiet.grade == busy.grade == "B"  # 30 - 10 + 10 = 30 fit points
    assert busy.points > quiet.points


@pytest.mark.parametrize("fit_points", [30, 60, 90])
def test_reasons_add_up_to_the_score_within_range(fit_points: int) -> None:
    rules = build_rules(
        fit=[{"field": "title", "matches": "cto", "points": fit_points, "reason": "cto"}],
        negative={"free_mail": {"domains": ["gmail.com"], "points": -20}, "rules": []},
        completeness={"fields": ["title", "phone", "company"], "points": 10},
        engagement={"events": {"email_open": {"points": 2}, "meeting_booked": {"points": 40}}},
        caps={"engagement": 25},
    )
    events = [build_event("email_open", HOUR * h) for h in range(1, 20)]
    events.append(build_event("meeting_booked", 3 * DAY))

    score = score_lead(LeadProfile(email="jo@gmail.com", title="CTO"), events, rules, NOW)

    assert 0 < score.points < 100
    assert sum(reason.points for reason in score.reasons) == score.points


@pytest.mark.parametrize(
    ("points", "clamped"),
    [(130, 100), (100, 100), (-45, 0)],
)
def test_total_is_clamped_but_reasons_keep_the_raw_sum(points: int, clamped: int) -> None:
    rules = build_rules(
        fit=[
            {"field": "title", "matches": "cto", "points": points // 2, "reason": "cto"},
            {"field": "email", "matches": "@", "points": points - points // 2, "reason": "email"},
        ]
    )

    score = score_lead(LeadProfile(email="jo@acme.com", title="CTO"), [], rules, NOW)

    assert score.points == clamped
    assert sum(reason.points for reason in score.reasons) == points


def test_reasons_ordered_by_size_then_text_and_zero_lines_omitted() -> None:
    rules = build_rules(
        fit=[
            {"field": "title", "matches": "cto", "points": 5, "reason": "b five"},
            {"field": "title", "matches": "cto", "points": -20, "reason": "minus twenty"},
            {"field": "title", "matches": "cto", "points": 0, "reason": "zero"},
            {"field": "title", "matches": "cto", "points": 5, "reason": "a five"},
            {"field": "title", "matches": "cto", "points": 30, "reason": "thirty"},
        ]
    )

    score = score_lead(LeadProfile(email="jo@acme.com", title="CTO"), [], rules, NOW)

    assert reason_lines(score) == ["+30 thirty", "−20 minus twenty", "+5 a five", "+5 b five"]


def test_score_does_not_depend_on_event_order() -> None:
    rules = ScoringRules()
    events = [
        build_event(kind, timedelta(minutes=minutes), url)
        for minutes in range(0, 3000, 37)
        for kind, url in (
            ("page_view", "https://acme.com/pricing"),
            ("page_view", "https://acme.com/blog"),
            ("email_open", None),
        )
    ]
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    lead = LeadProfile(email="jo@acme.com", title="VP Sales", company_size=120)

    assert score_lead(lead, events, rules, NOW) == score_lead(lead, shuffled, rules, NOW)


def test_default_rules_rank_a_hot_lead_above_a_cold_one() -> None:
    rules = ScoringRules()
    hot = LeadProfile(
        email="ana@acme.com",
        first_name="Ana",
        last_name="Ruiz",
        title="Head of Revenue",
        company="Acme",
        company_size=400,
        phone="+34 600 000 000",
    )
    cold = LeadProfile(email="kid@gmail.com", title="Student")
    events = [
        build_event("page_view", timedelta(minutes=m), "https://acme.com/pricing") for m in (5, 30)
    ] + [build_event("meeting_booked", HOUR)]

    hot_score = score_lead(hot, events, rules, NOW)
    cold_score = score_lead(cold, [], rules, NOW)

    assert hot_score.grade == "A"
    assert hot_score.points >= 80
    assert (cold_score.points, cold_score.grade) == (0, "D")


@pytest.mark.parametrize(
    ("now", "occurred_at"),
    [
        (datetime(2025, 3, 14, 12), NOW),  # noqa: DTZ001 - the naive value under test
        (NOW, datetime(2025, 3, 14, 11)),  # noqa: DTZ001 - the naive value under test
    ],
)
def test_naive_datetimes_are_rejected(now: datetime, occurred_at: datetime) -> None:
    event = EngagementEvent("page_view", occurred_at)

    with pytest.raises(ValueError, match="timezone-aware"):
        score_lead(LeadProfile(email="jo@acme.com"), [event], ScoringRules(), now)


def test_non_utc_aware_times_are_compared_correctly() -> None:
    madrid_noon = NOW.astimezone(timezone(timedelta(hours=1)))
    event = EngagementEvent("meeting_booked", madrid_noon - 2 * DAY)

    score = score_lead(LeadProfile(email="jo@acme.com"), [event], _meeting_rules(), NOW)

    assert score.points == 20
