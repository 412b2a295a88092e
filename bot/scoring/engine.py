"""score_lead: profile + engagement events + rules + now -> Score with reasons a rep can read.

Invariants: every reason carries int points; the reasons add up to the unclamped total;
``Score.points`` is that total clamped to 0..100, so with very strong or very weak leads the
reasons may add up to more than 100 or less than 0 while the score says 100 or 0.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.durations import format_duration
from bot.domain.leads import EngagementEvent, LeadProfile
from bot.scoring.result import Reason, Score
from bot.scoring.rules import (
    COMPLETENESS_GROUP,
    ENGAGEMENT_GROUP,
    NEGATIVE_GROUP,
    SURGE_GROUP,
    DomainRule,
    Engagement,
    EventRule,
    FitRule,
    Range,
    ScoringRules,
    SurgeRule,
)

MIN_SCORE = 0
MAX_SCORE = 100

# What a lead did, once and n times; event types not listed here use their `label` or the type.
_PHRASES = {
    "email_open": ("opened an email", "opened {n} emails"),
    "email_click": ("clicked a link in an email", "clicked {n} email links"),
    "page_view": ("viewed a page", "viewed {n} pages"),
    "form_submit": ("submitted a form", "submitted {n} forms"),
    "meeting_booked": ("booked a meeting", "booked {n} meetings"),
}
_PLURAL_NOUNS = {
    "email_open": "email opens",
    "email_click": "email clicks",
    "page_view": "page views",
    "form_submit": "form submissions",
    "meeting_booked": "meetings booked",
}


def score_lead(
    lead: LeadProfile,
    events: Sequence[EngagementEvent],
    rules: ScoringRules,
    now: datetime,
) -> Score:
    """Score one lead; raises ValueError for a naive ``now`` or ``occurred_at``."""
    _require_aware(now, "now")
    for event in events:
        _require_aware(event.occurred_at, f"occurred_at of {event.type!r} event")

    reasons = [
        *_match_reasons(lead, rules.fit),
        *_match_reasons(lead, rules.negative.rules),
        *_domain_reasons(lead, rules),
        *_completeness_reasons(lead, rules),
        *_engagement_reasons(events, rules.engagement, now),
        *_surge_reasons(events, rules.surge, now),
    ]
    reasons = [reason for reason in reasons if reason.points != 0]
    reasons.extend(_cap_reasons(reasons, rules.caps))

    total = sum(reason.points for reason in reasons)
    fit_points = sum(reason.points for reason in reasons if reason.group in rules.grades.groups)
    return Score(
        points=min(MAX_SCORE, max(MIN_SCORE, total)),
        grade=rules.grades.grade_for(fit_points),
        reasons=tuple(sorted(reasons, key=lambda r: (-abs(r.points), r.text, r.group))),
    )


def format_age(age: timedelta) -> str:
    """Floor to one unit, for reason lines: "just now", "5 min ago", "2 h ago", "3 d ago"."""
    seconds = int(age.total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def _require_aware(moment: datetime, what: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware, got naive {moment.isoformat()}")


def _round(value: float) -> int:
    # Half away from zero: Python's round() sends 2.5 to 2, which reads like a bug to a rep.
    return int(math.copysign(math.floor(abs(value) + 0.5), value))


# --- fit and negative -------------------------------------------------------------------------


def _field_values(lead: LeadProfile, name: str) -> list[object]:
    prefix, dot, key = name.partition(".")
    if dot:
        raw: object = (lead.custom if prefix == "custom" else lead.utm).get(key)
    else:
        raw = getattr(lead, name)
    # Multi-select form answers arrive as lists; a rule matches if any item does.
    items = list(raw) if isinstance(raw, list | tuple | set | frozenset) else [raw]
    return [item for item in items if item is not None and str(item).strip()]


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _in_range(value: object, bounds: Range) -> bool:
    number = _as_number(value)
    if number is None:
        return False
    above_min = bounds.min is None or number >= bounds.min
    below_max = bounds.max is None or number <= bounds.max
    return above_min and below_max


@functools.lru_cache(maxsize=1024)
def _pattern(text: str) -> re.Pattern[str]:
    """Rules hold patterns as text; compile each once (the re module's own cache still costs
    a lookup with flag checks on every call, for every rule of every lead)."""
    return re.compile(text, re.IGNORECASE)


@functools.lru_cache(maxsize=64)
def _domain_set(domains: tuple[str, ...]) -> frozenset[str]:
    return frozenset(domains)


def _listed(domain: str, domains: tuple[str, ...]) -> bool:
    """``domain`` or one of its parent domains is in ``domains``: a set lookup per label
    instead of a suffix test per listed domain."""
    listed = _domain_set(domains)
    labels = domain.split(".")
    return any(".".join(labels[i:]) in listed for i in range(len(labels)))


def _matches(rule: FitRule, value: object) -> bool:
    if rule.matches is not None:
        return _pattern(rule.matches).search(str(value)) is not None
    if rule.in_ is not None:
        return str(value).strip().lower() in rule.in_
    return rule.range is not None and _in_range(value, rule.range)


def _match_reasons(lead: LeadProfile, rules: Iterable[FitRule]) -> list[Reason]:
    return [
        Reason(rule.points, rule.reason, rule.group)
        for rule in rules
        if any(_matches(rule, value) for value in _field_values(lead, rule.field))
    ]


def _domain_reasons(lead: LeadProfile, rules: ScoringRules) -> list[Reason]:
    domain = lead.email_domain
    toggles: tuple[DomainRule, ...] = (
        rules.negative.free_mail,
        rules.negative.disposable,
        rules.negative.competitor,
    )
    reasons = []
    for toggle in toggles:
        # Subdomains count too: "eu.mail.rival.com" is still the competitor rival.com.
        if toggle.match(domain) is not None:
            reasons.append(Reason(toggle.points, f"{toggle.reason} ({domain})", NEGATIVE_GROUP))
    return reasons


def _completeness_reasons(lead: LeadProfile, rules: ScoringRules) -> list[Reason]:
    fields = rules.completeness.fields
    if not fields:
        return []
    filled = sum(1 for name in fields if _field_values(lead, name))
    points = _round(rules.completeness.points * filled / len(fields))
    return [Reason(points, f"profile {filled}/{len(fields)} complete", COMPLETENESS_GROUP)]


# --- engagement ---------------------------------------------------------------------------------


@dataclass
class _Line:
    """Decayed points of the events that share one reason line."""

    values: list[float] = field(default_factory=list)
    youngest: timedelta = timedelta.max

    def add(self, value: float, age: timedelta) -> None:
        self.values.append(value)
        self.youngest = min(self.youngest, age)


def _url(event: EngagementEvent) -> str | None:
    url = event.properties.get("url")
    return url if isinstance(url, str) else None


def _page_index(rule: EventRule, event: EngagementEvent) -> int | None:
    url = _url(event)
    if url is None:
        return None
    for index, page in enumerate(rule.pages):
        if _pattern(page.pattern).search(url):
            return index
    return None


def _describe(phrases: tuple[str, str], count: int, youngest: timedelta) -> str:
    once, many = phrases
    if count == 1:
        return f"{once} {format_age(youngest)}"
    return f"{many.format(n=count)}, latest {format_age(youngest)}"


def _phrases(event_type: str, label: str | None) -> tuple[str, str]:
    if label is None and event_type in _PHRASES:
        return _PHRASES[event_type]
    text = label or f"{event_type} event"
    return text, f"{text} {{n}} times"


def _engagement_reasons(
    events: Sequence[EngagementEvent], engagement: Engagement, now: datetime
) -> list[Reason]:
    lines: dict[tuple[str, int | None], _Line] = {}
    for event in events:
        rule = engagement.events.get(event.type)
        if rule is None:
            continue
        # Clock skew can put an event slightly in the future; it counts as happening now.
        age = max(now - event.occurred_at, timedelta(0))
        if age > engagement.max_age:
            continue
        index = _page_index(rule, event)
        base = rule.points if index is None else rule.pages[index].points
        half_life = rule.half_life or engagement.default_half_life
        lines.setdefault((event.type, index), _Line()).add(base * 0.5 ** (age / half_life), age)

    reasons = []
    for (event_type, index), line in lines.items():
        rule = engagement.events[event_type]
        if index is None:
            phrases, ceiling = _phrases(event_type, rule.label), rule.max
        else:
            page = rule.pages[index]
            phrases, ceiling = _phrases(event_type, page.label), page.max
        text = _describe(phrases, len(line.values), line.youngest)
        # fsum is exact, so the total does not depend on the order the events arrived in.
        points = _round(math.fsum(line.values))
        if ceiling is not None and points > ceiling:
            points, text = ceiling, f"{text} (capped at {ceiling})"
        reasons.append(Reason(points, text, ENGAGEMENT_GROUP))
    return reasons


def _surge_reasons(
    events: Sequence[EngagementEvent], rules: Iterable[SurgeRule], now: datetime
) -> list[Reason]:
    reasons = []
    for rule in rules:
        since = now - rule.within
        count = sum(
            1
            for event in events
            if event.type == rule.event
            and event.occurred_at >= since
            and (rule.pattern is None or _pattern(rule.pattern).search(_url(event) or ""))
        )
        if count >= rule.count:
            noun = rule.label or _PLURAL_NOUNS.get(rule.event, f"{rule.event} events")
            if rule.label is None and rule.pattern is not None:
                noun = f"{noun} matching {rule.pattern}"
            text = f"{count} {noun} in the last {format_duration(rule.within)}"
            reasons.append(Reason(rule.points, text, SURGE_GROUP))
    return reasons


def _cap_reasons(reasons: Sequence[Reason], caps: dict[str, int]) -> list[Reason]:
    # A separate line instead of trimming the others: the rep still sees what happened, and
    # the lines keep adding up to the total.
    adjustments = []
    for group, cap in sorted(caps.items()):
        net = sum(reason.points for reason in reasons if reason.group == group)
        if net > cap:
            adjustments.append(Reason(cap - net, f"{group} capped at {cap}", group))
    return adjustments
