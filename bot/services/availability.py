"""Reps' availability: pause and resume from App Home, and Slack accounts deactivated."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import HandoffConfig
from bot.domain.sla import next_opening
from bot.outbox import SLACK
from bot.services.cards import card_of, publish_home
from bot.services.claims import ClaimsService
from bot.slack import blocks
from bot.storage.leads import LeadStore
from bot.storage.outbox import NewItem, OutboxStore
from bot.storage.reps import RepStore


class AvailabilityService:
    def __init__(
        self,
        reps: RepStore,
        leads: LeadStore,
        outbox: OutboxStore,
        claims: ClaimsService,
        config: HandoffConfig,
        clock: Clock,
        *,
        kick_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self._reps = reps
        self._leads = leads
        self._outbox = outbox
        self._claims = claims
        self._config = config
        self._clock = clock
        self._kick = kick_outbox

    def set_kick(self, kick_outbox: Callable[[], None]) -> None:
        self._kick = kick_outbox

    async def publish_home(self, user_id: str) -> None:
        """The rep's App Home tab, rendered when sent (their open leads, pause state)."""
        if await self._outbox.enqueue(publish_home(user_id), self._clock()):
            self._kick()

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
        await self.publish_home(user_id)
        return until

    async def resume(self, user_id: str) -> None:
        await self._reps.set_paused_until(user_id, None, self._clock())
        await self.publish_home(user_id)

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
            note = blocks.build_owner_deactivated_note(card_of(lead), user_id)
            if lead.card_channel and lead.card_ts:
                payload = {"channel": lead.card_channel, "thread_ts": lead.card_ts, **note}
            else:
                channel = lead.route_channel or self._config.routing.default_channel
                payload = {"channel": channel, **note}
            item = NewItem(
                SLACK, "chat.postMessage", payload, lead.id, f"deactivated:{lead.id}:{lead.cycle}"
            )
            if await self._claims.release_by_system(lead.id, "owner deactivated", also=[item]):
                released += 1
        return released
