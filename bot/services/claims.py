"""Claims and ownership: claim, contacted, snooze, release, outcome, assign and reassign.

Each use-case asks the lifecycle (through `Access`) whether the user may make the move, computes
the outbox items the move causes, and hands both to one storage move, which writes the state,
its audit row and those items in one transaction. The outbox worker is kicked after the commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime, time, timedelta
from typing import Literal

from bot.clock import Clock
from bot.config import HandoffConfig
from bot.domain.channels import channel_context
from bot.domain.leads import LeadState, StoredLead
from bot.domain.lifecycle import (
    OWNED_STATES,
    SYSTEM,
    Actor,
    Move,
    outcome_state,
    refusal,
)
from bot.domain.report_query import parse_mention, unescape_links
from bot.services.access import Access, Outcome, explain
from bot.services.cards import detach_owner_dm, post_owner_dm, publish_home, refresh_cards
from bot.services.lifecycle import NO_EVENTS, LifecycleEvents
from bot.slack import blocks
from bot.storage.leads import LeadStore, Moved
from bot.storage.outbox import NewItem

MISSING = "This lead no longer exists."
RACED = "Someone acted on this lead first; nothing changed."
MOVE_ATTEMPTS = 3
# How a claim left its lead, for the clicks that waited on it: the lead as it now stands,
# "missing" when there is no such lead, None when the outcome was about the clicker (a limit).
Settled = StoredLead | Literal["missing"] | None


class ClaimsService:
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
        # lead id -> the claim running for it in this process, resolving to how it left the lead
        self._claims_in_flight: dict[int, asyncio.Future[Settled]] = {}

    def set_kick(self, kick_outbox: Callable[[], None]) -> None:
        self._kick = kick_outbox

    async def is_any_manager(self, user_id: str, channel: str | None = None) -> bool:
        return await self._access.is_any_manager(user_id, channel)

    # --- a rep's clicks ------------------------------------------------------------------------

    async def claim(self, lead_id: int, user_id: str) -> Outcome:
        """Claim for ``user_id``. Clicks on the same card while one claim is in flight in this
        process wait for it instead of each running its own transaction: once it settles,
        the lead it left behind answers them ("Already claimed by @ana") with no database
        work. A click the settled lead does not answer (the first clicker was over their
        limit, say) claims for itself. The database still decides between replicas."""
        while (running := self._claims_in_flight.get(lead_id)) is not None:
            settled = await asyncio.shield(running)
            if settled == "missing":
                return Outcome(False, MISSING)
            if isinstance(settled, StoredLead):
                refused = await self._access.refusal(Move.CLAIM, settled, user_id)
                if refused is not None:
                    return Outcome(False, explain(refused))
        claiming: asyncio.Future[Settled] = asyncio.get_running_loop().create_future()
        self._claims_in_flight[lead_id] = claiming
        left: Settled = None
        try:
            outcome, left = await self._claim_once(lead_id, user_id)
            return outcome
        finally:
            del self._claims_in_flight[lead_id]
            claiming.set_result(left)

    async def _claim_once(self, lead_id: int, user_id: str) -> tuple[Outcome, Settled]:
        """The outcome, and the lead as this claim left it (None: not known)."""
        now = self._clock()
        lead = await self._leads.get(lead_id)
        if lead is None:
            return Outcome(False, MISSING), "missing"
        refused = await self._access.refusal(Move.CLAIM, lead, user_id)
        if refused is not None:
            return Outcome(False, explain(refused)), lead
        claimed = replace(lead, state=LeadState.CLAIMED, claimed_by=user_id, claimed_at=now)
        effects = [
            *refresh_cards(lead.id),
            post_owner_dm(lead.id, lead.cycle, user_id),
            publish_home(user_id, lead.id),
            *self._events.items("lead.claimed", claimed, user_id, now),
        ]
        limits = self._config.claims
        attempt = await self._leads.claim(
            lead,
            user_id,
            now,
            effects,
            max_open=limits.max_open_claims,
            max_per_day=limits.max_claims_per_day,
        )
        if attempt.over_limit == "open":
            text = (
                f"You already hold {attempt.count} untouched leads (limit "
                f"{limits.max_open_claims}). Contact or release one first."
            )
            return Outcome(False, text), None
        if attempt.over_limit == "day":
            text = (
                f"You claimed {attempt.count} leads in the last 24 h (limit "
                f"{limits.max_claims_per_day}). Leave this one for a teammate."
            )
            return Outcome(False, text), None
        if attempt.moved is None:
            current = await self._leads.get(lead_id)
            who = current.claimed_by if current else None
            text = f"Already claimed by {blocks.mention(who)}." if who else "Too late: it moved."
            return Outcome(False, text), current
        self._kick()
        return Outcome(True), claimed

    async def mark_contacted(self, lead_id: int, user_id: str) -> Outcome:
        async def act(lead: StoredLead) -> Moved | None:
            now = self._clock()
            contacted = replace(lead, state=LeadState.CONTACTED, contacted_at=now)
            effects = [
                *self._owner_effects(lead),
                *self._events.items("lead.contacted", contacted, user_id, now),
            ]
            return await self._leads.mark_contacted(lead, user_id, now, effects)

        return await self._owner_move(Move.CONTACTED, lead_id, user_id, act)

    async def release(self, lead_id: int, user_id: str) -> Outcome:
        async def act(lead: StoredLead) -> Moved | None:
            effects = [*detach_owner_dm(lead, user_id), *self._owner_effects(lead)]
            return await self._leads.release(lead, user_id, self._clock(), effects)

        return await self._owner_move(Move.RELEASE, lead_id, user_id, act)

    async def close(self, lead_id: int, user_id: str, outcome: str) -> Outcome:
        final = outcome_state(outcome)
        if final is None:
            return Outcome(False, f"Unknown outcome {outcome!r}.")

        async def act(lead: StoredLead) -> Moved | None:
            now = self._clock()
            closed = replace(lead, state=final, closed_at=now)
            effects = [
                *self._owner_effects(lead),
                *self._events.items(f"lead.{final.value}", closed, user_id, now),
            ]
            return await self._leads.close(lead, user_id, final, now, effects)

        return await self._owner_move(Move.OUTCOME, lead_id, user_id, act)

    async def snooze(self, lead_id: int, user_id: str, until: str) -> Outcome:
        if until not in ("1h", "tomorrow"):
            return Outcome(False, f"Unknown snooze {until!r}.")
        snoozed: list[datetime] = []

        async def act(lead: StoredLead) -> Moved | None:
            now = self._clock()
            end = now + timedelta(hours=1) if until == "1h" else self._tomorrow_at_nine(lead, now)
            snoozed.append(end)
            return await self._leads.snooze(lead, user_id, end, now, ())

        outcome = await self._owner_move(Move.SNOOZE, lead_id, user_id, act)
        if not outcome.ok:
            return outcome
        return Outcome(True, f"Snoozed until {snoozed[-1]:%Y-%m-%d %H:%M %Z}.")

    def _tomorrow_at_nine(self, lead: StoredLead, now: datetime) -> datetime:
        """09:00 tomorrow in the lead channel's business-hours zone."""
        zone = channel_context(self._config, lead.route_channel).zone
        local = now.astimezone(zone)
        return datetime.combine(local.date() + timedelta(days=1), time(9), tzinfo=zone)

    # --- managers ------------------------------------------------------------------------------

    async def reassign(
        self, lead_id: int, manager_id: str, to_user: str, *, manager_checked: bool = False
    ) -> Outcome:
        for _ in range(MOVE_ATTEMPTS):  # again if the lead changed between look and move
            lead = await self._leads.get(lead_id)
            if lead is None:
                return Outcome(False, f"No lead #{lead_id}.")
            if not manager_checked and not await self._access.is_any_manager(
                manager_id, lead.route_channel
            ):
                return Outcome(False, "Only a manager can reassign leads.")
            refused = refusal(
                Move.REASSIGN, lead.state, lead.claimed_by, Actor(manager_id, is_manager=True)
            )
            if refused is not None:
                return Outcome(
                    False, f"Lead #{lead_id} is {lead.state.value}; it cannot be reassigned."
                )
            now = self._clock()
            handed = replace(lead, claimed_by=to_user, claimed_at=now)
            effects = [
                *self._handover_effects(lead, to_user),
                *self._events.items(
                    "lead.reassigned", handed, manager_id, now, {"from": lead.claimed_by}
                ),
            ]
            if await self._leads.reassign(lead, manager_id, to_user, now, effects):
                self._kick()
                return Outcome(True, f"Lead #{lead_id} reassigned to {blocks.mention(to_user)}.")
        return Outcome(False, RACED)

    async def reassign_from_command(self, user_id: str, is_manager: bool, text: str) -> str:
        """`/leads assign <lead id or email> @rep`: a manager hands a lead to a named rep."""
        words = unescape_links(text).split()
        usage = "Usage: `/leads assign <lead id or email> @rep`"
        if len(words) != 3:
            return usage
        target = parse_mention(words[2])
        if target is None or target[0] != "rep" or target[1].id is None:
            return f"{usage}: pick the rep from Slack's suggestions so the mention has an ID."
        key = words[1].removeprefix("#")
        lead = (
            await self._leads.get(int(key))
            if key.isdigit()
            else await self._leads.get_by_email(key.lower())
        )
        if lead is None:
            return f"No lead {blocks.safe(words[1], 100)}."
        if not is_manager and not await self._access.is_any_manager(user_id, lead.route_channel):
            return "Only a manager can reassign leads."
        outcome = await self.reassign(lead.id, user_id, target[1].id, manager_checked=True)
        return outcome.message or "Done."

    # --- the bot's own moves (SLA escalations, deactivated accounts) ---------------------------

    async def assign_by_system(self, lead_id: int, user_id: str, reason: str) -> bool:
        """Give an unclaimed lead to a rep (fallback assignment); False if someone claimed it."""
        lead = await self._leads.get(lead_id)
        if lead is None or refusal(Move.ASSIGN, lead.state, lead.claimed_by, Actor(SYSTEM)):
            return False
        now = self._clock()
        assigned = replace(lead, state=LeadState.CLAIMED, claimed_by=user_id, claimed_at=now)
        effects = [
            *self._handover_effects(lead, user_id),
            *self._events.items("lead.claimed", assigned, SYSTEM, now, {"reason": reason}),
        ]
        moved = await self._leads.assign(lead, user_id, reason, now, effects)
        if moved is None:
            return False
        self._kick()
        return True

    async def release_by_system(
        self, lead_id: int, reason: str, also: Sequence[NewItem] = ()
    ) -> bool:
        """Put a claimed lead back in its channel (owner deactivated, or SLA escalation);
        ``also`` are further items to queue with the move (e.g. a note in the card's thread)."""
        for _ in range(MOVE_ATTEMPTS):  # again if the owner's DM was recorded meanwhile
            lead = await self._leads.get(lead_id)
            if lead is None or lead.state not in OWNED_STATES:
                return False
            effects = [*detach_owner_dm(lead, None), *self._owner_effects(lead), *also]
            if await self._leads.release(lead, SYSTEM, self._clock(), effects, reason=reason):
                self._kick()
                return True
        return False

    # --- helpers -------------------------------------------------------------------------------

    async def _owner_move(
        self,
        move: Move,
        lead_id: int,
        user_id: str,
        act: Callable[[StoredLead], Awaitable[Moved | None]],
    ) -> Outcome:
        """Check, compute the effects and move; when the lead changed in between (a DM was
        recorded, someone else moved it), look again: the check then tells what happened."""
        for _ in range(MOVE_ATTEMPTS):
            lead, refused = await self._check(move, lead_id, user_id)
            if lead is None:
                return refused
            if await act(lead) is not None:
                self._kick()
                return Outcome(True)
        return Outcome(False, RACED)

    async def _check(
        self, move: Move, lead_id: int, user_id: str
    ) -> tuple[StoredLead, Outcome] | tuple[None, Outcome]:
        lead = await self._leads.get(lead_id)
        if lead is None:
            return None, Outcome(False, MISSING)
        refused = await self._access.refusal(move, lead, user_id)
        if refused is not None:
            return None, Outcome(False, explain(refused))
        return lead, Outcome(True)

    def _owner_effects(self, lead: StoredLead) -> list[NewItem]:
        """The cards show the new state; the owner's Home tab drops or updates the lead."""
        items = refresh_cards(lead.id)
        if lead.claimed_by:
            items.append(publish_home(lead.claimed_by, lead.id))
        return items

    def _handover_effects(self, lead: StoredLead, to_user: str) -> list[NewItem]:
        """A lead given to ``to_user``: the previous owner's DM detached, the new owner's DM."""
        items: list[NewItem] = []
        previous = lead.claimed_by if lead.state in OWNED_STATES else None
        if previous and previous != to_user:
            items += detach_owner_dm(lead, None, to_user)
        items += refresh_cards(lead.id)
        items.append(post_owner_dm(lead.id, lead.cycle, to_user))
        if previous and previous != to_user:
            items.append(publish_home(previous, lead.id))
        items.append(publish_home(to_user, lead.id))
        return items
