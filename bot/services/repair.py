"""The repair sweep: re-queue what a crash could still leave half-done, and say what it did.

Every move writes its state and its outbox rows in one transaction, so a crash leaves nothing
half-done by design; this sweep is the second line that does not rely on that. It looks for
routed leads without a card item, owned leads without an owner-DM item, recently returned leads
without their marketing items, and hot leads nobody routed, and queues what is missing. Every
item it queues has the dedupe key the move itself uses, so running it anywhere, any number of
times, queues each item once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.config import HandoffConfig
from bot.services.cards import post_card, post_owner_dm, refresh_cards
from bot.services.lifecycle import NO_EVENTS, LifecycleEvents
from bot.services.returns import marketing_items
from bot.services.routing import RoutingService
from bot.storage.leads import LeadStore

log = logging.getLogger(__name__)

# Returns older than this are history: a marketing channel configured today must not receive
# every lead ever returned.
RETURN_REPAIR_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class Repaired:
    cards: int = 0
    owner_dms: int = 0
    marketing: int = 0
    routed: int = 0

    @property
    def total(self) -> int:
        return self.cards + self.owner_dms + self.marketing + self.routed


class RepairService:
    def __init__(
        self,
        leads: LeadStore,
        routing: RoutingService,
        config: HandoffConfig,
        clock: Clock,
        *,
        slack_enabled: bool = True,
        kick_outbox: Callable[[], None] = lambda: None,
        events: LifecycleEvents = NO_EVENTS,
    ) -> None:
        self._events = events
        self._leads = leads
        self._routing = routing
        self._config = config
        self._clock = clock
        self._slack_enabled = slack_enabled
        self._kick = kick_outbox

    def set_kick(self, kick_outbox: Callable[[], None]) -> None:
        self._kick = kick_outbox

    async def sweep(self) -> int:
        """Re-queue what is missing; logs one line either way. Returns how much it repaired."""
        done = await self.repair()
        if done.total:
            log.warning(
                "repair: re-queued %s card(s), %s owner DM(s), %s marketing item(s); "
                "routed %s waiting hot lead(s)",
                done.cards,
                done.owner_dms,
                done.marketing,
                done.routed,
            )
            self._kick()
        else:
            log.info("repair: nothing stuck")
        return done.total

    async def repair(self) -> Repaired:
        now = self._clock()
        cards = owner_dms = marketing = 0
        if self._slack_enabled:
            for lead in await self._leads.list_routed_without_card():
                if await self._leads.requeue(lead, post_card(lead.id, lead.cycle), (), now):
                    cards += 1
            for lead in await self._leads.list_owned_without_dm():
                owner = lead.claimed_by or ""
                dm = post_owner_dm(lead.id, lead.cycle, owner)
                if await self._leads.requeue(lead, dm, refresh_cards(lead.id), now):
                    owner_dms += 1
        for lead in await self._leads.list_returned_since(now - RETURN_REPAIR_WINDOW):
            for item in marketing_items(self._config, lead, lead.returned_at or now, self._events):
                if await self._leads.requeue(lead, item, (), now):
                    marketing += 1
        routed = await self._routing.route_all_hot() if self._slack_enabled else 0
        return Repaired(cards, owner_dms, marketing, routed)
