"""Fallback assignment: weighted round robin over persistent per-rep counters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction


@dataclass(frozen=True)
class RepCandidate:
    """A rep who might receive an unclaimed lead, with their stored fairness counter."""

    user_id: str
    weight: int  # share of leads relative to the others; <= 0 means "never assign"
    assigned_count: int  # persistent; the caller increments it for the rep picked
    paused: bool
    deactivated: bool
    in_hours: bool
    open_claims: int
    max_open_claims: int | None  # None: no cap

    @property
    def available(self) -> bool:
        capped = self.max_open_claims is not None and self.open_claims >= self.max_open_claims
        return (
            self.weight > 0
            and not self.paused
            and not self.deactivated
            and self.in_hours
            and not capped
        )


def pick_fallback_rep(candidates: Sequence[RepCandidate]) -> RepCandidate | None:
    """The available rep furthest behind their share (lowest assigned_count / weight, then
    user_id), or None when nobody is available (the caller escalates to the manager only).

    Why this is weighted-fair: the winner always has the lowest count/weight ratio, and only the
    winner's ratio grows (by 1/weight). So whenever rep i was last picked, its ratio was at most
    any rep j's, hence afterwards count_i/w_i - count_j/w_j <= 1/w_i for every pair. All ratios
    stay within a constant of each other, so after N picks each rep holds N*w_i/sum(w) picks
    give or take one or two: counts grow in proportion to weights.

    The state is only the stored counters: a skipped rep's counter does not move and the choice
    is a pure function of them, so a restart continues the same sequence. The flip side: a rep
    who was skipped for a while (or joins with a zero counter) is behind and catches up with
    consecutive picks; seed a newcomer's counter at the current level to avoid that burst.
    """
    available = [rep for rep in candidates if rep.available]
    if not available:
        return None
    # Exact ratios: equal shares always tie and fall to user_id, however large the counters.
    return min(available, key=lambda rep: (Fraction(rep.assigned_count, rep.weight), rep.user_id))
