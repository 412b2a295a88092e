"""Rule sets for scoring tests: everything switched off except what a test turns on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.leads import EngagementEvent
from bot.scoring import Score, ScoringRules

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def build_rules(**sections: Any) -> ScoringRules:
    """A rule set with no built-in rules, plus the given top-level sections."""
    quiet: dict[str, Any] = {
        "fit": [],
        "negative": {
            "rules": [],
            "free_mail": {"domains": []},
            "disposable": {"domains": []},
            "competitor": {"domains": []},
        },
        "completeness": {"fields": []},
        "engagement": {"events": {}},
        "surge": [],
        "caps": {},
    }
    return ScoringRules.model_validate(quiet | sections)


def build_event(type_: str, age: timedelta, url: str | None = None) -> EngagementEvent:
    return EngagementEvent(type_, NOW - age, {"url": url} if url else {})


def reason_lines(score: Score) -> list[str]:
    return [str(reason) for reason in score.reasons]
