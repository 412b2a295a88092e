"""Routing: a hot lead gets its channel (and maybe an account owner's offer) and its card."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import datetime

from bot.clock import Clock
from bot.config import HandoffConfig
from bot.domain.leads import LeadState, StoredLead
from bot.domain.lifecycle import OWNED_STATES, SYSTEM
from bot.domain.routing import AccountOwner, route_lead
from bot.services.cards import post_card, post_offer
from bot.services.lifecycle import NO_EVENTS, LifecycleEvents, hot_items
from bot.storage.leads import LeadStore, Routing
from bot.storage.reps import RepStore


class RoutingService:
    def __init__(
        self,
        leads: LeadStore,
        reps: RepStore,
        config: HandoffConfig,
        clock: Clock,
        kick_outbox: Callable[[], None] = lambda: None,
        free_mail_domains: Collection[str] = (),
        events: LifecycleEvents = NO_EVENTS,
    ) -> None:
        self._events = events
        self._leads = leads
        self._reps = reps
        self._config = config
        self._clock = clock
        self._kick = kick_outbox
        self._free_mail = frozenset(d.lower() for d in free_mail_domains)

    def set_kick(self, kick_outbox: Callable[[], None]) -> None:
        self._kick = kick_outbox

    async def route_hot(self, lead_id: int, as_read: StoredLead | None = None) -> bool:
        """Decide the channel for a hot lead and queue its card, exactly once per hand-off,
        with its `lead.hot` event if that was not queued yet.

        ``as_read``: the lead as the caller just committed it (saves reading it again); if it
        has moved since, the move's compare-and-set refuses and nothing is queued."""
        now = self._clock()
        lead = as_read if as_read is not None else await self._leads.get(lead_id)
        if lead is None or lead.state != LeadState.HOT:
            return False
        window = self._config.routing.account_ownership.window

        async def plan(claims: list[StoredLead]) -> Routing:
            return await self._plan(lead, claims, now)

        if await self._leads.route(lead, now, now - window, plan) is None:
            return False
        self._kick()
        return True

    async def _plan(self, lead: StoredLead, claims: list[StoredLead], now: datetime) -> Routing:
        """The channel (and maybe an account owner's offer) for ``lead``, and what it queues."""
        claimers = {c.claimed_by for c in claims if c.claimed_by}
        away = await self._reps.list_unavailable(claimers, now) if claimers else set()
        owners = [
            AccountOwner(
                domain=c.profile.email_domain,
                rep_user_id=c.claimed_by,
                claimed_at=c.claimed_at or now,
                still_open=c.state in OWNED_STATES,
            )
            for c in claims
            if c.claimed_by and c.claimed_by not in away  # no offers to paused or gone reps
        ]
        decision = route_lead(
            lead.profile, lead.score, lead.grade, self._config.routing, owners, now, self._free_mail
        )
        cycle = lead.cycle + 1
        routed = replace(
            lead,
            state=LeadState.ROUTED,
            cycle=cycle,
            routed_at=now,
            route_channel=decision.channel,
            claimed_by=None,
        )
        effects = [
            *hot_items(self._events, lead),
            post_card(lead.id, cycle),
            *self._events.items("lead.routed", routed, SYSTEM, now, {"rule": decision.rule_name}),
        ]
        if decision.owner_user_id:
            effects.append(post_offer(lead.id, cycle, decision.owner_user_id))
        return Routing(
            effects,
            channel=decision.channel,
            rule=decision.rule_name,
            reason=decision.reason,
            offered_to=decision.owner_user_id,
        )

    async def route_all_hot(self) -> int:
        routed = 0
        for lead in await self._leads.list_by_state([LeadState.HOT]):
            if await self.route_hot(lead.id):
                routed += 1
        return routed
