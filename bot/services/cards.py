"""Lead cards: the one StoredLead -> LeadCard mapper, the outbox items a move causes for cards,
DMs and Home tabs, and `LeadCards`, the renderer the outbox worker calls at send time (it
implements `bot.outbox.CardRenderer`).

Card items carry no message: the worker renders them from the lead's state when it sends, so
a card never shows a stale state. A former owner's "released" DM is the exception: it is built
when the lead leaves them, because the lead forgets that DM in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from bot.domain.leads import EngagementEvent, LeadState, StoredLead
from bot.domain.lifecycle import OWNED_STATES
from bot.outbox import CARD, SLACK
from bot.scoring.result import Reason, Score
from bot.slack import blocks
from bot.storage.leads import LeadStore
from bot.storage.outbox import NewItem, OutboxStore, QueuedItem
from bot.storage.reps import RepStore

DM_TO = "dm_to"  # payload key: the owner's DM
# How long a lead read with its item's lease may stand in for a read at send time; older, the
# item (waiting behind a slow Slack) reads the lead again.
PREFETCH_FOR = timedelta(seconds=2)
OFFER_TO = "offer_to"  # payload key: the account owner's copy of the card


def card_of(lead: StoredLead, latest_event: EngagementEvent | None = None) -> blocks.LeadCard:
    reasons = tuple(Reason(int(p), str(t), str(g)) for p, t, g in lead.reasons)
    returned = lead.state == LeadState.NURTURING
    return blocks.LeadCard(
        lead_id=lead.id,
        profile=lead.profile,
        score=Score(lead.score, lead.grade, reasons),
        latest_event=latest_event,
        arrived_at=lead.routed_at or lead.created_at,
        state=lead.state,
        claimed_by=lead.claimed_by,
        claimed_at=lead.claimed_at,
        returned_reason=lead.return_reason if returned else None,
        returned_by=lead.returned_by if returned else None,
        route_reason=lead.route_reason,
    )


# --- the items a move queues ---------------------------------------------------------------------


def card_key(lead_id: int, cycle: int) -> str:
    return f"card:{lead_id}:{cycle}"


def owner_dm_key(lead_id: int, cycle: int, user_id: str) -> str:
    return f"owner-dm:{lead_id}:{cycle}:{user_id}"


def post_card(lead_id: int, cycle: int) -> NewItem:
    """The channel card of a new hand-off cycle (once per cycle)."""
    return NewItem(CARD, "chat.postMessage", {}, lead_id, dedupe_key=card_key(lead_id, cycle))


def post_offer(lead_id: int, cycle: int, owner: str) -> NewItem:
    """The card again, by DM to the account's owner; updated with the channel's card."""
    return NewItem(
        CARD, "chat.postMessage", {OFFER_TO: owner}, lead_id, dedupe_key=f"offer:{lead_id}:{cycle}"
    )


def refresh_cards(lead_id: int) -> list[NewItem]:
    """The channel card, the owner's DM and the offer all show the lead as it is now."""
    return [
        NewItem(CARD, "chat.update", {}, lead_id),
        NewItem(CARD, "chat.update", {DM_TO: "owner"}, lead_id),
        NewItem(CARD, "chat.update", {OFFER_TO: "owner"}, lead_id),
    ]


def post_owner_dm(lead_id: int, cycle: int, user_id: str) -> NewItem:
    return NewItem(
        CARD,
        "chat.postMessage",
        {DM_TO: user_id, "cycle": cycle},
        lead_id,
        dedupe_key=owner_dm_key(lead_id, cycle, user_id),
    )


def publish_home(user_id: str, lead_id: int | None = None) -> NewItem:
    return NewItem(CARD, "views.publish", {"user_id": user_id}, lead_id)


def detach_owner_dm(
    lead: StoredLead, released_by: str | None, new_owner: str | None = None
) -> list[NewItem]:
    """Tell the DM of the owner ``lead`` had that it is no longer theirs (no buttons). Nothing
    when that DM was never posted: its pending post is then skipped at send time."""
    if not lead.dm_channel or not lead.dm_ts:
        return []
    message = blocks.build_released_dm(card_of(lead), released_by, new_owner)
    payload = {"channel": lead.dm_channel, "ts": lead.dm_ts, **message}
    return [NewItem(SLACK, "chat.update", payload, lead.id)]


# --- rendering at send time ----------------------------------------------------------------------


