"""Routing rules, regions, the default channel and account ownership."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from bot.domain.leads import LeadProfile
from bot.domain.routing import AccountOwner, RoutingConfig, RoutingDecision, route_lead

NOW = datetime(2025, 6, 10, 12, 0, tzinfo=UTC)
FREE_MAIL = frozenset({"gmail.com", "outlook.com"})
REGIONS = {"EMEA": ["ES", "FR", "DE", "GB"], "NAM": ["US", "CA"]}

ROUTING_YAML = """
routing:
  default_channel: C0DEFAULT
  regions:
    EMEA: [ES, FR, DE, GB, IT, PT, NL]
    NAM: [US, CA]
  rules:
    - name: emea-enterprise
      channel: C0EMEAENT
      countries: [EMEA]
      company_size: {min: 200, max: 1000}
    - name: emea
      channel: sales-emea
      countries: [EMEA]
    - name: hot-webinar-mx
      channel: C0LATAM
      countries: [MX]
      sources: [webinar]
      score: {min: 80}
      grades: [A, B]
    - name: fintech
      channel: C0FINTECH
      industries: [Fintech, Banking]
  account_ownership:
    enabled: true
    window: 90d
"""


def config_from_yaml() -> RoutingConfig:
    return RoutingConfig.model_validate(yaml.safe_load(ROUTING_YAML)["routing"])


def single_rule(**conditions: Any) -> RoutingConfig:
    return RoutingConfig.model_validate(
        {
            "default_channel": "C0DEFAULT",
            "regions": REGIONS,
            "rules": [{"name": "only", "channel": "C0ONLY", **conditions}],
        }
    )


def lead(email: str = "ana@acme.com", **fields: Any) -> LeadProfile:
    return LeadProfile(email=email, **fields)


def route(
    profile: LeadProfile,
    config: RoutingConfig,
    points: int = 50,
    grade: str = "B",
    owners: tuple[AccountOwner, ...] = (),
) -> RoutingDecision:
    return route_lead(profile, points, grade, config, owners, NOW, FREE_MAIL)


@pytest.mark.parametrize(
    ("profile", "points", "grade", "channel", "rule_name", "reason"),
    [
        pytest.param(
            lead(country="ES", company_size=250),
            50,
            "B",
            "C0EMEAENT",
            "emea-enterprise",
            "country ES in region EMEA, company size 250 in 200–1000",
            id="first-match-wins-over-later-emea-rule",
        ),
        pytest.param(
            lead(country="es", company_size=5000),
            50,
            "B",
            "sales-emea",
            "emea",
            "country ES in region EMEA",
            id="too-big-for-enterprise-falls-to-emea",
        ),
        pytest.param(
            lead(country="MX", source="Webinar"),
            85,
            "a",
            "C0LATAM",
            "hot-webinar-mx",
            "country MX, source Webinar, score 85 ≥ 80, grade A",
            id="all-conditions-match",
        ),
        pytest.param(
            lead(country="MX", source="webinar"),
            79,
            "A",
            "C0DEFAULT",
            "default",
            "no rule matched; default channel",
            id="one-condition-fails-whole-rule",
        ),
        pytest.param(
            lead(country="US", industry="banking"),
            50,
            "B",
            "C0FINTECH",
            "fintech",
            "industry banking",
            id="later-rule-when-earlier-fail",
        ),
        pytest.param(
            lead(),
            50,
            "B",
            "C0DEFAULT",
            "default",
            "no rule matched; default channel",
            id="nothing-known-goes-to-default",
        ),
    ],
)
def test_route_lead_first_matching_rule(
    profile: LeadProfile, points: int, grade: str, channel: str, rule_name: str, reason: str
) -> None:
    decision = route(profile, config_from_yaml(), points, grade)
    assert decision == RoutingDecision(channel, rule_name, reason, owner_user_id=None)


@pytest.mark.parametrize(
    ("conditions", "profile", "points", "grade", "reason"),
    [
        pytest.param(
            {"countries": ["ES", "PT"]},
            lead(country="PT"),
            50,
            "B",
            "country PT",
            id="country-code",
        ),
        pytest.param(
            {"countries": ["nam"]},
            lead(country="CA"),
            50,
            "B",
            "country CA in region NAM",
            id="region-case-insensitive",
        ),
        pytest.param(
            {"company_size": {"min": 200}},
            lead(company_size=200),
            50,
            "B",
            "company size 200 ≥ 200",
            id="size-min-inclusive",
        ),
        pytest.param(
            {"company_size": {"max": 50}},
            lead(company_size=50),
            50,
            "B",
            "company size 50 ≤ 50",
            id="size-max-inclusive",
        ),
        pytest.param(
            {"industries": ["SaaS"]},
            lead(industry=" saas "),
            50,
            "B",
            "industry saas",
            id="industry-case-insensitive",
        ),
        pytest.param(
            {"sources": ["HubSpot"]},
            lead(source="hubspot"),
            50,
            "B",
            "source hubspot",
            id="source-case-insensitive",
        ),
        pytest.param(
            {"score": {"min": 70, "max": 90}},
            lead(),
            90,
            "B",
            "score 90 in 70–90",
            id="score-range",
        ),
        pytest.param({"grades": ["a", "B"]}, lead(), 50, "b", "grade B", id="grade"),
        pytest.param({}, lead(), 0, "D", "rule has no conditions", id="catch-all"),
    ],
)
def test_each_condition_matches(
    conditions: dict[str, Any], profile: LeadProfile, points: int, grade: str, reason: str
) -> None:
    decision = route(profile, single_rule(**conditions), points, grade)
    assert (decision.channel, decision.rule_name, decision.reason) == ("C0ONLY", "only", reason)


@pytest.mark.parametrize(
    ("conditions", "profile", "points", "grade"),
    [
        pytest.param({"countries": ["ES"]}, lead(country="FR"), 50, "B", id="other-country"),
        pytest.param({"countries": ["EMEA"]}, lead(country="US"), 50, "B", id="outside-region"),
        pytest.param({"countries": ["ES"]}, lead(), 50, "B", id="unknown-country"),
        pytest.param(
            {"company_size": {"min": 200}}, lead(company_size=199), 50, "B", id="size-below-min"
        ),
        pytest.param(
            {"company_size": {"max": 50}}, lead(company_size=51), 50, "B", id="size-above-max"
        ),
        pytest.param({"company_size": {"max": 50}}, lead(), 50, "B", id="unknown-size"),
        pytest.param(
            {"industries": ["SaaS"]}, lead(industry="Retail"), 50, "B", id="other-industry"
        ),
        pytest.param({"industries": ["SaaS"]}, lead(), 50, "B", id="unknown-industry"),
        pytest.param({"sources": ["webinar"]}, lead(source="typeform"), 50, "B", id="other-source"),
        pytest.param({"score": {"min": 70}}, lead(), 69, "B", id="score-below"),
        pytest.param({"score": {"max": 90}}, lead(), 91, "B", id="score-above"),
        pytest.param({"grades": ["A"]}, lead(), 50, "B", id="other-grade"),
    ],
)
def test_each_condition_can_reject(
    conditions: dict[str, Any], profile: LeadProfile, points: int, grade: str
) -> None:
    decision = route(profile, single_rule(**conditions), points, grade)
    assert (decision.channel, decision.rule_name) == ("C0DEFAULT", "default")


def owner(
    user: str, days_ago: float, *, domain: str = "acme.com", still_open: bool = True
) -> AccountOwner:
    return AccountOwner(domain, user, NOW - timedelta(days=days_ago), still_open)


@pytest.mark.parametrize(
    ("email", "owners", "expected"),
    [
        pytest.param("ana@acme.com", (owner("U1", 10),), "U1", id="within-window"),
        pytest.param("ana@acme.com", (owner("U1", 90),), "U1", id="window-edge-inclusive"),
        pytest.param("ana@acme.com", (owner("U1", 91),), None, id="outside-window"),
        pytest.param(
            "ana@acme.com", (owner("U1", 10, still_open=False),), None, id="closed-claim-ignored"
        ),
        pytest.param(
            "ana@ACME.com",
            (owner("U1", 10, domain="Acme.COM"),),
            "U1",
            id="domain-case-insensitive",
        ),
        pytest.param("ana@acme.com", (owner("U1", 10, domain="acme.io"),), None, id="other-domain"),
        pytest.param(
            "ana@gmail.com",
            (owner("U1", 1, domain="gmail.com"),),
            None,
            id="free-mail-is-not-a-company",
        ),
        pytest.param(
            "ana@acme.com",
            (owner("U1", 30), owner("U2", 2), owner("U3", 60)),
            "U2",
            id="most-recent-claim-wins",
        ),
        pytest.param(
            "ana@acme.com",
            (owner("U2", 2, still_open=False), owner("U1", 30)),
            "U1",
            id="most-recent-open-claim-wins",
        ),
    ],
)
def test_account_owner(email: str, owners: tuple[AccountOwner, ...], expected: str | None) -> None:
    decision = route(lead(email, country="ES", company_size=250), config_from_yaml(), owners=owners)
    assert decision.owner_user_id == expected
    # Ownership adds a DM; it never moves the lead out of its channel.
    assert (decision.channel, decision.rule_name) == ("C0EMEAENT", "emea-enterprise")


def test_owner_is_explained_in_reason() -> None:
    decision = route(lead(), config_from_yaml(), owners=(owner("U1", 3),))
    assert decision.reason == (
        "no rule matched; default channel; account acme.com owned by U1 (claimed 3 d ago)"
    )


def test_account_ownership_can_be_disabled() -> None:
    raw = yaml.safe_load(ROUTING_YAML)["routing"]
    raw["account_ownership"] = {"enabled": False}
    decision = route(lead(), RoutingConfig.model_validate(raw), owners=(owner("U1", 1),))
    assert decision.owner_user_id is None


def test_ownership_window_is_configurable() -> None:
    raw = yaml.safe_load(ROUTING_YAML)["routing"]
    raw["account_ownership"] = {"window": "1w"}
    config = RoutingConfig.model_validate(raw)
    assert route(lead(), config, owners=(owner("U1", 6),)).owner_user_id == "U1"
    assert route(lead(), config, owners=(owner("U1", 8),)).owner_user_id is None


def test_defaults_when_optional_sections_are_left_out() -> None:
    config = RoutingConfig.model_validate({"default_channel": "#sales"})
    assert config.default_channel == "sales"
    assert config.account_ownership.enabled is True
    assert config.account_ownership.window == timedelta(days=90)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        route_lead(lead(), 50, "B", config_from_yaml(), (), datetime(2025, 6, 10), FREE_MAIL)  # noqa: DTZ001


def _with_rule(**rule: Any) -> dict[str, Any]:
    return {
        "default_channel": "C0DEFAULT",
        "regions": REGIONS,
        "rules": [{"name": "r1", "channel": "C0R1", **rule}],
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param(
            _with_rule(countries=["EMEAA"]),
            "rules[0] ('r1').countries: unknown region 'EMEAA' (regions: EMEA, NAM)",
            id="unknown-region",
        ),
        pytest.param(_with_rule(countries=["UK"]), "use 'GB'", id="uk-is-not-iso"),
        pytest.param(_with_rule(countries=["E5"]), "not an ISO 3166-1 alpha-2", id="bad-code"),
        pytest.param(_with_rule(countries=[]), "rules.0.countries", id="empty-list"),
        pytest.param(_with_rule(grades=[]), "rules.0.grades", id="empty-grades"),
        pytest.param(_with_rule(country=["ES"]), "rules.0.country", id="typo-key"),
        pytest.param(_with_rule(channel="Sales EMEA"), "rules.0.channel", id="bad-channel"),
        pytest.param(
            _with_rule(company_size={"min": 1000, "max": 200}),
            "rules.0.company_size",
            id="min-above-max",
        ),
        pytest.param(_with_rule(score={}), "give min, max or both", id="empty-range"),
        pytest.param(_with_rule(score={"min": 70, "mn": 1}), "rules.0.score.mn", id="range-typo"),
        pytest.param(_with_rule(name="default"), "'default' is reserved", id="reserved-name"),
        pytest.param(
            {
                "default_channel": "C0D",
                "rules": [{"name": "a", "channel": "C0A"}, {"name": "a", "channel": "C0B"}],
            },
            "rules[1] ('a'): duplicate rule name",
            id="duplicate-name",
        ),
        pytest.param(
            {"default_channel": "C0D", "regions": {"NA": ["US"]}},
            "region 'NA': region names need three",
            id="two-letter-region",
        ),
        pytest.param(
            {"default_channel": "C0D", "regions": {"EMEA": ["ES", "UK"]}},
            "region 'EMEA': 'UK'",
            id="bad-region-member",
        ),
        pytest.param(
            {"default_channel": "C0D", "regions": {"EMEA": []}},
            "region 'EMEA' lists no countries",
            id="empty-region",
        ),
        pytest.param({"rules": []}, "default_channel", id="missing-default"),
        pytest.param(
            {"default_channel": "C0D", "account_ownership": {"window": "90 days"}},
            "account_ownership.window",
            id="bad-window",
        ),
    ],
)
def test_invalid_routing_config_names_the_key(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        RoutingConfig.model_validate(raw)
    # Field errors carry the key in loc; whole-config errors must name it in the message.
    text = "\n".join(
        ".".join(str(part) for part in item["loc"]) + ": " + item["msg"]
        for item in error.value.errors()
    )
    assert message in text
