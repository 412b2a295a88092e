"""Which rep channel a hot lead goes to, and which rep already owns its account."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bot.domain.durations import Duration, format_duration
from bot.domain.leads import LeadProfile

DEFAULT_RULE_NAME = "default"

# A Slack channel ID (C…, or G… for old private channels) or a channel name, "#" optional.
_CHANNEL_RE = re.compile(r"[CG][A-Z0-9]{2,}|[a-z0-9][a-z0-9_-]{0,79}")
_COUNTRY_RE = re.compile(r"[A-Z]{2}")
# Common mistakes that look like ISO codes but are not the code for the country meant.
_NOT_ISO = {"UK": "GB", "EL": "GR"}


def _check_channel(value: str) -> str:
    channel = value.strip().removeprefix("#")
    if not _CHANNEL_RE.fullmatch(channel):
        raise ValueError(
            f"{value!r} is neither a Slack channel ID like C0123ABCD nor a channel name like "
            "sales-emea (lower case, digits, - and _)"
        )
    return channel


def _check_country(value: str) -> str:
    code = value.strip().upper()
    if code in _NOT_ISO:
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 code; use {_NOT_ISO[code]!r}")
    if not _COUNTRY_RE.fullmatch(code):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code like 'ES'")
    return code


def _non_empty(values: list[str] | None, example: str) -> list[str] | None:
    # An empty list would make the rule match nothing, which is never what was meant.
    if values is not None and not values:
        raise ValueError(f"an empty list matches no lead; list values like {example} or omit it")
    return values


class Range(BaseModel):
    """Inclusive bounds; either may be left out."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: int | None = None
    max: int | None = None

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def contains(self, value: int) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)

    def describe(self, value: int) -> str:
        if self.min is not None and self.max is not None:
            return f"{value} in {self.min}–{self.max}"
        if self.min is not None:
            return f"{value} ≥ {self.min}"
        return f"{value} ≤ {self.max}"


class RoutingRule(BaseModel):
    """Send matching leads to `channel`; every condition given must match, absent ones are ignored.

    `countries` holds ISO alpha-2 codes and/or names of regions from `RoutingConfig.regions`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    channel: str
    countries: list[str] | None = None
    company_size: Range | None = None
    industries: list[str] | None = None
    sources: list[str] | None = None
    score: Range | None = None
    grades: list[str] | None = None

    @field_validator("channel")
    @classmethod
    def _check_channel(cls, value: str) -> str:
        return _check_channel(value)

    @field_validator("countries")
    @classmethod
    def _check_countries(cls, value: list[str] | None) -> list[str] | None:
        # Region names are resolved against the config's regions in RoutingConfig.
        return _non_empty([item.strip() for item in value] if value else value, "[ES, EMEA]")

    @field_validator("industries", "sources")
    @classmethod
    def _check_words(cls, value: list[str] | None) -> list[str] | None:
        return _non_empty([item.strip() for item in value] if value else value, "[software]")

    @field_validator("grades")
    @classmethod
    def _check_grades(cls, value: list[str] | None) -> list[str] | None:
        return _non_empty([item.strip().upper() for item in value] if value else value, "[A, B]")


class AccountOwnership(BaseModel):
    """Offer a lead to the rep already working another lead from the same company domain."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    window: Duration = timedelta(days=90)


class RoutingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[RoutingRule] = Field(default_factory=list)
    default_channel: str
    regions: dict[str, list[str]] = Field(default_factory=dict)
    account_ownership: AccountOwnership = Field(default_factory=AccountOwnership)

    @field_validator("default_channel")
    @classmethod
    def _check_default_channel(cls, value: str) -> str:
        return _check_channel(value)

    @field_validator("regions")
    @classmethod
    def _check_regions(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        checked: dict[str, list[str]] = {}
        for name, countries in value.items():
            # "NA" is Namibia; a two-letter region would silently shadow a real country code.
            if len(name.strip()) <= 2:
                raise ValueError(
                    f"region {name!r}: region names need three or more characters so they "
                    "cannot be mistaken for country codes (e.g. 'NAM' rather than 'NA')"
                )
            if not countries:
                raise ValueError(f"region {name!r} lists no countries")
            try:
                checked[name.strip()] = [_check_country(code) for code in countries]
            except ValueError as error:
                raise ValueError(f"region {name!r}: {error}") from None
        return checked

    @model_validator(mode="after")
    def _check_rules(self) -> Self:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            where = f"rules[{index}] ({rule.name!r})"
            if rule.name == DEFAULT_RULE_NAME:
                raise ValueError(f"{where}: the name {DEFAULT_RULE_NAME!r} is reserved")
            if rule.name in seen:
                raise ValueError(f"{where}: duplicate rule name")
            seen.add(rule.name)
            for entry in rule.countries or ():
                if self.region_named(entry) is not None:
                    continue
                if len(entry) != 2:
                    known = ", ".join(self.regions) or "none defined"
                    raise ValueError(
                        f"{where}.countries: unknown region {entry!r} (regions: {known})"
                    )
                try:
                    _check_country(entry)
                except ValueError as error:
                    raise ValueError(f"{where}.countries: {error}") from None
        return self

    def region_named(self, name: str) -> str | None:
        """The region's name as configured, matched case-insensitively, or None."""
        wanted = name.casefold()
        return next((region for region in self.regions if region.casefold() == wanted), None)


@dataclass(frozen=True)
class AccountOwner:
    """A rep's earlier claim of a lead from `domain`, and whether they still work it."""

    domain: str
    rep_user_id: str
    claimed_at: datetime  # timezone-aware
    still_open: bool


@dataclass(frozen=True)
class RoutingDecision:
    channel: str
    rule_name: str  # DEFAULT_RULE_NAME when no rule matched
    reason: str  # for people, e.g. "country ES in region EMEA, company size 250 in 200–1000"
    owner_user_id: str | None  # a rep to offer the lead to directly, besides the channel post


def _match_country(country: str | None, rule: RoutingRule, config: RoutingConfig) -> str | None:
    if country is None:
        return None
    code = country.strip().upper()
    for entry in rule.countries or ():
        region = config.region_named(entry)
        if region is not None and code in config.regions[region]:
            return f"country {code} in region {region}"
        if region is None and entry.upper() == code:
            return f"country {code}"
    return None


def _match_word(value: str | None, allowed: list[str], label: str) -> str | None:
    if value is None:
        return None
    wanted = value.strip().casefold()
    return f"{label} {value.strip()}" if any(a.casefold() == wanted for a in allowed) else None


def _match_rule(
    rule: RoutingRule, lead: LeadProfile, points: int, grade: str, config: RoutingConfig
) -> list[str] | None:
    """Why the rule matches, one phrase per condition, or None when any condition fails."""
    checks: list[str | None] = []
    if rule.countries is not None:
        checks.append(_match_country(lead.country, rule, config))
    if rule.company_size is not None:
        size = lead.company_size
        if size is not None and rule.company_size.contains(size):
            checks.append(f"company size {rule.company_size.describe(size)}")
        else:
            checks.append(None)
    if rule.industries is not None:
        checks.append(_match_word(lead.industry, rule.industries, "industry"))
    if rule.sources is not None:
        checks.append(_match_word(lead.source, rule.sources, "source"))
    if rule.score is not None:
        matched = rule.score.contains(points)
        checks.append(f"score {rule.score.describe(points)}" if matched else None)
    if rule.grades is not None:
        code = grade.strip().upper()
        checks.append(f"grade {code}" if code in rule.grades else None)
    if any(check is None for check in checks):
        return None
    return [check for check in checks if check is not None]


def _find_owner(
    lead: LeadProfile,
    ownership: AccountOwnership,
    owners: Sequence[AccountOwner],
    now: datetime,
    free_mail_domains: Collection[str],
) -> AccountOwner | None:
    domain = lead.email_domain
    # Two gmail.com leads are two people, not one account.
    if not ownership.enabled or not domain or domain in free_mail_domains:
        return None
    candidates = [
        owner
        for owner in owners
        if owner.still_open
        and owner.domain.strip().lower() == domain
        and now - owner.claimed_at <= ownership.window
    ]
    return max(candidates, key=lambda owner: owner.claimed_at, default=None)


def route_lead(
    lead: LeadProfile,
    score_points: int,
    grade: str,
    rules: RoutingConfig,
    owners: Sequence[AccountOwner],
    now: datetime,
    free_mail_domains: Collection[str],
) -> RoutingDecision:
    """First matching rule wins, else the default channel; an account owner is added alongside.
    ``free_mail_domains`` are lower-case (a set: it is asked once per hot lead)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    channel, rule_name, reason = rules.default_channel, DEFAULT_RULE_NAME, None
    for rule in rules.rules:
        phrases = _match_rule(rule, lead, score_points, grade, rules)
        if phrases is not None:
            channel, rule_name = rule.channel, rule.name
            reason = ", ".join(phrases) or "rule has no conditions"
            break
    if reason is None:
        reason = "no rule matched; default channel"
    owner = _find_owner(lead, rules.account_ownership, owners, now, free_mail_domains)
    if owner is not None:
        reason += (
            f"; account {lead.email_domain} owned by {owner.rep_user_id} "
            f"(claimed {format_duration(now - owner.claimed_at)} ago)"
        )
    return RoutingDecision(
        channel=channel,
        rule_name=rule_name,
        reason=reason,
        owner_user_id=owner.rep_user_id if owner else None,
    )