class LeadCards:
    """The outbox worker's renderer: builds each card item from the lead's current state."""

    def __init__(
        self,
        leads: LeadStore,
        reps: RepStore,
        outbox: OutboxStore,
        clock: Clock,
        kick_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self._leads = leads
        self._reps = reps
        self._outbox = outbox
        self._clock = clock
        self._kick = kick_outbox
        # Leads read in the lease's transaction, by id: taken (once) by the item's render.
        self._prefetched: dict[int, tuple[datetime, StoredLead, EngagementEvent | None]] = {}

    def set_kick(self, kick_outbox: Callable[[], None]) -> None:
        self._kick = kick_outbox

    async def prefetch(self, items: Sequence[QueuedItem]) -> None:
        """Read the leads of the card items just leased, in the lease's transaction."""
        ids = [i.lead_id for i in items if i.kind == CARD and i.method != "views.publish"]
        found = await self._leads.list_with_latest_event([i for i in ids if i is not None])
        now = self._clock()
        self._prefetched = {lead.id: (now, lead, event) for lead, event in found}

    async def _lead_now(self, lead_id: int) -> tuple[StoredLead, EngagementEvent | None] | None:
        prefetched = self._prefetched.pop(lead_id, None)
        if prefetched is not None and self._clock() - prefetched[0] <= PREFETCH_FOR:
            return prefetched[1], prefetched[2]
        lead = await self._leads.get(lead_id)
        return None if lead is None else (lead, await self._leads.latest_event(lead_id))

    async def render_card_call(
        self, lead_id: int, method: str, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        found = await self._lead_now(lead_id)
        if found is None:
            return None
        lead, latest = found
        card = card_of(lead, latest)
        if DM_TO in payload:  # the owner's DM: full lead, owner buttons, kept up to date
            dm = blocks.build_claim_dm(card, self._clock())
            if method == "chat.postMessage":
                if lead.claimed_by != payload[DM_TO] or lead.state not in OWNED_STATES:
                    return None  # released, returned or reassigned before the DM went out
                if "cycle" in payload and payload["cycle"] != lead.cycle:
                    return None  # released and claimed again by the same rep: a newer DM
                return {"channel": payload[DM_TO], "unfurl_links": False, **dm}
            if not lead.dm_channel or not lead.dm_ts:
                return None
            return {"channel": lead.dm_channel, "ts": lead.dm_ts, **dm}
        message = blocks.build_lead_card(card, self._clock())
        if OFFER_TO in payload:
            if method == "chat.postMessage":
                return {"channel": payload[OFFER_TO], "unfurl_links": False, **message}
            if not lead.offer_channel or not lead.offer_ts:
                return None
            return {"channel": lead.offer_channel, "ts": lead.offer_ts, **message}
        if method == "chat.postMessage":
            if lead.card_ts:
                return None  # already posted for this hand-off
            return {"channel": lead.route_channel, "unfurl_links": False, **message}
        if not lead.card_ts or not lead.card_channel:
            return None  # no card was ever posted (e.g. the post failed for good)
        return {"channel": lead.card_channel, "ts": lead.card_ts, **message}

    async def card_posted(
        self, lead_id: int, channel: str, ts: str, payload: dict[str, Any]
    ) -> None:
        if DM_TO in payload:
            owner = str(payload[DM_TO])
            lead = await self._leads.get(lead_id)
            cycle = int(payload.get("cycle", lead.cycle if lead else 0))
            if lead is None or await self._leads.set_owner_dm(lead_id, owner, cycle, channel, ts):
                return
            # The lead left this rep while their DM was on its way: detach that DM at once.
            new_owner = lead.claimed_by if lead.claimed_by != owner else None
            posted = replace(lead, dm_channel=channel, dm_ts=ts)
            for item in detach_owner_dm(posted, None, new_owner):
                if await self._outbox.enqueue(item, self._clock()):
                    self._kick()
        elif OFFER_TO in payload:
            await self._leads.set_offer_dm(lead_id, channel, ts)
        else:
            await self._leads.set_card(lead_id, channel, ts)

    async def render_home_call(self, user_id: str) -> dict[str, Any]:
        now = self._clock()
        owned = await self._leads.list_owned(user_id)
        cards = [card_of(lead, await self._leads.latest_event(lead.id)) for lead in owned]
        paused_until = await self._reps.get_paused_until(user_id, now)
        return {"user_id": user_id, "view": blocks.build_app_home(cards, now, paused_until)}
