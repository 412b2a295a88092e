"""Returns: a lead that is not ready goes back to marketing (Slack message and signed webhook)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, time
from typing import Any

from bot.clock import Clock
from bot.config import HandoffConfig
from bot.domain.channels import channel_context
from bot.domain.leads import StoredLead
from bot.domain.lifecycle import Move, state_after
from bot.outbox import SLACK, WEBHOOK
from bot.services.access import Access, Outcome, explain
from bot.services.cards import card_of, publish_home, refresh_cards
from bot.services.lifecycle import NO_EVENTS, LifecycleEvents
from bot.slack import blocks
from bot.storage.leads import LeadStore
from bot.storage.outbox import NewItem

MOVE_ATTEMPTS = 3


def marketing_message_key(lead_id: int, cycle: int) -> str:
    return f"returned-slack:{lead_id}:{cycle}"


def marketing_webhook_key(lead_id: int, cycle: int) -> str:
    return f"returned:{lead_id}:{cycle}"


def returned_body(lead: StoredLead, now: datetime) -> dict[str, Any]:
    """The signed ``lead.returned`` webhook body, from the lead as returned."""
    profile = lead.profile
    return {
        "event": "lead.returned",
        "occurred_at": now.isoformat(),
        "lead": {
            "id": lead.id,
            "email": profile.email,
            "first_name": profile.first_name,
            "last_name": profile.last_name,
            "company": profile.company,
            "title": profile.title,
            "source": profile.source,
            "utm": profile.utm,
            "score": lead.score,
            "grade": lead.grade,
        },
        "reason": lead.return_reason,
        "reason_label": blocks.NOT_READY_REASONS.get(lead.return_reason or "", "Other"),
        "note": lead.return_note,
        "recontact_after": lead.recontact_after.date().isoformat()
        if lead.recontact_after
        else None,
        "returned_by": lead.returned_by,
        "cooldown_until": lead.cooldown_until.isoformat() if lead.cooldown_until else None,
    }


def marketing_items(
    config: HandoffConfig,
    returned: StoredLead,
    now: datetime,
    events: LifecycleEvents = NO_EVENTS,
) -> list[NewItem]:
    """What marketing receives about a lead as returned: a Slack message and/or a webhook, once
    per hand-off cycle (the repair sweep rebuilds the same keys)."""
    marketing = config.marketing
    items: list[NewItem] = []
    if marketing.channel:
        recontact = returned.recontact_after.date() if returned.recontact_after else None
        message = blocks.build_marketing_return_message(
            card_of(returned),
            returned.return_reason or "other",
            returned.return_note,
            recontact,
            returned.returned_by or "",
        )
        items.append(
            NewItem(
                SLACK,
                "chat.postMessage",
                {"channel": marketing.channel, **message},
                returned.id,
                dedupe_key=marketing_message_key(returned.id, returned.cycle),
            )
        )
    if events.enabled:
        # marketing.webhook_url is a subscription to lead.returned; the event id is keyed on
        # the return's time, so the repair sweep rebuilds the same items.
        items += events.items("lead.returned", returned, returned.returned_by or "", now)
    elif marketing.webhook_url:
        items.append(
            # No lead_id: a marketing endpoint that is down must not hold back the lead's
            # Slack messages, which the outbox keeps in order per lead.
            NewItem(
                WEBHOOK,
                "lead.returned",
                {"url": marketing.webhook_url, "body": returned_body(returned, now)},
                dedupe_key=marketing_webhook_key(returned.id, returned.cycle),
            )
        )
    return items


class ReturnsService:
    def __init__(
        self,
        leads: LeadStore,
        access: Access,
        config: HandoffConfig,
        clock: Clock,
        kick_outbox: Callable[[], None] = lambda: None,
        events: LifecycleEvents = NO_EVENTS,
    ) -> None:
        self._leads = leads
        self._access = access
        self._config = config
        self._clock = clock
        self._kick = kick_outbox
        self._events = events

    def set_kick(self, kick_outbox: Callable[[], None]) -> None:
        self._kick = kick_outbox

    async def may_return(self, lead_id: int, user_id: str) -> Outcome:
        """Checked before opening the "Not ready" modal."""
        lead = await self._leads.get(lead_id)
        if lead is None:
            return Outcome(False, "This lead is no longer open.")
        refused = await self._access.refusal(Move.RETURN, lead, user_id)
        if refused is not None:
            return Outcome(False, explain(refused))
        return Outcome(True, blocks.lead_title(lead.profile, lead.id))

    async def return_lead(
        self,
        lead_id: int,
        user_id: str,
        reason: str,
        note: str | None,
        recontact_after: date | None,
    ) -> Outcome:
        for _ in range(MOVE_ATTEMPTS):  # again if the lead changed between look and move
            lead = await self._leads.get(lead_id)
            if lead is None:
                return Outcome(False, "This lead is no longer open.")
            refused = await self._access.refusal(Move.RETURN, lead, user_id)
            if refused is not None:
                return Outcome(False, explain(refused))
            if await self._return(lead, user_id, reason, note, recontact_after):
                self._kick()
                return Outcome(True)
        return Outcome(False, "Someone acted on this lead first; nothing changed.")

    async def _return(
        self,
        lead: StoredLead,
        user_id: str,
        reason: str,
        note: str | None,
        recontact_after: date | None,
    ) -> bool:
        now = self._clock()
        zone = channel_context(self._config, lead.route_channel).zone
        recontact = (
            datetime.combine(recontact_after, time(9), tzinfo=zone) if recontact_after else None
        )
        cooldown_until = now + self._config.returns.cooldown
        # The lead as it will be once returned: what marketing is told about.
        returned = replace(
            lead,
            state=state_after(Move.RETURN, lead.state),
            returned_at=now,
            returned_by=user_id,
            return_reason=reason,
            return_note=note,
            recontact_after=recontact,
            cooldown_until=cooldown_until,
            claimed_by=None,
        )
        effects = [
            *refresh_cards(lead.id),
            *marketing_items(self._config, returned, now, self._events),
        ]
        if lead.claimed_by:
            effects.append(publish_home(lead.claimed_by, lead.id))
        moved = await self._leads.return_to_marketing(
            lead,
            user_id,
            now,
            effects,
            reason=reason,
            note=note,
            recontact_after=recontact,
            cooldown_until=cooldown_until,
        )
        return moved is not None
