"""Who may move a lead where: the state machine, as pure functions returning decisions."""

from __future__ import annotations

from datetime import datetime

from bot.domain.leads import LeadState

# States in which a new score may still change the lead's state. Once sales owns a lead,
# scoring keeps explaining it but no longer moves it.
SCORABLE_STATES = frozenset({LeadState.NURTURING, LeadState.HOT})


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
