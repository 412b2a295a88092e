"""SLA sweeps: nudge, escalate, fall back; reps' availability; returned and decaying leads.

Each sweep reads the database, asks the pure planner (`bot.domain.nudges`) what is due, and
claims every due nudge through `NudgeStore.record`, which inserts the nudge row and queues its
Slack messages in one transaction. So a sweep may run on any number of replicas, any number of
times, late or early: each nudge is sent once. Follow-up actions of an escalation (fallback
assignment, release) run only in the sweep that won the claim, and are compare-and-set moves in
storage themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import ChannelConfig, HandoffConfig, SlaPolicy
from bot.domain.assignment import RepCandidate, pick_fallback_rep
from bot.domain.leads import LeadState, StoredLead
from bot.domain.nudges import DueNudge, LeadClock, NudgeKind, effective_policy, plan_due_nudges
from bot.domain.sla import BusinessHours, is_open, next_opening
from bot.outbox import SLACK
from bot.scoring.result import Reason, Score
from bot.services.handoff import HandoffService
from bot.services.ingest import IngestService
from bot.slack import blocks
from bot.storage.leads import LeadStore
from bot.storage.nudges import SKIPPED, NudgeStore
from bot.storage.outbox import NewItem, OutboxStore
from bot.storage.reps import RepStore

log = logging.getLogger(__name__)

OnHot = Callable[[int], Awaitable[None]]
STALE_SCORE_AFTER = timedelta(hours=1)


def _card(lead: StoredLead) -> blocks.LeadCard:
    reasons = tuple(Reason(int(p), str(t), str(g)) for p, t, g in lead.reasons)
    return blocks.LeadCard(
        lead_id=lead.id,
        profile=lead.profile,
        score=Score(lead.score, lead.grade, reasons),
        latest_event=None,
        arrived_at=lead.routed_at or lead.created_at,
        state=lead.state,
        claimed_by=lead.claimed_by,
        claimed_at=lead.claimed_at,
        route_reason=lead.route_reason,
    )


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


class NudgeService:
    def __init__(
        self,
        nudges: NudgeStore,
        reps: RepStore,
        leads: LeadStore,
        outbox: OutboxStore,
        handoff: HandoffService,
        ingest: IngestService,
        config: HandoffConfig,
        clock: Clock,
        *,
        on_hot: OnHot | None = None,
        kick_outbox: Callable[[], None] = lambda: None,
        stale_score_after: timedelta = STALE_SCORE_AFTER,
    ) -> None:
        self._nudges = nudges
        self._reps = reps
        self._leads = leads
        self._outbox = outbox
        self._handoff = handoff
        self._ingest = ingest
        self._config = config
        self._clock = clock
        self._on_hot = on_hot
        self._kick = kick_outbox
        self._stale_after = stale_score_after

    # --- configuration lookups -----------------------------------------------------------------

    def _channel(self, lead: StoredLead) -> ChannelConfig | None:
        return self._config.channels.get(lead.route_channel or "")

    def _hours(self, channel: ChannelConfig | None) -> BusinessHours:
        hours = (channel.business_hours if channel else None) or self._config.business_hours
        return hours or BusinessHours.always()

    def _managers(self, channel: ChannelConfig | None) -> list[str]:
        if channel is not None and channel.manager:
            return [channel.manager]
        return list(self._config.managers)

    # --- the SLA sweep -------------------------------------------------------------------------

    async def sweep(self) -> int:
        """Send every nudge and escalation that is due now; returns how many this sweep sent."""
        now = self._clock()
        candidates = await self._nudges.list_candidates()
        claimers = {c.lead.claimed_by for c in candidates if c.lead.claimed_by}
        paused = await self._reps.list_paused(claimers, now) if claimers else set()
        fired = 0
        for candidate in candidates:
            lead = candidate.lead
            channel = self._channel(lead)
            policy = effective_policy(self._config.sla, channel.sla if channel else None)
            hours = self._hours(channel)
            claimer_paused = lead.claimed_by in paused
            due = plan_due_nudges(
                _lead_clock(lead), policy, hours, candidate.sent, claimer_paused, now
            )
            try:
                for nudge in due:
                    if not await self._fire(lead, nudge, policy, channel, claimer_paused, now):
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
        policy: SlaPolicy,
        channel: ChannelConfig | None,
        claimer_paused: bool,
        now: datetime,
    ) -> bool:
        if due.kind is NudgeKind.NUDGE_UNCLAIMED:
            message = blocks.build_unclaimed_nudge(_card(lead), due.reason, policy.mention)
            item = self._in_thread(lead, message)
            return await self._nudges.record(lead, due.kind, item.payload["channel"], [item], now)
        if due.kind is NudgeKind.ESCALATE_UNCLAIMED:
            return await self._escalate_unclaimed(lead, due, policy, channel, now)
        if due.kind is NudgeKind.NUDGE_UNCONTACTED:
            claimer = lead.claimed_by or ""
            if claimer_paused:
                # A paused rep gets no reminders; the timer is spent so escalation follows.
                return await self._nudges.record(lead, due.kind, claimer, [], now, status=SKIPPED)
            dm = blocks.build_uncontacted_nudge(_card(lead), due.reason)
            return await self._nudges.record(
                lead, due.kind, claimer, [_post(claimer, dm, lead.id)], now
            )
        return await self._escalate_uncontacted(lead, due, policy, channel, now)

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
        policy: SlaPolicy,
        channel: ChannelConfig | None,
        now: datetime,
    ) -> bool:
        managers = self._managers(channel)
        fallback = policy.fallback_assign and channel is not None and bool(channel.reps)
        pick = await self._pick_rep(channel, now) if fallback and channel else None
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
        items += self._handoff.lifecycle_items(
            "lead.sla_breached", lead, "system", {"sla": due.kind}
        )
        if policy.overflow_channel:
            items.append(_post(policy.overflow_channel, blocks.build_lead_card(card, now), lead.id))
        if not await self._nudges.record(lead, due.kind, ",".join(managers) or None, items, now):
            return False
        if pick and await self._handoff.assign_by_system(lead.id, pick, "unclaimed past SLA"):
            await self._reps.count_assignment(pick, now)
        return True

    async def _pick_rep(self, channel: ChannelConfig, now: datetime) -> str | None:
        """Weighted round robin among the channel's reps who can take a lead right now."""
        statuses = await self._reps.list_status(channel.reps, now)
        in_hours = is_open(now, self._hours(channel))
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
        policy: SlaPolicy,
        channel: ChannelConfig | None,
        now: datetime,
    ) -> bool:
        managers = self._managers(channel)
        release = policy.release_when_uncontacted
        message = blocks.build_uncontacted_escalation(
            _card(lead), due.reason, lead.claimed_by or "", managers, released=release
        )
        items = [_post(manager, message, lead.id) for manager in managers]
        breach = self._handoff.lifecycle_items(
            "lead.sla_breached", lead, "system", {"sla": due.kind}
        )
        if release or not items:
            items.append(self._in_thread(lead, message))
        items += breach
        if not await self._nudges.record(lead, due.kind, ",".join(managers) or None, items, now):
            return False
        if release:
            await self._handoff.release_by_system(lead.id, "not contacted within the SLA")
        return True

    # --- availability --------------------------------------------------------------------------

    def _pause_end(self, user_id: str, now: datetime) -> datetime:
        """The next business opening after today (09:00 tomorrow, UTC, without hours)."""
        hours = next(
            (
                channel.business_hours
                for channel in self._config.channels.values()
                if user_id in channel.reps and channel.business_hours
            ),
            self._config.business_hours,
        )
        if hours is None or hours.always_open:
            zone = ZoneInfo("UTC")
            return datetime.combine(now.astimezone(zone).date() + timedelta(days=1), time(9), zone)
        tomorrow = now.astimezone(hours.zone).date() + timedelta(days=1)
        return next_opening(datetime.combine(tomorrow, time(0), hours.zone), hours)

    async def pause(self, user_id: str) -> datetime:
        """The rep is away until the next business morning: no reminders, no fallback leads."""
        now = self._clock()
        until = self._pause_end(user_id, now)
        await self._reps.set_paused_until(user_id, until, now)
        await self._handoff.publish_home(user_id)
        return until

    async def resume(self, user_id: str) -> None:
        await self._reps.set_paused_until(user_id, None, self._clock())
        await self._handoff.publish_home(user_id)

    async def user_changed(self, event_id: str, user_id: str, deleted: bool) -> int:
        """A Slack account changed; a deactivated rep's open leads go back to their channels.

        Slack redelivers events, so each ``event_id`` is handled once. Returns leads released.
        """
        now = self._clock()
        if not deleted:
            await self._reps.set_reactivated(user_id, now)
            return 0
        if not await self._reps.record_slack_event(event_id, now):
            return 0
        await self._reps.set_deactivated(user_id, now)
        released = 0
        for lead in await self._leads.list_owned(user_id):
            if not await self._handoff.release_by_system(lead.id, "owner deactivated"):
                continue
            released += 1
            note = blocks.build_owner_deactivated_note(_card(lead), user_id)
            item = self._in_thread(lead, note)
            keyed = NewItem(
                item.kind, item.method, item.payload, lead.id, f"deactivated:{lead.id}:{lead.cycle}"
            )
            if await self._outbox.enqueue(keyed, now):
                self._kick()
        return released

    # --- returned and decaying leads -----------------------------------------------------------

    async def sweep_recontacts(self) -> int:
        """Returned leads whose recontact date has come: cooldown off, scored again, marketing
        told. Returns how many leads this sweep took."""
        now = self._clock()
        taken = 0
        for lead in await self._nudges.list_recontact_due(now):
            items = []
            if self._config.marketing.channel:
                note = blocks.build_recontact_note(_card(lead))
                items.append(_post(self._config.marketing.channel, note, lead.id))
            items += self._handoff.lifecycle_items("lead.recontact_due", lead, "system")
            if not await self._nudges.claim_recontact(lead, items, now):
                continue
            taken += 1
            await self._rescore(lead.id, "recontact_due")
        if taken:
            self._kick()
        return taken

    async def sweep_scores(self) -> int:
        """Rescore nurturing and hot leads not scored for a while, so old engagement cools."""
        now = self._clock()
        rescored = 0
        for lead_id, scored_at in await self._nudges.list_stale_scores(now - self._stale_after):
            if await self._nudges.claim_rescore(lead_id, scored_at, now):
                await self._rescore(lead_id, "decay")
                rescored += 1
        return rescored

    async def _rescore(self, lead_id: int, trigger: str) -> None:
        lead = await self._ingest.rescore(lead_id, trigger, "system")
        if lead.state is LeadState.HOT and self._on_hot is not None:
            await self._on_hot(lead_id)
