"""Who may move a lead where: the lifecycle's answers for each move, state and actor."""

from __future__ import annotations

import pytest

from bot.domain.leads import LeadState
from bot.domain.lifecycle import (
    FINAL_STATES,
    MOVES,
    OWNED_STATES,
    SYSTEM,
    Actor,
    Move,
    RefusalKind,
    outcome_state,
    refusal,
    state_after,
)

ANA = Actor("U0ANA")
BEN = Actor("U0BEN")
BOSS = Actor("U0BOSS", is_manager=True)
BOT = Actor(SYSTEM)


def kind(
    move: Move, state: LeadState, owner: str | None, actor: Actor, reps: tuple[str, ...] = ()
) -> RefusalKind | None:
    found = refusal(move, state, owner, actor, reps)
    return None if found is None else found.kind


def test_first_claim_of_a_routed_lead_is_allowed_and_a_second_is_already_claimed() -> None:
    assert kind(Move.CLAIM, LeadState.ROUTED, None, ANA) is None
    assert kind(Move.CLAIM, LeadState.CLAIMED, "U0ANA", BEN) is RefusalKind.ALREADY_CLAIMED
    assert kind(Move.CLAIM, LeadState.NURTURING, None, BEN) is RefusalKind.WRONG_STATE


def test_a_channel_with_reps_lets_only_its_reps_and_managers_claim() -> None:
    reps = ("U0ANA",)
    assert kind(Move.CLAIM, LeadState.ROUTED, None, ANA, reps) is None
    assert kind(Move.CLAIM, LeadState.ROUTED, None, BOSS, reps) is None
    assert kind(Move.CLAIM, LeadState.ROUTED, None, BEN, reps) is RefusalKind.NOT_CHANNEL_REP
    assert kind(Move.CLAIM, LeadState.ROUTED, None, BEN) is None  # no reps listed: anyone


@pytest.mark.parametrize(
    "move", [Move.CONTACTED, Move.SNOOZE, Move.RELEASE, Move.RETURN, Move.OUTCOME]
)
def test_only_the_owner_or_a_manager_acts_on_an_owned_lead(move: Move) -> None:
    assert kind(move, LeadState.CLAIMED, "U0ANA", ANA) is None
    assert kind(move, LeadState.CLAIMED, "U0ANA", BOSS) is None
    assert kind(move, LeadState.CLAIMED, "U0ANA", BEN) is RefusalKind.NOT_OWNER


def test_anyone_may_return_an_open_lead_but_not_a_closed_one() -> None:
    assert kind(Move.RETURN, LeadState.ROUTED, None, BEN) is None
    assert kind(Move.RETURN, LeadState.HOT, None, BEN) is None
    assert kind(Move.RETURN, LeadState.WON, "U0ANA", ANA) is RefusalKind.WRONG_STATE


def test_reassign_is_for_managers_and_system_moves_for_the_bot() -> None:
    assert kind(Move.REASSIGN, LeadState.CLAIMED, "U0ANA", BEN) is RefusalKind.NOT_MANAGER
    assert kind(Move.REASSIGN, LeadState.CLAIMED, "U0ANA", BOSS) is None
    assert kind(Move.REASSIGN, LeadState.NURTURING, None, BOSS) is RefusalKind.WRONG_STATE
    for move in (Move.ROUTE, Move.ASSIGN, Move.SYSTEM_RELEASE, Move.RECONTACT):
        assert kind(move, next(iter(MOVES[move].from_states)), None, BOSS) is (
            RefusalKind.SYSTEM_ONLY
        )
        assert kind(move, next(iter(MOVES[move].from_states)), None, BOT) is None


def test_moves_land_where_the_lifecycle_says() -> None:
    assert state_after(Move.ROUTE, LeadState.HOT) is LeadState.ROUTED
    assert state_after(Move.CLAIM, LeadState.ROUTED) is LeadState.CLAIMED
    assert state_after(Move.RELEASE, LeadState.CONTACTED) is LeadState.ROUTED
    assert state_after(Move.SNOOZE, LeadState.CONTACTED) is LeadState.CONTACTED
    assert state_after(Move.REASSIGN, LeadState.ROUTED) is LeadState.CLAIMED
    assert state_after(Move.REASSIGN, LeadState.CONTACTED) is LeadState.CONTACTED
    assert state_after(Move.OUTCOME, LeadState.CLAIMED, LeadState.WON) is LeadState.WON
    with pytest.raises(ValueError, match="final state"):
        state_after(Move.OUTCOME, LeadState.CLAIMED, LeadState.ROUTED)


def test_outcomes_name_only_final_states() -> None:
    assert {outcome_state(s.value) for s in FINAL_STATES} == set(FINAL_STATES)
    assert outcome_state("claimed") is None and outcome_state("maybe") is None
    assert not FINAL_STATES & OWNED_STATES
