"""Which SLA nudges and escalations are due for a lead, counted in business time."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from bot.domain.durations import format_duration
from bot.domain.leads import LeadState
from bot.domain.sla import (
    BusinessHours,
    add_business_time,
    business_time_between,
    is_open,
    next_opening,
)

if TYPE_CHECKING:
    # Type-only: the domain must not import config (config imports the domain) at run time.
    from bot.config import SlaOverrides, SlaPolicy

DEFAULT_PAUSED_FACTOR = 0.5


class NudgeKind(StrEnum):
    """One reminder or escalation; the value is what `nudges.kind` stores."""

    NUDGE_UNCLAIMED = "nudge_unclaimed"  # reply in the card's thread, nudging the channel
    ESCALATE_UNCLAIMED = "escalate_unclaimed"  # manager told; maybe overflow or fallback assign
    NUDGE_UNCONTACTED = "nudge_uncontacted"  # DM to the rep who claimed
    ESCALATE_UNCONTACTED = "escalate_uncontacted"  # manager told; maybe released to the channel


@dataclass(frozen=True)
class LeadClock:
    """The timestamps that drive a lead's SLA timers (all timezone-aware)."""

    lead_id: int
    state: LeadState
    cycle: int  # hand-off cycle; `already_sent` must hold the kinds recorded for this cycle
    routed_at: datetime | None
    claimed_by: str | None
    claimed_at: datetime | None
    contacted_at: datetime | None
    snoozed_until: datetime | None
    channel: str | None


@dataclass(frozen=True)
class DueNudge:
    kind: NudgeKind
    due_at: datetime  # UTC; when the timer ran out (may be in the past after downtime)
    reason: str


@dataclass(frozen=True)
class _Timer:
    kind: NudgeKind
    after: timedelta | None
    prerequisite: NudgeKind | None  # must be sent, or due alongside, before this one


def effective_policy(defaults: SlaPolicy, overrides: SlaOverrides | None) -> SlaPolicy:
    """The global policy with a channel's overrides applied; a None override keeps the default.

    An override cannot switch a timer off (None means "inherit"); use a very long duration.
    """
    if overrides is None:
        return defaults
    # Overrides were validated with the same field types, so no re-validation is needed.
    return defaults.model_copy(update=overrides.model_dump(exclude_none=True))


def _phase(
    lead: LeadClock, policy: SlaPolicy, claimer_paused: bool, paused_factor: float
) -> tuple[datetime, str, list[_Timer]] | None:
    """Where the running clock starts, what it measures, and its timers; None when none runs."""
    if lead.state is LeadState.ROUTED and lead.routed_at is not None:
        return (
            lead.routed_at,
            "unclaimed",
            [
                _Timer(NudgeKind.NUDGE_UNCLAIMED, policy.nudge_unclaimed_after, None),
                _Timer(
                    NudgeKind.ESCALATE_UNCLAIMED,
                    policy.escalate_unclaimed_after,
                    NudgeKind.NUDGE_UNCLAIMED,
                ),
            ],
        )
    if (
        lead.state is LeadState.CLAIMED
        and lead.contacted_at is None
        and lead.claimed_at is not None
    ):
        # A snooze restarts the uncontacted clock at its end: the rep said "not before then",
        # so they get the full window from that moment instead of an instant escalation.
        start = lead.claimed_at
        if lead.snoozed_until is not None:
            start = max(start, lead.snoozed_until)
        factor = paused_factor if claimer_paused else 1.0

        def scaled(after: timedelta | None) -> timedelta | None:
            return None if after is None else after * factor

        return (
            start,
            "claimed but not contacted",
            [
                _Timer(NudgeKind.NUDGE_UNCONTACTED, scaled(policy.nudge_uncontacted_after), None),
                _Timer(
                    NudgeKind.ESCALATE_UNCONTACTED,
                    scaled(policy.escalate_uncontacted_after),
                    NudgeKind.NUDGE_UNCONTACTED,
                ),
            ],
        )
    # Nurturing, hot, contacted and final states run no timer; neither does a lead whose
    # anchor timestamp is missing (nothing to count from).
    return None


