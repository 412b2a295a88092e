"""The SLA sweep: nudge, escalate, fall back to a rep, release an uncontacted lead.

(Availability lives in `services.availability`, recontacts and decay in `services.rescoring`.)

Each sweep reads the database, asks the pure planner (`bot.domain.nudges`) what is due, and
claims every due nudge through `NudgeStore.record`, which inserts the nudge row and queues its
Slack messages in one transaction. So a sweep may run on any number of replicas, any number of
times, late or early: each nudge is sent once. Follow-up actions of an escalation (fallback
assignment, release) run only in the sweep that won the claim, and are compare-and-set moves in
storage themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.config import HandoffConfig
from bot.domain.assignment import RepCandidate, pick_fallback_rep
from bot.domain.channels import ChannelContext, channel_context
from bot.domain.leads import StoredLead
from bot.domain.lifecycle import SYSTEM
from bot.domain.nudges import DueNudge, LeadClock, NudgeKind, plan_due_nudges
from bot.domain.sla import is_open
from bot.outbox import SLACK
from bot.services.cards import card_of
from bot.services.claims import ClaimsService
from bot.services.lifecycle import NO_EVENTS, LifecycleEvents
from bot.slack import blocks
from bot.storage.nudges import SKIPPED, NudgeStore
from bot.storage.outbox import NewItem
from bot.storage.reps import RepStore

log = logging.getLogger(__name__)


def _card(lead: StoredLead) -> blocks.LeadCard:
    return card_of(lead)


def _lead_clock(lead: StoredLead) -> LeadClock:
    return LeadClock(
        lead_id=lead.id,
        state=lead.state,
        cycle=lead.cycle,
        routed_at=lead.routed_at,
        claimed_by=lead.claimed_by,
        claimed_at=lead.claimed_at,
        contacted_at=lead.contacted_at,
        snoozed_until=lead.snoozed_until,
        channel=lead.route_channel,
    )


def _post(channel: str, message: dict[str, Any], lead_id: int) -> NewItem:
    return NewItem(SLACK, "chat.postMessage", {"channel": channel, **message}, lead_id)


class SlaSweepService:
    def __init__(
        self,
        nudges: NudgeStore,
        reps: RepStore,
        claims: ClaimsService,
        config: HandoffConfig,
        clock: Clock,
        *,
        kick_outbox: Callable[[], None] = lambda: None,
        events: LifecycleEvents = NO_EVENTS,
    ) -> None:
        self._events = events
        self._nudges = nudges
        self._reps = reps
        self._claims = claims
        self._config = config
        self._clock = clock
        self._kick = kick_outbox

    async def sweep(self) -> int:
        """Send every nudge and escalation that is due now; returns how many this sweep sent."""
        now = self._clock()
        candidates = await self._nudges.list_candidates()
        claimers = {c.lead.claimed_by for c in candidates if c.lead.claimed_by}
        paused = await self._reps.list_paused(claimers, now) if claimers else set()
        fired = 0
        for candidate in candidates:
            lead = candidate.lead
            channel = channel_context(self._config, lead.route_channel)
            claimer_paused = lead.claimed_by in paused
            due = plan_due_nudges(
                _lead_clock(lead), channel.sla, channel.hours, candidate.sent, claimer_paused, now
            )
            try:
                for nudge in due:
                    if not await self._fire(lead, nudge, channel, claimer_paused, now):
                        break  # another sweep has this lead; it sends the rest in order
                    fired += 1
            except Exception:
                # One broken lead must not starve the others; logged with its traceback.
                log.exception("SLA sweep failed for lead %s", lead.id)
        if fired:
            self._kick()
        return fired

    async def _fire(
        self,
        lead: StoredLead,
        due: DueNudge,
        channel: ChannelContext,
        claimer_paused: bool,
        now: datetime,
    ) -> bool:
        if due.kind is NudgeKind.NUDGE_UNCLAIMED:
            message = blocks.build_unclaimed_nudge(_card(lead), due.reason, channel.sla.mention)
            item = self._in_thread(lead, message)
            return await self._nudges.record(lead, due.kind, item.payload["channel"], [item], now)
        if due.kind is NudgeKind.ESCALATE_UNCLAIMED:
            return await self._escalate_unclaimed(lead, due, channel, now)
        if due.kind is NudgeKind.NUDGE_UNCONTACTED:
            claimer = lead.claimed_by or ""
            if claimer_paused:
                # A paused rep gets no reminders; the timer is spent so escalation follows.
                return await self._nudges.record(lead, due.kind, claimer, [], now, status=SKIPPED)
            dm = blocks.build_uncontacted_nudge(_card(lead), due.reason)
            return await self._nudges.record(
                lead, due.kind, claimer, [_post(claimer, dm, lead.id)], now
            )
        return await self._escalate_uncontacted(lead, due, channel, now)

    def _in_thread(self, lead: StoredLead, message: dict[str, Any]) -> NewItem:
        """A reply under the lead's card; a plain channel post if the card never went out."""
        if lead.card_channel and lead.card_ts:
            payload = {"channel": lead.card_channel, "thread_ts": lead.card_ts, **message}
            return NewItem(SLACK, "chat.postMessage", payload, lead.id)
        return _post(lead.route_channel or self._config.routing.default_channel, message, lead.id)

    def _tell_managers(
        self, lead: StoredLead, managers: Sequence[str], message: dict[str, Any]
    ) -> list[NewItem]:
        """Mention the managers in the card's thread, or DM each when there is no card."""
        if (lead.card_channel and lead.card_ts) or not managers:
            return [self._in_thread(lead, message)]
        return [_post(manager, message, lead.id) for manager in managers]

    async def _escalate_unclaimed(
        self,
        lead: StoredLead,
        due: DueNudge,
        channel: ChannelContext,
        now: datetime,
    ) -> bool:
        policy = channel.sla
        managers = list(channel.escalate_to)
        fallback = policy.fallback_assign and channel.configured and bool(channel.reps)
        pick = await self._pick_rep(channel, now) if fallback else None
        card = _card(lead)
        message = blocks.build_unclaimed_escalation(
            card,
            due.reason,
            managers,
            assigned_to=pick,
            fallback_tried=fallback,
            overflow_channel=policy.overflow_channel,
        )
        items = self._tell_managers(lead, managers, message)
        items += self._events.items("lead.sla_breached", lead, SYSTEM, now, {"sla": due.kind})
        if policy.overflow_channel:
            items.append(_post(policy.overflow_channel, blocks.build_lead_card(card, now), lead.id))
        if not await self._nudges.record(lead, due.kind, ",".join(managers) or None, items, now):
            return False
        if pick and await self._claims.assign_by_system(lead.id, pick, "unclaimed past SLA"):
            await self._reps.count_assignment(pick, now)
        return True

    async def _pick_rep(self, channel: ChannelContext, now: datetime) -> str | None:
        """Weighted round robin among the channel's reps who can take a lead right now."""
        statuses = await self._reps.list_status(channel.reps, now)
        in_hours = is_open(now, channel.hours)
        picked = pick_fallback_rep(
            [
                RepCandidate(
                    user_id=rep.user_id,
                    weight=channel.reps[rep.user_id],
                    assigned_count=rep.assigned_count,
                    paused=rep.paused_until is not None and rep.paused_until > now,
                    deactivated=rep.deactivated,
                    in_hours=in_hours,
                    open_claims=rep.open_claims,
                    max_open_claims=self._config.claims.max_open_claims,
                )
                for rep in statuses
            ]
        )
        return picked.user_id if picked else None

    async def _escalate_uncontacted(
        self,
        lead: StoredLead,
        due: DueNudge,
        channel: ChannelContext,
        now: datetime,
    ) -> bool:
        managers = list(channel.escalate_to)
        release = channel.sla.release_when_uncontacted
        message = blocks.build_uncontacted_escalation(
            _card(lead), due.reason, lead.claimed_by or "", managers, released=release
        )
        items = [_post(manager, message, lead.id) for manager in managers]
        breach = self._events.items("lead.sla_breached", lead, SYSTEM, now, {"sla": due.kind})
        if release or not items:
            items.append(self._in_thread(lead, message))
        items += breach
        if not await self._nudges.record(lead, due.kind, ",".join(managers) or None, items, now):
            return False
        if release:
            await self._claims.release_by_system(lead.id, "not contacted within the SLA")
        return True
