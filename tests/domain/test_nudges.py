"""SLA nudges: which timers are due when, in business time, in Europe/Madrid office hours."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import SlaOverrides, SlaPolicy
from bot.domain.leads import LeadState
from bot.domain.nudges import (
    LeadClock,
    NudgeKind,
    effective_policy,
    next_due_at,
    plan_due_nudges,
)
from bot.domain.sla import BusinessHours

MADRID = ZoneInfo("Europe/Madrid")
OFFICE = BusinessHours(timezone="Europe/Madrid")  # mon-fri 09:00-18:00
# Defaults: nudge unclaimed 15m, escalate unclaimed 60m, nudge uncontacted 2h, escalate 8h.
POLICY = SlaPolicy()

NU = NudgeKind.NUDGE_UNCLAIMED
EU = NudgeKind.ESCALATE_UNCLAIMED
NC = NudgeKind.NUDGE_UNCONTACTED
EC = NudgeKind.ESCALATE_UNCONTACTED


def madrid(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """June 2025 in Madrid (CEST): Fri 6, Sat 7, Sun 8, Mon 9, Tue 10."""
    return datetime(2025, 6, day, hour, minute, second, tzinfo=MADRID)


def routed(at: datetime) -> LeadClock:
    return LeadClock(
        lead_id=7,
        state=LeadState.ROUTED,
        cycle=1,
        routed_at=at,
        claimed_by=None,
        claimed_at=None,
        contacted_at=None,
        snoozed_until=None,
        channel="C0SALES",
    )


def claimed(at: datetime, snoozed_until: datetime | None = None) -> LeadClock:
    return replace(
        routed(at - timedelta(minutes=5)),
        state=LeadState.CLAIMED,
        claimed_by="U0REP",
        claimed_at=at,
        snoozed_until=snoozed_until,
    )


def kinds(
    lead: LeadClock,
    now: datetime,
    sent: Collection[NudgeKind] = (),
    policy: SlaPolicy = POLICY,
    paused: bool = False,
) -> list[NudgeKind]:
    return [
        nudge.kind
        for nudge in plan_due_nudges(lead, policy, OFFICE, sent, claimer_paused=paused, now=now)
    ]


@pytest.mark.parametrize(
    ("now", "sent", "expected"),
    [
        pytest.param(madrid(9, 10, 14, 59), (), [], id="nudge-one-second-early"),
        pytest.param(madrid(9, 10, 15), (), [NU], id="nudge-exactly-on-time"),
        pytest.param(madrid(9, 10, 59, 59), {NU}, [], id="escalation-one-second-early"),
        pytest.param(madrid(9, 11, 0), {NU}, [EU], id="escalation-on-time"),
        pytest.param(madrid(9, 11, 0), (), [NU, EU], id="both-overdue-after-downtime"),
        pytest.param(madrid(9, 11, 0), {EU}, [NU], id="only-the-unsent-nudge"),
        pytest.param(madrid(9, 15, 0), {NU, EU}, [], id="all-sent"),
    ],
)
def test_unclaimed_timers_fall_due_at_their_boundaries(
    now: datetime, sent: Collection[NudgeKind], expected: list[NudgeKind]
) -> None:
    assert kinds(routed(madrid(9, 10, 0)), now, sent) == expected


@pytest.mark.parametrize(
    ("now", "sent", "expected"),
    [
        pytest.param(madrid(9, 11, 59, 59), (), [], id="nudge-one-second-early"),
        pytest.param(madrid(9, 12, 0), (), [NC], id="nudge-on-time"),
        pytest.param(madrid(9, 17, 59, 59), {NC}, [], id="escalation-not-yet"),
        # 8 business hours from Mon 10:00 end at Mon 18:00, closing time: sent at Tue's opening.
        pytest.param(madrid(10, 9, 0), {NC}, [EC], id="escalation-at-next-opening"),
        pytest.param(madrid(10, 9, 0), (), [NC, EC], id="both-overdue-after-downtime"),
        pytest.param(madrid(10, 9, 0), {NC, EC}, [], id="all-sent"),
    ],
)
def test_uncontacted_timers_fall_due_at_their_boundaries(
    now: datetime, sent: Collection[NudgeKind], expected: list[NudgeKind]
) -> None:
    assert kinds(claimed(madrid(9, 10, 0)), now, sent) == expected


def test_unclaimed_nudge_counts_only_business_time_across_a_weekend() -> None:
    lead = routed(madrid(6, 17, 50))  # Friday, ten minutes before closing

    assert kinds(lead, madrid(6, 17, 59, 59)) == []
    assert kinds(lead, madrid(9, 9, 4, 59)) == []
    due = plan_due_nudges(lead, POLICY, OFFICE, (), claimer_paused=False, now=madrid(9, 9, 5))

    assert [(nudge.kind, nudge.due_at) for nudge in due] == [(NU, madrid(9, 9, 5))]
    assert due[0].due_at.tzinfo is UTC
    assert due[0].reason == "unclaimed for 15 min of business hours; nudge_unclaimed after 15 min"
    assert next_due_at(lead, POLICY, OFFICE, (), False, now=madrid(6, 17, 55)) == madrid(9, 9, 5)


@pytest.mark.parametrize(
    "now",
    [
        pytest.param(madrid(7, 12, 0), id="saturday"),
        pytest.param(madrid(9, 8, 59, 59), id="before-opening"),
        pytest.param(madrid(9, 18, 0), id="at-closing"),
        pytest.param(madrid(9, 23, 0), id="night"),
    ],
)
def test_nothing_is_due_outside_business_hours(now: datetime) -> None:
    # Routed last Wednesday: every timer is long overdue, yet nobody is pinged off hours.
    assert kinds(routed(madrid(4, 10, 0)), now) == []
    assert kinds(claimed(madrid(4, 10, 0)), now) == []


def test_overdue_timers_wait_for_the_next_opening() -> None:
    lead = routed(madrid(9, 17, 0))

    assert kinds(lead, madrid(9, 19, 0)) == []
    assert next_due_at(lead, POLICY, OFFICE, (), False, now=madrid(9, 19, 0)) == madrid(10, 9, 0)
    assert kinds(lead, madrid(10, 9, 0)) == [NU, EU]


def test_a_kind_already_sent_is_never_due_again() -> None:
    lead = routed(madrid(9, 10, 0))
    later = [madrid(9, 10, 15), madrid(9, 16, 0), madrid(10, 9, 0), madrid(13, 17, 59)]

    assert all(NU not in kinds(lead, now, {NU}) for now in later)
    assert all(kinds(lead, now, {NU, EU}) == [] for now in later)
    assert next_due_at(lead, POLICY, OFFICE, {NU, EU}, False, now=later[0]) is None


def test_a_snooze_postpones_the_uncontacted_timers_and_restarts_their_clock() -> None:
    lead = claimed(madrid(9, 10, 0), snoozed_until=madrid(9, 15, 0))

    # Without the snooze the nudge would be due at 12:00.
    assert kinds(replace(lead, snoozed_until=None), madrid(9, 12, 0)) == [NC]
    assert kinds(lead, madrid(9, 12, 0)) == []
    assert kinds(lead, madrid(9, 14, 59)) == []
    # The full two hours count from the end of the snooze, not from the claim.
    assert kinds(lead, madrid(9, 16, 59, 59)) == []
    assert kinds(lead, madrid(9, 17, 0)) == [NC]
    assert next_due_at(lead, POLICY, OFFICE, (), False, now=madrid(9, 12, 0)) == madrid(9, 17, 0)


def test_a_snooze_ending_after_hours_starts_the_clock_at_the_next_opening() -> None:
    lead = claimed(madrid(9, 10, 0), snoozed_until=madrid(9, 20, 0))

    assert kinds(lead, madrid(10, 10, 59)) == []
    assert kinds(lead, madrid(10, 11, 0)) == [NC]


def test_a_snooze_does_not_hold_back_unclaimed_timers() -> None:
    lead = replace(routed(madrid(9, 10, 0)), snoozed_until=madrid(9, 17, 0))

    assert kinds(lead, madrid(9, 10, 15)) == [NU]


def test_a_paused_claimer_is_escalated_sooner() -> None:
    lead = claimed(madrid(9, 10, 0))

    # Halved: nudge after 1h, escalation after 4h of business time.
    assert kinds(lead, madrid(9, 10, 59, 59), paused=True) == []
    assert kinds(lead, madrid(9, 11, 0), paused=True) == [NC]
    assert kinds(lead, madrid(9, 14, 0), {NC}, paused=True) == [EC]
    assert kinds(lead, madrid(9, 14, 0), {NC}, paused=False) == []
    due = plan_due_nudges(lead, POLICY, OFFICE, {NC}, claimer_paused=True, now=madrid(9, 14, 0))
    assert due[0].reason == (
        "claimed but not contacted for 4 h of business hours; "
        "escalate_uncontacted after 4 h (shortened ×0.5: claimer is paused)"
    )


def test_a_custom_paused_factor_applies_and_must_be_a_fraction() -> None:
    lead = claimed(madrid(9, 10, 0))
    due = plan_due_nudges(
        lead, POLICY, OFFICE, (), claimer_paused=True, now=madrid(9, 10, 30), paused_factor=0.25
    )

    assert [nudge.kind for nudge in due] == [NC]
    with pytest.raises(ValueError, match="paused_factor"):
        plan_due_nudges(
            lead, POLICY, OFFICE, (), claimer_paused=True, now=madrid(9, 10), paused_factor=1.5
        )


def test_a_timer_set_to_none_is_off_and_its_escalation_stands_alone() -> None:
    no_nudge = SlaPolicy(nudge_unclaimed_after=None)
    no_escalation = SlaPolicy(escalate_unclaimed_after=None)
    lead = routed(madrid(9, 10, 0))

    assert kinds(lead, madrid(9, 10, 30), policy=no_nudge) == []
    assert kinds(lead, madrid(9, 11, 0), policy=no_nudge) == [EU]
    assert kinds(lead, madrid(9, 17, 0), {NU}, policy=no_escalation) == []


def test_an_escalation_never_overtakes_its_nudge() -> None:
    # Misconfigured: escalation shorter than the nudge. The escalation waits for the nudge.
    policy = SlaPolicy(nudge_unclaimed_after=timedelta(minutes=30), escalate_unclaimed_after=None)
    policy = policy.model_copy(update={"escalate_unclaimed_after": timedelta(minutes=10)})
    lead = routed(madrid(9, 10, 0))

    assert kinds(lead, madrid(9, 10, 10), policy=policy) == []
    assert kinds(lead, madrid(9, 10, 30), policy=policy) == [NU, EU]
    assert kinds(lead, madrid(9, 10, 10), {NU}, policy=policy) == [EU]


@pytest.mark.parametrize(
    "state",
    [
        LeadState.NURTURING,
        LeadState.HOT,
        LeadState.CONTACTED,
        LeadState.WON,
        LeadState.LOST,
        LeadState.DISQUALIFIED,
    ],
)
def test_no_timer_runs_outside_routed_and_claimed(state: LeadState) -> None:
    lead = replace(claimed(madrid(4, 10, 0)), state=state)

    assert kinds(lead, madrid(9, 12, 0)) == []
    assert next_due_at(lead, POLICY, OFFICE, (), False, now=madrid(9, 12, 0)) is None


def test_a_contacted_lead_or_a_missing_anchor_runs_no_timer() -> None:
    contacted = replace(claimed(madrid(9, 10, 0)), contacted_at=madrid(9, 10, 30))
    no_routed_at = replace(routed(madrid(9, 10, 0)), routed_at=None)
    no_claimed_at = replace(claimed(madrid(9, 10, 0)), claimed_at=None)

    assert kinds(contacted, madrid(9, 17, 0)) == []
    assert kinds(no_routed_at, madrid(9, 17, 0)) == []
    assert kinds(no_claimed_at, madrid(9, 17, 0)) == []


def test_now_must_be_timezone_aware() -> None:
    naive = datetime(2025, 6, 9, 12, 0)  # noqa: DTZ001 - the point of the test

    with pytest.raises(ValueError, match="timezone-aware"):
        plan_due_nudges(routed(madrid(9, 10, 0)), POLICY, OFFICE, (), False, now=naive)


def test_channel_overrides_replace_only_the_fields_they_set() -> None:
    defaults = SlaPolicy(fallback_assign=True, mention="S0SALES")
    overrides = SlaOverrides(nudge_unclaimed_after=timedelta(minutes=5), fallback_assign=False)

    policy = effective_policy(defaults, overrides)

    assert policy.nudge_unclaimed_after == timedelta(minutes=5)
    assert policy.fallback_assign is False  # False is a value, not "unset"
    assert policy.escalate_unclaimed_after == timedelta(minutes=60)
    assert policy.mention == "S0SALES"
    assert effective_policy(defaults, None) == defaults
    assert effective_policy(defaults, SlaOverrides()) == defaults
    assert kinds(routed(madrid(9, 10, 0)), madrid(9, 10, 5), policy=policy) == [NU]
