"""Rescoring sweeps: returned leads whose recontact date came, and scores gone stale (decay)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from bot.clock import Clock
from bot.config import HandoffConfig
from bot.domain.leads import LeadState, StoredLead
from bot.domain.lifecycle import SYSTEM
from bot.outbox import SLACK
from bot.services.cards import card_of
from bot.services.ingest import IngestService
from bot.services.lifecycle import NO_EVENTS, LifecycleEvents
from bot.slack import blocks
from bot.storage.nudges import NudgeStore
from bot.storage.outbox import NewItem

OnHot = Callable[[StoredLead], Awaitable[None]]  # the lead as rescored
STALE_SCORE_AFTER = timedelta(hours=1)


def _post(channel: str, message: dict[str, Any], lead_id: int) -> NewItem:
    return NewItem(SLACK, "chat.postMessage", {"channel": channel, **message}, lead_id)


class RescoringService:
    def __init__(
        self,
        nudges: NudgeStore,
        ingest: IngestService,
        config: HandoffConfig,
        clock: Clock,
        *,
        on_hot: OnHot | None = None,
        kick_outbox: Callable[[], None] = lambda: None,
        stale_score_after: timedelta = STALE_SCORE_AFTER,
        events: LifecycleEvents = NO_EVENTS,
    ) -> None:
        self._events = events
        self._nudges = nudges
        self._ingest = ingest
        self._config = config
        self._clock = clock
        self._on_hot = on_hot
        self._kick = kick_outbox
        self._stale_after = stale_score_after

    async def sweep_recontacts(self) -> int:
        """Returned leads whose recontact date has come: cooldown off, scored again, marketing
        told. Returns how many leads this sweep took."""
        now = self._clock()
        taken = 0
        for lead in await self._nudges.list_recontact_due(now):
            items = []
            if self._config.marketing.channel:
                note = blocks.build_recontact_note(card_of(lead))
                items.append(_post(self._config.marketing.channel, note, lead.id))
            items += self._events.items("lead.recontact_due", lead, SYSTEM, now)
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
            await self._on_hot(lead)
