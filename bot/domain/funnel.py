"""The lead funnel: new → hot → claimed → contacted → won, as plain values.

A funnel is a cohort: the leads that came in during the period, and how far each got by now
(from its audit trail, so a lead returned and handed off again still counts its first claim).
A lead that reached a later stage counts as having passed the earlier ones (a lead won straight
from "claimed" was contacted), so every count is at most the one before it and each conversion
is at most 100 %. Times between stages are medians over the leads where both stages were
recorded, from the first time each was reached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise

STAGES = ("new", "hot", "claimed", "contacted", "won")
STAGE_LABELS = {
    "new": "New",
    "hot": "Hot",
    "claimed": "Claimed",
    "contacted": "Contacted",
    "won": "Won",
}


@dataclass(frozen=True)
class FunnelStep:
    """From one stage to the next: the share that made it, and the median time it took."""

    from_stage: str
    to_stage: str
    reached_from: int
    reached_to: int
    median_time: timedelta | None

    @property
    def conversion(self) -> float | None:
        return self.reached_to / self.reached_from if self.reached_from else None


@dataclass(frozen=True)
class FunnelMetrics:
    new: int = 0
    hot: int = 0
    claimed: int = 0
    contacted: int = 0
    won: int = 0
    # Beside the funnel: leads of the cohort that were handed back to marketing at least once,
    # or closed as disqualified / lost.
    returned: int = 0
    disqualified: int = 0
    lost: int = 0
    median_new_to_hot: timedelta | None = None
    median_hot_to_claimed: timedelta | None = None
    median_claimed_to_contacted: timedelta | None = None
    median_contacted_to_won: timedelta | None = None

    def count(self, stage: str) -> int:
        if stage not in STAGES:
            raise ValueError(f"unknown funnel stage {stage!r}")
        value: int = getattr(self, stage)
        return value

    def median(self, from_stage: str, to_stage: str) -> timedelta | None:
        value: timedelta | None = getattr(self, f"median_{from_stage}_to_{to_stage}")
        return value

    @property
    def steps(self) -> tuple[FunnelStep, ...]:
        return tuple(
            FunnelStep(a, b, self.count(a), self.count(b), self.median(a, b))
            for a, b in pairwise(STAGES)
        )

    @property
    def overall_conversion(self) -> float | None:
        """New to won."""
        return self.won / self.new if self.new else None


@dataclass(frozen=True)
class FunnelRow:
    """The funnel of one source or channel; `key` None means the lead has no value there."""

    key: str | None
    metrics: FunnelMetrics


@dataclass(frozen=True)
class Funnel:
    total: FunnelMetrics
    by_source: tuple[FunnelRow, ...]
    by_channel: tuple[FunnelRow, ...]
