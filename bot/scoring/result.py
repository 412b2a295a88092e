"""The outcome of scoring: points, a grade and the reasons a rep can read."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reason:
    """One line of the explanation, e.g. ``+25 title matches VP/Head/Director``."""

    points: int
    text: str
    group: str  # "fit", "engagement", "negative", "completeness", "surge"

    def __str__(self) -> str:
        sign = "+" if self.points >= 0 else "\u2212"
        return f"{sign}{abs(self.points)} {self.text}"


@dataclass(frozen=True)
class Score:
    points: int  # 0..100, clamped
    grade: str  # "A".."D", from fit alone
    reasons: tuple[Reason, ...]  # ordered by absolute points, largest first

    def top_reasons(self, count: int = 3) -> tuple[Reason, ...]:
        return self.reasons[:count]