@dataclass(frozen=True)
class _Pending:
    kind: NudgeKind
    due_at: datetime
    after: timedelta  # the configured (possibly shortened) timer, for the reason text


@dataclass(frozen=True)
class _Schedule:
    start: datetime
    measuring: str
    pending: list[_Pending]  # in send order: nudge before escalation


def _schedule(
    lead: LeadClock,
    policy: SlaPolicy,
    hours: BusinessHours,
    already_sent: Collection[NudgeKind],
    claimer_paused: bool,
    paused_factor: float,
) -> _Schedule | None:
    """Every pending kind with the instant its timer runs out; None when no clock runs."""
    if not 0 <= paused_factor <= 1:
        raise ValueError(f"paused_factor must be between 0 and 1, got {paused_factor}")
    phase = _phase(lead, policy, claimer_paused, paused_factor)
    if phase is None:
        return None
    start, measuring, timers = phase
    due_by_kind: dict[NudgeKind, datetime] = {}
    pending: list[_Pending] = []
    for timer in timers:
        if timer.after is None or timer.kind in already_sent:
            continue
        due_at = add_business_time(start, timer.after, hours)
        # An escalation never overtakes its nudge: if the nudge is still pending, the
        # escalation falls due no earlier than the nudge does.
        if timer.prerequisite is not None and timer.prerequisite in due_by_kind:
            due_at = max(due_at, due_by_kind[timer.prerequisite])
        due_by_kind[timer.kind] = due_at
        pending.append(_Pending(timer.kind, due_at, timer.after))
    return _Schedule(start, measuring, pending)


def plan_due_nudges(
    lead: LeadClock,
    policy: SlaPolicy,
    hours: BusinessHours,
    already_sent: Collection[NudgeKind],
    claimer_paused: bool,
    now: datetime,
    paused_factor: float = DEFAULT_PAUSED_FACTOR,
) -> list[DueNudge]:
    """The nudges to send now, nudge before escalation; empty outside business hours.

    Timers count business time only: unclaimed ones from `routed_at` while the lead is routed,
    uncontacted ones from `claimed_at` (or the end of a snooze, if later) while it is claimed
    and not contacted. A timer set to None is off. A kind in `already_sent` (this cycle) is
    never due again. A paused claimer's uncontacted timers are multiplied by `paused_factor`,
    so the manager hears sooner. After downtime every overdue kind is returned once, in order.
    """
    if not is_open(now, hours):
        return []
    schedule = _schedule(lead, policy, hours, already_sent, claimer_paused, paused_factor)
    if schedule is None:
        return []
    due = [item for item in schedule.pending if item.due_at <= now]
    if not due:
        return []
    elapsed = format_duration(business_time_between(schedule.start, now, hours))
    paused_note = (
        f" (shortened ×{paused_factor:g}: claimer is paused)"
        if claimer_paused and lead.state is LeadState.CLAIMED
        else ""
    )
    return [
        DueNudge(
            item.kind,
            item.due_at,
            f"{schedule.measuring} for {elapsed} of business hours; "
            f"{item.kind.value} after {format_duration(item.after)}{paused_note}",
        )
        for item in due
    ]


def next_due_at(
    lead: LeadClock,
    policy: SlaPolicy,
    hours: BusinessHours,
    already_sent: Collection[NudgeKind],
    claimer_paused: bool,
    now: datetime,
    paused_factor: float = DEFAULT_PAUSED_FACTOR,
) -> datetime | None:
    """The earliest instant >= `now` at which `plan_due_nudges` returns something, if nothing
    changes meanwhile; None when no timer is pending. For logging and tests."""
    schedule = _schedule(lead, policy, hours, already_sent, claimer_paused, paused_factor)
    if schedule is None or not schedule.pending:
        return None
    # A deadline that lands on closing time (or is overdue while closed) waits for the opening.
    return min(next_opening(max(item.due_at, now), hours) for item in schedule.pending)
