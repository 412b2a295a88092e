"""Fallback assignment: weighted round robin over persistent counters."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from bot.domain.assignment import RepCandidate, pick_fallback_rep


def rep(
    user_id: str,
    weight: int = 1,
    assigned_count: int = 0,
    *,
    paused: bool = False,
    deactivated: bool = False,
    in_hours: bool = True,
    open_claims: int = 0,
    max_open_claims: int | None = None,
) -> RepCandidate:
    return RepCandidate(
        user_id, weight, assigned_count, paused, deactivated, in_hours, open_claims, max_open_claims
    )


def run(candidates: list[RepCandidate], picks: int) -> tuple[list[RepCandidate], list[str]]:
    """Pick `picks` times, incrementing the winner's counter as the caller would."""
    chosen: list[str] = []
    for _ in range(picks):
        winner = pick_fallback_rep(candidates)
        assert winner is not None
        chosen.append(winner.user_id)
        candidates = [
            replace(c, assigned_count=c.assigned_count + 1) if c is winner else c
            for c in candidates
        ]
    return candidates, chosen


def counts(candidates: list[RepCandidate]) -> Mapping[str, int]:
    return {c.user_id: c.assigned_count for c in candidates}


def test_weights_two_to_one_give_two_hundred_to_one_hundred_over_three_hundred() -> None:
    final, chosen = run([rep("U0A", weight=2), rep("U0B", weight=1)], 300)

    assert counts(final) == {"U0A": 200, "U0B": 100}
    assert Counter(chosen) == {"U0A": 200, "U0B": 100}


def test_every_prefix_stays_within_one_pick_of_the_weighted_share() -> None:
    weights = {"U0A": 3, "U0B": 2, "U0C": 1}
    _, chosen = run([rep(user, weight) for user, weight in weights.items()], 600)

    seen: Counter[str] = Counter()
    for n, user in enumerate(chosen, start=1):
        seen[user] += 1
        for name, weight in weights.items():
            assert abs(seen[name] - n * weight / 6) <= 1, (n, name, seen)
    assert seen == {"U0A": 300, "U0B": 200, "U0C": 100}


@pytest.mark.parametrize(
    "skipped",
    [
        pytest.param({"paused": True}, id="paused"),
        pytest.param({"deactivated": True}, id="deactivated"),
        pytest.param({"in_hours": False}, id="out-of-hours"),
        pytest.param({"open_claims": 3, "max_open_claims": 3}, id="at-cap"),
        pytest.param({"open_claims": 4, "max_open_claims": 3}, id="over-cap"),
        pytest.param({"weight": 0}, id="zero-weight"),
        pytest.param({"weight": -1}, id="negative-weight"),
    ],
)
def test_unavailable_reps_are_skipped(skipped: dict[str, Any]) -> None:
    # U0A is furthest behind and would win if it were available.
    behind = replace(rep("U0A", assigned_count=0), **skipped)
    ahead = rep("U0B", assigned_count=50)

    winner = pick_fallback_rep([behind, ahead])

    assert winner is not None
    assert winner.user_id == "U0B"
    assert pick_fallback_rep([behind]) is None


def test_a_rep_just_under_the_cap_is_still_available() -> None:
    winner = pick_fallback_rep([rep("U0A", open_claims=2, max_open_claims=3)])

    assert winner is not None
    assert winner.user_id == "U0A"


def test_nobody_available_gives_none() -> None:
    assert pick_fallback_rep([]) is None
    assert pick_fallback_rep([rep("U0A", paused=True), rep("U0B", in_hours=False)]) is None


def test_ties_go_to_the_lowest_user_id_whatever_the_input_order() -> None:
    reps = [rep("U0C", 2, 4), rep("U0A", 1, 2), rep("U0B", 1, 3)]  # U0C and U0A both at 2.0

    for order in (reps, list(reversed(reps))):
        winner = pick_fallback_rep(order)
        assert winner is not None
        assert winner.user_id == "U0A"


def test_a_restart_with_the_stored_counters_continues_the_same_fair_sequence() -> None:
    start = [rep("U0A", weight=2), rep("U0B", weight=1), rep("U0C", weight=3)]
    _, uninterrupted = run(start, 300)

    stored, first_half = run(start, 150)
    # A restart rebuilds candidates from the stored counters only.
    restored = [rep(c.user_id, c.weight, c.assigned_count) for c in stored]
    final, second_half = run(restored, 150)

    assert first_half + second_half == uninterrupted
    assert counts(final) == {"U0A": 100, "U0B": 50, "U0C": 150}


def test_a_skip_does_not_move_counters_so_the_skipped_rep_catches_up() -> None:
    reps = [rep("U0A"), rep("U0B", in_hours=False)]
    reps, chosen = run(reps, 4)
    assert chosen == ["U0A"] * 4
    assert counts(reps) == {"U0A": 4, "U0B": 0}

    back = [replace(c, in_hours=True) for c in reps]
    final, chosen = run(back, 6)

    assert chosen == ["U0B"] * 4 + ["U0A", "U0B"]
    assert counts(final) == {"U0A": 5, "U0B": 5}
