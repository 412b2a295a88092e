"""Hand-off use-cases: route a hot lead, claim, return, release, contact, close, reassign.

Every state change is one compare-and-set in storage; every Slack effect is an outbox row, so a
click is answered at once and nothing is lost if Slack is slow or down.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.clock import Clock
from bot.config import HandoffConfig
from bot.domain.leads import FINAL_STATES, LeadState, StoredLead
from bot.domain.report_query import parse_mention, unescape_links
from bot.domain.routing import AccountOwner, route_lead
from bot.outbox import CARD, SLACK
from bot.scoring.result import Reason, Score
from bot.slack import blocks
from bot.storage.leads import LeadStore
from bot.storage.outbox import NewItem, OutboxStore
from bot.storage.reps import RepStore

log = logging.getLogger(__name__)

# (event type, lead after the move, actor, now, detail) -> outbox items (events, CRM write-back);
# see bot.services.lifecycle.build_lifecycle_items.
LifecycleBuilder = Callable[[str, StoredLead, str, datetime, dict[str, Any]], list[NewItem]]
OUTCOME_EVENTS = {
    "contacted": "lead.contacted",
    "won": "lead.won",
    "lost": "lead.lost",
    "disqualified": "lead.disqualified",
}

OWNED = frozenset({LeadState.CLAIMED, LeadState.CONTACTED})
RETURNABLE = frozenset({LeadState.HOT, LeadState.ROUTED, LeadState.CLAIMED, LeadState.CONTACTED})


@dataclass(frozen=True)
class Outcome:
    """What the clicking user is told. ``ok`` False means nothing changed."""

    ok: bool
    message: str | None = None


def _score_of(lead: StoredLead) -> Score:
    reasons = tuple(Reason(int(p), str(t), str(g)) for p, t, g in lead.reasons)
    return Score(lead.score, lead.grade, reasons)


class HandoffService:
    def __init__(
        self,
        leads: LeadStore,
        outbox: OutboxStore,
        config: HandoffConfig,
        clock: Clock,
        kick_outbox: Callable[[], None] = lambda: None,
        free_mail_domains: Collection[str] = (),
        reps: RepStore | None = None,
    ) -> None:
        self._leads = leads
        self._outbox = outbox
        self._config = config
        self._clock = clock
        self._kick = kick_outbox
        self._free_mail = frozenset(free_mail_domains)
        self._reps = reps or RepStore()
        self._manager_group: Callable[[], Awaitable[frozenset[str]]] | None = None
        self._lifecycle: LifecycleBuilder | None = None

    def set_lifecycle(self, build: LifecycleBuilder) -> None:
        self._lifecycle = build

    def lifecycle_items(
        self,
        event_type: str,
        lead: StoredLead,
        actor: str,
        detail: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> list[NewItem]:
        """Lifecycle events and CRM write-back a move causes, to queue with the move."""
        if self._lifecycle is None:
            return []
        return self._lifecycle(event_type, lead, actor, at or self._clock(), detail or {})

    async def _emit(
        self,
        event_type: str,
        lead: StoredLead,
        actor: str,
        detail: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> None:
        for item in self.lifecycle_items(event_type, lead, actor, detail, at):
            await self._enqueue(item)

    async def announce_hot(self, lead_id: int) -> None:
        """`lead.hot`, once per time the lead turned hot (its id is keyed on `hot_at`)."""
        lead = await self._leads.get(lead_id)
        if lead is not None and lead.state == LeadState.HOT and lead.hot_at is not None:
            await self._emit("lead.hot", lead, "system", {"score": lead.score}, at=lead.hot_at)

    def set_kick(self, kick_outbox: Callable[[], None]) -> None:
        self._kick = kick_outbox

    # --- who may do what -----------------------------------------------------------------------

    def is_manager(self, user_id: str, channel: str | None = None) -> bool:
        """Global managers manage everything; a channel's manager manages that channel (and,
        asked without a channel, counts as a manager)."""
        if user_id in self._config.managers:
            return True
        if channel is None:
            return any(c.manager == user_id for c in self._config.channels.values())
        channel_config = self._config.channels.get(channel)
        return channel_config is not None and channel_config.manager == user_id

    async def is_any_manager(self, user_id: str, channel: str | None = None) -> bool:
        """`is_manager`, or a member of the `manager_group` Slack user group."""
        if self.is_manager(user_id, channel):
            return True
        return self._manager_group is not None and user_id in await self._manager_group()

    def set_manager_group(self, members: Callable[[], Awaitable[frozenset[str]]]) -> None:
        self._manager_group = members

    async def _may_act(self, lead: StoredLead, user_id: str) -> bool:
        """Only the claimer or a manager may act on a claimed lead."""
        if lead.state in OWNED and lead.claimed_by != user_id:
            return await self.is_any_manager(user_id, lead.route_channel)
        return True

    # --- routing -------------------------------------------------------------------------------

    async def route_hot(self, lead_id: int) -> bool:
        """Decide the channel for a hot lead and queue its card, exactly once per hand-off."""
        now = self._clock()
        lead = await self._leads.get(lead_id)
        if lead is None or lead.state != LeadState.HOT:
            return False
        window = self._config.routing.account_ownership.window
        claims = await self._leads.list_account_claims(
            lead.profile.email_domain, now - window, lead.id
        )
        away = await self._reps.list_unavailable(
            {c.claimed_by for c in claims if c.claimed_by}, now
        )
        owners = [
            AccountOwner(
                domain=c.profile.email_domain,
                rep_user_id=c.claimed_by,
                claimed_at=c.claimed_at or now,
                still_open=c.state in OWNED,
            )
            for c in claims
            if c.claimed_by and c.claimed_by not in away  # no offers to paused or gone reps
        ]
        decision = route_lead(
            lead.profile, lead.score, lead.grade, self._config.routing, owners, now, self._free_mail
        )
        moved = await self._leads.move(
            lead_id,
            frozenset({LeadState.HOT}),
            LeadState.ROUTED,
            "system",
            "routed",
            now,
            detail={"channel": decision.channel, "rule": decision.rule_name},
            routed_at=now,
            route_channel=decision.channel,
            route_rule=decision.rule_name,
            route_reason=decision.reason,
            offered_to=decision.owner_user_id,
            cycle=lead.cycle + 1,
            card_channel=None,
            card_ts=None,
            offer_channel=None,
            offer_ts=None,
            claimed_by=None,
            claimed_at=None,
            contacted_at=None,
            snoozed_until=None,
        )
        if moved is None:
            return False
        await self._emit("lead.routed", moved[1], "system", {"rule": decision.rule_name})
        cycle = lead.cycle + 1
        await self._enqueue(
            NewItem(CARD, "chat.postMessage", {}, lead_id, dedupe_key=f"card:{lead_id}:{cycle}")
        )
        if decision.owner_user_id:
            # The card again, by DM to the account's owner; updated with the channel's card.
            await self._enqueue(
                NewItem(
                    CARD,
                    "chat.postMessage",
                    {"offer_to": decision.owner_user_id},
                    lead_id,
                    dedupe_key=f"offer:{lead_id}:{cycle}",
                )
            )
        return True

    async def route_all_hot(self) -> int:
        routed = 0
        for lead in await self._leads.list_by_state([LeadState.HOT]):
            if await self.route_hot(lead.id):
                routed += 1
        return routed

    # --- clicks --------------------------------------------------------------------------------

    async def claim(self, lead_id: int, user_id: str) -> Outcome:
        now = self._clock()
        lead = await self._leads.get(lead_id)
        if lead is None:
            return Outcome(False, "This lead no longer exists.")
        if lead.state in OWNED:
            return Outcome(False, f"Already claimed by {blocks.mention(lead.claimed_by or '')}.")
        if lead.state != LeadState.ROUTED:
            return Outcome(False, f"This lead is {lead.state.value}; it cannot be claimed.")
        limits = self._config.claims
        attempt = await self._leads.claim(
            lead_id,
            user_id,
            now,
            max_open=limits.max_open_claims,
            max_per_day=limits.max_claims_per_day,
        )
        if attempt.over_limit == "open":
            return Outcome(
                False,
                f"You already hold {attempt.count} untouched leads (limit "
                f"{limits.max_open_claims}). Contact or release one first.",
            )
        if attempt.over_limit == "day":
            return Outcome(
                False,
                f"You claimed {attempt.count} leads in the last 24 h (limit "
                f"{limits.max_claims_per_day}). Leave this one for a teammate.",
            )
        moved = attempt.moved
        if moved is None:
            current = await self._leads.get(lead_id)
            who = current.claimed_by if current else None
            text = f"Already claimed by {blocks.mention(who)}." if who else "Too late: it moved."
            return Outcome(False, text)
        _, after = moved
        await self._emit("lead.claimed", after, user_id)
        await self._refresh_card(lead_id)
        await self._send_owner_dm(lead_id, user_id, after.cycle)
        await self._publish_home(user_id, lead_id)
        return Outcome(True)

    async def may_return(self, lead_id: int, user_id: str) -> Outcome:
        """Checked before opening the "Not ready" modal."""
        lead = await self._leads.get(lead_id)
        if lead is None or lead.state not in RETURNABLE:
            return Outcome(False, "This lead is no longer open.")
        if not await self._may_act(lead, user_id):
            return Outcome(
                False,
                f"Only {blocks.mention(lead.claimed_by or '')} or a manager can return this lead.",
            )
        return Outcome(True, blocks.lead_title(lead.profile, lead.id))

    async def return_lead(
        self,
        lead_id: int,
        user_id: str,
        reason: str,
        note: str | None,
        recontact_after: date | None,
    ) -> Outcome:
        now = self._clock()
        allowed = await self.may_return(lead_id, user_id)
        if not allowed.ok:
            return allowed
        allowed_lead = await self._leads.get(lead_id)
        recontact = (
            datetime.combine(recontact_after, time(9), tzinfo=self._zone_of(allowed_lead))
            if recontact_after and allowed_lead
            else None
        )
        moved = await self._leads.move(
            lead_id,
            RETURNABLE,
            LeadState.NURTURING,
            user_id,
            "returned",
            now,
            detail={"reason": reason, "note": note, "recontact_after": str(recontact_after or "")},
            returned_at=now,
            returned_by=user_id,
            return_reason=reason,
            return_note=note,
            recontact_after=recontact,
            cooldown_until=now + self._config.returns.cooldown,
            claimed_by=None,
        )
        if moved is None:
            return Outcome(False, "Someone acted on this lead first; nothing changed.")
        before, after = moved
        await self._refresh_card(lead_id)
        card = self._card(after, None)
        marketing = self._config.marketing
        if marketing.channel:
            message = blocks.build_marketing_return_message(
                card, reason, note, recontact_after, user_id
            )
            await self._enqueue(
                NewItem(
                    SLACK, "chat.postMessage", {"channel": marketing.channel, **message}, lead_id
                )
            )
        # marketing.webhook_url is a subscription to lead.returned (bot.services.lifecycle).
        await self._emit("lead.returned", after, user_id)
        if before.claimed_by:
            await self._publish_home(before.claimed_by, lead_id)
        return Outcome(True)

    async def mark_contacted(self, lead_id: int, user_id: str) -> Outcome:
        return await self._owner_move(
            lead_id,
            user_id,
            frozenset({LeadState.CLAIMED}),
            LeadState.CONTACTED,
            "contacted",
            contacted_at=self._clock(),
        )

    async def release(self, lead_id: int, user_id: str) -> Outcome:
        lead = await self._leads.get(lead_id)
        cycle = (lead.cycle if lead else 0) + 1
        return await self._owner_move(
            lead_id,
            user_id,
            OWNED,
            LeadState.ROUTED,
            "released",
            claimed_by=None,
            claimed_at=None,
            snoozed_until=None,
            cycle=cycle,
            routed_at=self._clock(),
        )

    async def close(self, lead_id: int, user_id: str, outcome: str) -> Outcome:
        try:
            final = LeadState(outcome)
        except ValueError:
            return Outcome(False, f"Unknown outcome {outcome!r}.")
        if final not in FINAL_STATES:
            return Outcome(False, f"Unknown outcome {outcome!r}.")
        return await self._owner_move(
            lead_id, user_id, OWNED, final, final.value, closed_at=self._clock()
        )

    async def snooze(self, lead_id: int, user_id: str, until: str) -> Outcome:
        now = self._clock()
        lead = await self._leads.get(lead_id)
        if lead is None or lead.state not in OWNED:
            return Outcome(False, "Only a claimed lead can be snoozed.")
        if not await self._may_act(lead, user_id):
            return Outcome(False, self._not_yours(lead))
        if until == "1h":
            snoozed_until = now + timedelta(hours=1)
        elif until == "tomorrow":
            snoozed_until = self._tomorrow_at_nine(lead, now)
        else:
            return Outcome(False, f"Unknown snooze {until!r}.")
        await self._leads.update_fields(
            lead_id,
            user_id,
            "snoozed",
            now,
            detail={"until": snoozed_until.isoformat()},
            snoozed_until=snoozed_until,
        )
        return Outcome(True, f"Snoozed until {snoozed_until:%Y-%m-%d %H:%M %Z}.")

    def _zone_of(self, lead: StoredLead) -> ZoneInfo:
        """The lead channel's business-hours zone (UTC when none is set)."""
        channel = self._config.channels.get(lead.route_channel or "")
        hours = (channel.business_hours if channel else None) or self._config.business_hours
        return ZoneInfo(hours.timezone) if hours and hours.timezone else ZoneInfo("UTC")

    def _tomorrow_at_nine(self, lead: StoredLead, now: datetime) -> datetime:
        """09:00 tomorrow in the lead channel's business-hours zone."""
        zone = self._zone_of(lead)
        local = now.astimezone(zone)
        return datetime.combine(local.date() + timedelta(days=1), time(9), tzinfo=zone)

    async def reassign(
        self, lead_id: int, manager_id: str, to_user: str, *, manager_checked: bool = False
    ) -> Outcome:
        now = self._clock()
        lead = await self._leads.get(lead_id)
        if lead is None:
            return Outcome(False, f"No lead #{lead_id}.")
        if not manager_checked and not await self.is_any_manager(manager_id, lead.route_channel):
            return Outcome(False, "Only a manager can reassign leads.")
        allowed = frozenset({LeadState.ROUTED, LeadState.CLAIMED, LeadState.CONTACTED})
        state = lead.state if lead.state in OWNED else LeadState.CLAIMED
        moved = await self._leads.move(
            lead_id,
            allowed,
            state,
            manager_id,
            "reassigned",
            now,
            detail={"from": lead.claimed_by, "to": to_user},
            claimed_by=to_user,
            claimed_at=now,
        )
        if moved is None:
            return Outcome(
                False, f"Lead #{lead_id} is {lead.state.value}; it cannot be reassigned."
            )
        _, after = moved
        await self._emit("lead.reassigned", after, manager_id, {"from": lead.claimed_by})
        await self._refresh_card(lead_id)
        await self._send_owner_dm(lead_id, to_user, after.cycle)
        if lead.claimed_by and lead.claimed_by != to_user:
            await self._publish_home(lead.claimed_by, lead_id)
        await self._publish_home(to_user, lead_id)
        return Outcome(True, f"Lead #{lead_id} reassigned to {blocks.mention(to_user)}.")

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
        if not is_manager and not await self.is_any_manager(user_id, lead.route_channel):
            return "Only a manager can reassign leads."
        outcome = await self.reassign(lead.id, user_id, target[1].id, manager_checked=True)
        return outcome.message or "Done."

    async def assign_by_system(self, lead_id: int, user_id: str, reason: str) -> bool:
        """Give an unclaimed lead to a rep (fallback assignment); False if someone claimed it."""
        now = self._clock()
        moved = await self._leads.move(
            lead_id,
            frozenset({LeadState.ROUTED}),
            LeadState.CLAIMED,
            "system",
            "assigned",
            now,
            detail={"to": user_id, "reason": reason},
            claimed_by=user_id,
            claimed_at=now,
        )
        if moved is None:
            return False
        _, after = moved
        await self._emit("lead.claimed", after, "system", {"reason": reason})
        await self._refresh_card(lead_id)
        await self._send_owner_dm(lead_id, user_id, after.cycle)
        await self._publish_home(user_id, lead_id)
        return True

    async def release_by_system(self, lead_id: int, reason: str) -> bool:
        """Put a claimed lead back in its channel (owner deactivated, or SLA escalation)."""
        lead = await self._leads.get(lead_id)
        if lead is None or lead.state not in OWNED:
            return False
        moved = await self._leads.move(
            lead_id,
            OWNED,
            LeadState.ROUTED,
            "system",
            "released",
            self._clock(),
            detail={"reason": reason, "from": lead.claimed_by},
            claimed_by=None,
            claimed_at=None,
            snoozed_until=None,
            cycle=lead.cycle + 1,
            routed_at=self._clock(),
        )
        if moved is None:
            return False
        await self._refresh_card(lead_id)
        if lead.claimed_by:
            await self._publish_home(lead.claimed_by, lead_id)
        return True

    async def _owner_move(
        self,
        lead_id: int,
        user_id: str,
        allowed: frozenset[LeadState],
        to_state: LeadState,
        action: str,
        **updates: Any,
    ) -> Outcome:
        lead = await self._leads.get(lead_id)
        if lead is None:
            return Outcome(False, "This lead no longer exists.")
        if not await self._may_act(lead, user_id):
            return Outcome(False, self._not_yours(lead))
        if lead.state not in allowed:
            return Outcome(False, f"This lead is {lead.state.value}; nothing changed.")
        moved = await self._leads.move(
            lead_id, allowed, to_state, user_id, action, self._clock(), **updates
        )
        if moved is None:
            return Outcome(False, "Someone acted on this lead first; nothing changed.")
        if action in OUTCOME_EVENTS:
            await self._emit(OUTCOME_EVENTS[action], moved[1], user_id)
        await self._refresh_card(lead_id)
        if lead.claimed_by:
            await self._publish_home(lead.claimed_by, lead_id)
        return Outcome(True)

    def _not_yours(self, lead: StoredLead) -> str:
        return (
            f"This lead is claimed by {blocks.mention(lead.claimed_by or '')}; only they or a "
            "manager can act on it."
        )

    # --- rendering for the outbox (at send time, from the current state) ----------------------

    def _card(self, lead: StoredLead, latest_event: Any) -> blocks.LeadCard:
        return blocks.LeadCard(
            lead_id=lead.id,
            profile=lead.profile,
            score=_score_of(lead),
            latest_event=latest_event,
            arrived_at=lead.routed_at or lead.created_at,
            state=lead.state,
            claimed_by=lead.claimed_by,
            claimed_at=lead.claimed_at,
            returned_reason=lead.return_reason if lead.state == LeadState.NURTURING else None,
            returned_by=lead.returned_by if lead.state == LeadState.NURTURING else None,
            route_reason=lead.route_reason,
        )

    async def render_card_call(
        self, lead_id: int, method: str, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        lead = await self._leads.get(lead_id)
        if lead is None:
            return None
        card = self._card(lead, await self._leads.latest_event(lead_id))
        if "dm_to" in payload:  # the owner's DM: full lead, owner buttons, kept up to date
            dm = blocks.build_claim_dm(card, self._clock())
            if method == "chat.postMessage":
                if lead.claimed_by != payload["dm_to"]:
                    return None  # reassigned or released before the DM went out
                return {"channel": payload["dm_to"], "unfurl_links": False, **dm}
            if not lead.dm_channel or not lead.dm_ts:
                return None
            return {"channel": lead.dm_channel, "ts": lead.dm_ts, **dm}
        message = blocks.build_lead_card(card, self._clock())
        if "offer_to" in payload:
            if method == "chat.postMessage":
                return {"channel": payload["offer_to"], "unfurl_links": False, **message}
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
        if "dm_to" in payload:
            await self._leads.set_owner_dm(lead_id, channel, ts)
        elif "offer_to" in payload:
            await self._leads.set_offer_dm(lead_id, channel, ts)
        else:
            await self._leads.set_card(lead_id, channel, ts)

    async def render_home_call(self, user_id: str) -> dict[str, Any]:
        now = self._clock()
        owned = await self._leads.list_owned(user_id)
        cards = [self._card(lead, await self._leads.latest_event(lead.id)) for lead in owned]
        paused_until = await self._reps.get_paused_until(user_id, now)
        return {"user_id": user_id, "view": blocks.build_app_home(cards, now, paused_until)}

    async def publish_home(self, user_id: str) -> None:
        await self._publish_home(user_id, None)

    # --- outbox --------------------------------------------------------------------------------

    async def _refresh_card(self, lead_id: int) -> None:
        """The channel card and the owner's DM both show the lead as it is now."""
        await self._enqueue(NewItem(CARD, "chat.update", {}, lead_id))
        await self._enqueue(NewItem(CARD, "chat.update", {"dm_to": "owner"}, lead_id))
        await self._enqueue(NewItem(CARD, "chat.update", {"offer_to": "owner"}, lead_id))

    async def _send_owner_dm(self, lead_id: int, user_id: str, cycle: int) -> None:
        await self._enqueue(
            NewItem(
                CARD,
                "chat.postMessage",
                {"dm_to": user_id},
                lead_id,
                dedupe_key=f"owner-dm:{lead_id}:{cycle}:{user_id}",
            )
        )

    async def _publish_home(self, user_id: str, lead_id: int | None) -> None:
        await self._enqueue(NewItem(CARD, "views.publish", {"user_id": user_id}, lead_id))

    async def _enqueue(self, item: NewItem) -> None:
        if await self._outbox.enqueue(item, self._clock()):
            self._kick()
