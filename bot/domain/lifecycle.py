"""A lead's lifecycle: its states, the moves between them and who may make each move.

This is the only module that groups states: everyone else asks it (``OWNED_STATES``,
``MOVES[move].from_states``, ``refusal(...)``). Pure: it takes plain values (states, user ids,
the channel's reps) and returns decisions; storage turns an allowed move into one transaction.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum

from bot.domain.leads import LeadState

SYSTEM = "system"  # the actor recorded for moves the bot makes by itself

OPEN_STATES = frozenset({LeadState.HOT, LeadState.ROUTED})  # waiting for a rep
OWNED_STATES = frozenset({LeadState.CLAIMED, LeadState.CONTACTED})  # one rep holds it
FINAL_STATES = frozenset({LeadState.WON, LeadState.LOST, LeadState.DISQUALIFIED})
# States in which a new score may still change the lead's state. Once sales owns a lead,
# scoring keeps explaining it but no longer moves it.
SCORABLE_STATES = frozenset({LeadState.NURTURING, LeadState.HOT})
# States whose SLA clock runs: unclaimed in a channel, or claimed and not yet contacted.
SLA_TIMED_STATES = frozenset({LeadState.ROUTED, LeadState.CLAIMED})


class Move(StrEnum):
    ROUTE = "route"  # a hot lead gets its channel and card
    OFFER = "offer"  # the account's owner is offered a routed lead by DM
    CLAIM = "claim"  # first click wins
    CONTACTED = "contacted"  # the owner records the first touch
    SNOOZE = "snooze"  # reminders wait; the state stays
    RELEASE = "release"  # the owner (or a manager) puts it back in the channel
    RETURN = "return"  # not ready: back to marketing
    OUTCOME = "outcome"  # won, lost or disqualified
    ASSIGN = "assign"  # fallback assignment of an unclaimed lead past its SLA
    REASSIGN = "reassign"  # a manager hands the lead to a named rep
    SYSTEM_RELEASE = "system_release"  # owner deactivated, or not contacted within the SLA
    RECONTACT = "recontact"  # a returned lead's recontact date came: cooldown off


class Who(Enum):
    SYSTEM = "the bot only"
    ANYONE = "anyone"
    CHANNEL_REPS = "the channel's reps and managers (anyone where no reps are listed)"
    OWNER_OR_MANAGER = "on an owned lead, its owner or a manager; otherwise anyone"
    MANAGER = "a manager"


@dataclass(frozen=True)
class MoveRule:
    from_states: frozenset[LeadState]
    who: Who
    action: str  # what the audit trail records
    to_state: LeadState | None  # None: the state stays, or depends on the move (see state_after)


_ALL_OPEN_OR_OWNED = OPEN_STATES | OWNED_STATES
_ROUTED = frozenset({LeadState.ROUTED})

MOVES: dict[Move, MoveRule] = {
    Move.ROUTE: MoveRule(frozenset({LeadState.HOT}), Who.SYSTEM, "routed", LeadState.ROUTED),
    Move.OFFER: MoveRule(_ROUTED, Who.SYSTEM, "offered", None),
    Move.CLAIM: MoveRule(_ROUTED, Who.CHANNEL_REPS, "claimed", LeadState.CLAIMED),
    Move.CONTACTED: MoveRule(
        frozenset({LeadState.CLAIMED}), Who.OWNER_OR_MANAGER, "contacted", LeadState.CONTACTED
    ),
    Move.SNOOZE: MoveRule(OWNED_STATES, Who.OWNER_OR_MANAGER, "snoozed", None),
    Move.RELEASE: MoveRule(OWNED_STATES, Who.OWNER_OR_MANAGER, "released", LeadState.ROUTED),
    Move.RETURN: MoveRule(
        _ALL_OPEN_OR_OWNED, Who.OWNER_OR_MANAGER, "returned", LeadState.NURTURING
    ),
    Move.OUTCOME: MoveRule(OWNED_STATES, Who.OWNER_OR_MANAGER, "closed", None),
    Move.ASSIGN: MoveRule(_ROUTED, Who.SYSTEM, "assigned", LeadState.CLAIMED),
    Move.REASSIGN: MoveRule(_ROUTED | OWNED_STATES, Who.MANAGER, "reassigned", None),
    Move.SYSTEM_RELEASE: MoveRule(OWNED_STATES, Who.SYSTEM, "released", LeadState.ROUTED),
    Move.RECONTACT: MoveRule(frozenset({LeadState.NURTURING}), Who.SYSTEM, "recontact", None),
}


class RefusalKind(Enum):
    WRONG_STATE = "wrong_state"  # the lead is not in a state this move starts from
    ALREADY_CLAIMED = "already_claimed"  # a claim on a lead someone owns
    NOT_OWNER = "not_owner"  # someone else owns it, and the actor is no manager
    NOT_MANAGER = "not_manager"
    NOT_CHANNEL_REP = "not_channel_rep"  # the channel lists its reps, and the actor is not one
    SYSTEM_ONLY = "system_only"
    UNKNOWN_OUTCOME = "unknown_outcome"


@dataclass(frozen=True)
class Refusal:
    """Why a move is not allowed, with what the answer to the user needs."""

    kind: RefusalKind
    move: Move
    state: LeadState
    owner: str | None = None


@dataclass(frozen=True)
class Actor:
    user_id: str
    is_manager: bool = False  # of this lead's channel (or everywhere)

    @property
    def is_system(self) -> bool:
        return self.user_id == SYSTEM


def refusal(
    move: Move,
    state: LeadState,
    owner: str | None,
    actor: Actor,
    channel_reps: Collection[str] = (),
) -> Refusal | None:
    """None when ``actor`` may make ``move`` on a lead in ``state`` owned by ``owner``.

    Ownership is checked before the state, so someone who does not own a lead learns that
    rather than its state; a claim on an owned lead is "already claimed".
    """
    rule = MOVES[move]
    if rule.who is Who.SYSTEM and not actor.is_system:
        return Refusal(RefusalKind.SYSTEM_ONLY, move, state, owner)
    if rule.who is Who.MANAGER and not (actor.is_manager or actor.is_system):
        return Refusal(RefusalKind.NOT_MANAGER, move, state, owner)
    if (
        rule.who is Who.OWNER_OR_MANAGER
        and state in OWNED_STATES
        and owner != actor.user_id
        and not actor.is_manager
    ):
        return Refusal(RefusalKind.NOT_OWNER, move, state, owner)
    if state not in rule.from_states:
        kind = (
            RefusalKind.ALREADY_CLAIMED
            if move is Move.CLAIM and state in OWNED_STATES
            else RefusalKind.WRONG_STATE
        )
        return Refusal(kind, move, state, owner)
    if (
        rule.who is Who.CHANNEL_REPS
        and channel_reps
        and actor.user_id not in channel_reps
        and not actor.is_manager
    ):
        return Refusal(RefusalKind.NOT_CHANNEL_REP, move, state, owner)
    return None


def outcome_state(outcome: str) -> LeadState | None:
    """The final state an outcome names ("won", "lost", "disqualified"), or None."""
    try:
        state = LeadState(outcome)
    except ValueError:
        return None
    return state if state in FINAL_STATES else None


def state_after(move: Move, current: LeadState, outcome: LeadState | None = None) -> LeadState:
    """Where ``move`` takes a lead now in ``current`` (assumed allowed)."""
    if move is Move.OUTCOME:
        if outcome is None or outcome not in FINAL_STATES:
            raise ValueError(f"an outcome move needs a final state, got {outcome!r}")
        return outcome
    if move is Move.REASSIGN:
        return current if current in OWNED_STATES else LeadState.CLAIMED
    return MOVES[move].to_state or current


def state_after_scoring(
    current: LeadState,
    points: int,
    hot_threshold: int,
    cooldown_until: datetime | None,
    strong_signal: bool,
    now: datetime,
) -> LeadState:
    """Hot at or over the threshold, nurturing below it; a returned lead in cooldown stays
    nurturing unless a strong buying signal (e.g. a booked meeting) arrives."""
    if current not in SCORABLE_STATES:
        return current
    in_cooldown = cooldown_until is not None and now < cooldown_until
    if points >= hot_threshold and (not in_cooldown or strong_signal):
        return LeadState.HOT
    return LeadState.NURTURING
