"""Leads, their events, score snapshots and the audit trail of every transition.

Every lifecycle move (`route`, `claim`, `release`, `return_to_marketing`, ...) is ONE
transaction: a compare-and-set on the state, owner and cycle the caller read (under a row lock on
PostgreSQL; SQLite runs one transaction at a time), its Transition row, and every outbox row the
move causes (``effects``). A crash or a lost connection at any point leaves either all of it or
none of it; the caller queues nothing itself and kicks the outbox worker after the commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.domain.leads import EngagementEvent, LeadProfile, LeadState, StoredLead
from bot.domain.lifecycle import MOVES, OWNED_STATES, SYSTEM, Move, state_after
from bot.faults import Faults
from bot.scoring.result import Score
from bot.storage.models import Event, Lead, OutboxItem, ScoreSnapshot, Transition
from bot.storage.outbox import NewItem, priority_of

PROFILE_FIELDS = tuple(f.name for f in fields(LeadProfile))
_STORED_EXTRA = tuple(
    f.name for f in fields(StoredLead) if f.name not in {"id", "profile", "state", "reasons"}
)


def to_stored_lead(row: Lead) -> StoredLead:
    profile = LeadProfile(**{name: getattr(row, name) for name in PROFILE_FIELDS})
    values: dict[str, Any] = {name: getattr(row, name) for name in _STORED_EXTRA}
    values["state"] = LeadState(row.state)
    values["reasons"] = tuple(tuple(r) for r in row.score_reasons)
    return StoredLead(id=row.id, profile=profile, **values)


def merge_profile(row: Lead, profile: LeadProfile) -> dict[str, tuple[Any, Any]]:
    """Newer non-empty values win; empty ones never erase what we knew. Returns the changes."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name in PROFILE_FIELDS:
        new = getattr(profile, name)
        old = getattr(row, name)
        if name in {"utm", "custom"}:
            merged = {**(old or {}), **new}
            if merged != old:
                changes[name] = (old, merged)
                setattr(row, name, merged)
        elif new not in (None, "") and new != old:
            changes[name] = (old, new)
            setattr(row, name, new)
    return changes


async def queue_effects(conn: BaseDBAsyncClient, items: Sequence[NewItem], now: datetime) -> int:
    """Insert outbox rows inside the caller's transaction; an item whose ``dedupe_key`` exists
    is skipped. The check runs under the lead's row lock, so it cannot race another move of the
    same lead; a savepoint keeps any other duplicate from aborting the transaction on
    PostgreSQL. Returns how many rows were inserted."""
    queued = 0
    for item in items:
        key = item.dedupe_key
        if key is not None and await OutboxItem.filter(dedupe_key=key).using_db(conn).exists():
            continue
        try:
            async with in_transaction() as savepoint:
                await OutboxItem.create(
                    kind=item.kind,
                    method=item.method,
                    payload=item.payload,
                    priority=priority_of(item),
                    lead_id=item.lead_id,
                    dedupe_key=item.dedupe_key,
                    next_attempt_at=now,
                    created_at=now,
                    using_db=savepoint,
                )
        except IntegrityError:
            continue
        queued += 1
    return queued


@dataclass(frozen=True)
class Moved:
    before: StoredLead
    after: StoredLead


@dataclass(frozen=True)
class Routing:
    """Where a hot lead goes and what that queues (decided by the routing service)."""

    effects: Sequence[NewItem]
    channel: str
    rule: str | None
    reason: str | None
    offered_to: str | None


# Decides a hot lead's routing from the account's recent claims (it may read more, e.g. which
# of those reps are away); runs inside the routing transaction.
RoutePlan = Callable[[list[StoredLead]], Awaitable[Routing]]


@dataclass(frozen=True)
class ClaimAttempt:
    moved: Moved | None  # when the claim won
    over_limit: str | None = None  # "open" or "day" when a limit refused it
    count: int = 0  # the count that hit the limit


class LeadStore:
    def __init__(self, faults: Faults | None = None) -> None:
        self._faults = faults or Faults()

    async def upsert(
        self, profile: LeadProfile, actor: str, now: datetime
    ) -> tuple[StoredLead, bool]:
        """One lead per email: create it, or merge the new fields into it (history kept)."""
        for _ in range(2):  # a concurrent insert of the same email loses once, then merges
            row = await Lead.get_or_none(email=profile.email)
            if row is None:
                try:
                    async with in_transaction():
                        row = await Lead.create(
                            **asdict(profile),
                            email_domain=profile.email_domain,
                            campaign=profile.utm.get("campaign"),
                            state=LeadState.NURTURING.value,
                            created_at=now,
                            updated_at=now,
                        )
                        await Transition.create(
                            lead=row,
                            actor=actor,
                            action="created",
                            from_state=None,
                            to_state=row.state,
                            detail={},
                            at=now,
                        )
                    return to_stored_lead(row), True
                except IntegrityError:
                    continue
            changes = merge_profile(row, profile)
            row.campaign = (row.utm or {}).get("campaign")
            if changes:
                row.updated_at = now
                async with in_transaction():
                    # Only the profile columns: a full save would write back the state and
                    # owner we read, undoing a claim that landed in between.
                    await row.save(update_fields=[*changes, "campaign", "updated_at"])
                    await Transition.create(
                        lead=row,
                        actor=actor,
                        action="profile_updated",
                        from_state=row.state,
                        to_state=row.state,
                        detail={k: {"from": old, "to": new} for k, (old, new) in changes.items()},
                        at=now,
                    )
            return to_stored_lead(row), False
        raise RuntimeError(f"could not upsert lead {profile.email}")

    async def add_event(
        self, lead_id: int, event: EngagementEvent, delivery_id: int | None, now: datetime
    ) -> bool:
        """Store an event once per delivery; False when a retried delivery had stored it."""
        try:
            await Event.create(
                lead_id=lead_id,
                type=event.type,
                occurred_at=event.occurred_at,
                properties=event.properties,
                delivery_id=delivery_id,
                created_at=now,
            )
        except IntegrityError:
            return False
        return True

    async def list_events(self, lead_id: int, since: datetime) -> list[EngagementEvent]:
        rows = await Event.filter(lead_id=lead_id, occurred_at__gte=since).order_by("occurred_at")
        return [EngagementEvent(r.type, r.occurred_at, r.properties) for r in rows]

    async def get(self, lead_id: int) -> StoredLead | None:
        row = await Lead.get_or_none(id=lead_id)
        return None if row is None else to_stored_lead(row)

    async def get_by_email(self, email: str) -> StoredLead | None:
        row = await Lead.get_or_none(email=email)
        return None if row is None else to_stored_lead(row)

    async def save_score(
        self,
        lead_id: int,
        score: Score,
        trigger: str,
        expected_state: LeadState,
        new_state: LeadState,
        actor: str,
        now: datetime,
    ) -> bool:
        """Record a score and, if the lead is still in ``expected_state``, its new state.

        The state change is a compare-and-set, so a claim that lands between scoring and saving
        is never overwritten. Returns whether the state moved.
        """
        reasons = [[r.points, r.text, r.group] for r in score.reasons]
        async with in_transaction():
            await ScoreSnapshot.create(
                lead_id=lead_id,
                points=score.points,
                grade=score.grade,
                reasons=reasons,
                trigger=trigger,
                created_at=now,
            )
            await Lead.filter(id=lead_id).update(
                score=score.points,
                grade=score.grade,
                score_reasons=reasons,
                scored_at=now,
                updated_at=now,
            )
            if new_state == expected_state:
                return False
            extra: dict[str, Any] = {"hot_at": now} if new_state == LeadState.HOT else {}
            moved = await Lead.filter(id=lead_id, state=expected_state.value).update(
                state=new_state.value, **extra
            )
            if moved:
                await Transition.create(
                    lead_id=lead_id,
                    actor=actor,
                    action="scored",
                    from_state=expected_state.value,
                    to_state=new_state.value,
                    detail={"score": score.points, "trigger": trigger},
                    at=now,
                )
            return moved == 1

    async def list_by_state(
        self, states: Sequence[LeadState], limit: int = 500
    ) -> list[StoredLead]:
        rows = await Lead.filter(state__in=[s.value for s in states]).order_by("id").limit(limit)
        return [to_stored_lead(r) for r in rows]

    async def _apply(
        self,
        expected: StoredLead,
        move: Move,
        actor: str,
        now: datetime,
        effects: Sequence[NewItem],
        *,
        detail: dict[str, Any] | None = None,
        to_state: LeadState | None = None,
        **updates: Any,
    ) -> Moved | None:
        async with in_transaction() as conn:
            moved = await self._apply_in(
                conn, expected, move, actor, now, effects, detail, to_state, updates
            )
        if moved is not None:
            self._faults.at(f"{move.value}.committed", expected.profile.email)
        return moved

    async def _apply_in(
        self,
        conn: BaseDBAsyncClient,
        expected: StoredLead,
        move: Move,
        actor: str,
        now: datetime,
        effects: Sequence[NewItem],
        detail: dict[str, Any] | None,
        to_state: LeadState | None,
        updates: dict[str, Any],
    ) -> Moved | None:
        rule = MOVES[move]
        row = await Lead.filter(id=expected.id).select_for_update().using_db(conn).first()
        if row is None or LeadState(row.state) not in rule.from_states:
            return None
        if (row.state, row.claimed_by, row.cycle, row.dm_ts) != (
            expected.state.value,
            expected.claimed_by,
            expected.cycle,
            expected.dm_ts,
        ):
            # Someone moved it (or its owner's DM was recorded) after the caller looked: the
            # effects the caller computed are stale. It may look again and retry.
            return None
        before = to_stored_lead(row)
        target = to_state or state_after(move, before.state)
        won = (
            await Lead.filter(
                id=row.id, state=row.state, claimed_by=row.claimed_by, cycle=row.cycle
            )
            .using_db(conn)
            .update(state=target.value, updated_at=now, **updates)
        )
        if not won:
            return None
        self._faults.at(f"{move.value}.updated", expected.profile.email)
        await Transition.create(
            lead_id=row.id,
            actor=actor,
            action=rule.action,
            from_state=row.state,
            to_state=target.value,
            detail=detail or {},
            at=now,
            using_db=conn,
        )
        self._faults.at(f"{move.value}.audited", expected.profile.email)
        await queue_effects(conn, effects, now)
        self._faults.at(f"{move.value}.queued", expected.profile.email)
        after = await Lead.get(id=row.id, using_db=conn)
        return Moved(before, to_stored_lead(after))

    async def route(
        self, lead: StoredLead, now: datetime, claims_since: datetime, plan: RoutePlan
    ) -> Moved | None:
        """A hot lead gets its channel: a new hand-off cycle with no card, owner or DM yet.
        The decision is made in the same transaction: the account's claims since
        ``claims_since`` are read, ``plan`` decides, the move is applied. One transaction, so
        routing a lead costs one commit."""
        async with in_transaction() as conn:
            claims = await self.list_account_claims(
                lead.profile.email_domain, claims_since, lead.id, conn
            )
            moved = await self._route_in(conn, lead, now, await plan(claims))
        if moved is not None:
            self._faults.at(f"{Move.ROUTE.value}.committed", lead.profile.email)
        return moved

    async def _route_in(
        self, conn: BaseDBAsyncClient, lead: StoredLead, now: datetime, routing: Routing
    ) -> Moved | None:
        updates: dict[str, Any] = {
            "routed_at": now,
            "route_channel": routing.channel,
            "route_rule": routing.rule,
            "route_reason": routing.reason,
            "offered_to": routing.offered_to,
            "cycle": lead.cycle + 1,
            "card_channel": None,
            "card_ts": None,
            "offer_channel": None,
            "offer_ts": None,
            "dm_channel": None,
            "dm_ts": None,
            "claimed_by": None,
            "claimed_at": None,
            "contacted_at": None,
            "snoozed_until": None,
        }
        detail = {"channel": routing.channel, "rule": routing.rule}
        return await self._apply_in(
            conn, lead, Move.ROUTE, SYSTEM, now, routing.effects, detail, None, updates
        )

    async def claim(
        self,
        lead: StoredLead,
        user_id: str,
        now: datetime,
        effects: Sequence[NewItem],
        *,
        max_open: int | None = None,
        max_per_day: int | None = None,
    ) -> ClaimAttempt:
        """Claim a routed lead for ``user_id`` unless that breaks their limits.

        The count and the claim happen in one transaction that holds a per-rep lock (an advisory
        lock on PostgreSQL; SQLite runs one transaction at a time), so a rep clicking several
        cards at once cannot slip past the limit.
        """
        async with in_transaction() as conn:
            if max_open is not None or max_per_day is not None:
                if conn.capabilities.dialect == "postgres":
                    await conn.execute_query(
                        "SELECT pg_advisory_xact_lock(hashtext($1))", [f"claims:{user_id}"]
                    )
                if max_open is not None:
                    held = await self.count_open_claims(user_id, conn)
                    if held >= max_open:
                        return ClaimAttempt(None, "open", held)
                if max_per_day is not None:
                    today = await self.count_claims_since(user_id, now - timedelta(days=1), conn)
                    if today >= max_per_day:
                        return ClaimAttempt(None, "day", today)
            moved = await self._apply_in(
                conn,
                lead,
                Move.CLAIM,
                user_id,
                now,
                effects,
                None,
                None,
                {"claimed_by": user_id, "claimed_at": now, "dm_channel": None, "dm_ts": None},
            )
        if moved is not None:
            self._faults.at(f"{Move.CLAIM.value}.committed", lead.profile.email)
        return ClaimAttempt(moved)

    async def mark_contacted(
        self, lead: StoredLead, actor: str, now: datetime, effects: Sequence[NewItem]
    ) -> Moved | None:
        return await self._apply(lead, Move.CONTACTED, actor, now, effects, contacted_at=now)

    async def snooze(
        self,
        lead: StoredLead,
        actor: str,
        until: datetime,
        now: datetime,
        effects: Sequence[NewItem],
    ) -> Moved | None:
        return await self._apply(
            lead,
            Move.SNOOZE,
            actor,
            now,
            effects,
            detail={"until": until.isoformat()},
            snoozed_until=until,
        )

    async def release(
        self,
        lead: StoredLead,
        actor: str,
        now: datetime,
        effects: Sequence[NewItem],
        *,
        reason: str | None = None,
    ) -> Moved | None:
        """Back to the channel for a new hand-off cycle. The old owner's DM is detached (the
        lead forgets it; ``effects`` tell the DM it was released), so nothing edits it again.
        ``reason`` set: the bot releases it (owner deactivated, not contacted within the SLA).
        """
        move = Move.RELEASE if reason is None else Move.SYSTEM_RELEASE
        detail = {} if reason is None else {"reason": reason, "from": lead.claimed_by}
        return await self._apply(
            lead,
            move,
            SYSTEM if reason is not None else actor,
            now,
            effects,
            detail=detail,
            claimed_by=None,
            claimed_at=None,
            snoozed_until=None,
            dm_channel=None,
            dm_ts=None,
            cycle=lead.cycle + 1,
            routed_at=now,
        )

    async def return_to_marketing(
        self,
        lead: StoredLead,
        actor: str,
        now: datetime,
        effects: Sequence[NewItem],
        *,
        reason: str,
        note: str | None,
        recontact_after: datetime | None,
        cooldown_until: datetime,
    ) -> Moved | None:
        return await self._apply(
            lead,
            Move.RETURN,
            actor,
            now,
            effects,
            detail={
                "reason": reason,
                "note": note,
                "recontact_after": recontact_after.date().isoformat() if recontact_after else "",
            },
            returned_at=now,
            returned_by=actor,
            return_reason=reason,
            return_note=note,
            recontact_after=recontact_after,
            cooldown_until=cooldown_until,
            claimed_by=None,
        )

    async def close(
        self,
        lead: StoredLead,
        actor: str,
        outcome: LeadState,
        now: datetime,
        effects: Sequence[NewItem],
    ) -> Moved | None:
        return await self._apply(
            lead, Move.OUTCOME, actor, now, effects, to_state=outcome, closed_at=now
        )

    async def assign(
        self,
        lead: StoredLead,
        user_id: str,
        reason: str,
        now: datetime,
        effects: Sequence[NewItem],
    ) -> Moved | None:
        """The bot gives an unclaimed lead to a rep (fallback assignment)."""
        return await self._apply(
            lead,
            Move.ASSIGN,
            SYSTEM,
            now,
            effects,
            detail={"to": user_id, "reason": reason},
            claimed_by=user_id,
            claimed_at=now,
            dm_channel=None,
            dm_ts=None,
        )

    async def reassign(
        self,
        lead: StoredLead,
        manager_id: str,
        to_user: str,
        now: datetime,
        effects: Sequence[NewItem],
    ) -> Moved | None:
        """A manager hands the lead to ``to_user``; a new owner means the old DM is detached."""
        keep_dm = lead.claimed_by == to_user and lead.state in OWNED_STATES
        dm: dict[str, Any] = {} if keep_dm else {"dm_channel": None, "dm_ts": None}
        return await self._apply(
            lead,
            Move.REASSIGN,
            manager_id,
            now,
            effects,
            detail={"from": lead.claimed_by, "to": to_user},
            claimed_by=to_user,
            claimed_at=now,
            **dm,
        )

    async def requeue(
        self, lead: StoredLead, missing: NewItem, with_it: Sequence[NewItem], now: datetime
    ) -> bool:
        """The repair sweep: queue ``missing`` (a keyed item) and ``with_it`` if the lead is still
        in this state and cycle and no item with that key exists. True when it queued them."""
        if missing.dedupe_key is None:
            raise ValueError("only keyed items can be repaired idempotently")
        async with in_transaction() as conn:
            row = await Lead.filter(id=lead.id).select_for_update().using_db(conn).first()
            if row is None or (row.state, row.cycle) != (lead.state.value, lead.cycle):
                return False
            if await OutboxItem.filter(dedupe_key=missing.dedupe_key).using_db(conn).exists():
                return False
            await queue_effects(conn, [missing, *with_it], now)
        return True

    async def list_routed_without_card(self, limit: int = 500) -> list[StoredLead]:
        rows = await Lead.filter(
            state__in=[s.value for s in MOVES[Move.CLAIM].from_states], card_ts__isnull=True
        ).limit(limit)
        return [to_stored_lead(r) for r in rows]

    async def list_owned_without_dm(self, limit: int = 500) -> list[StoredLead]:
        rows = await Lead.filter(
            state__in=[s.value for s in OWNED_STATES], dm_ts__isnull=True, claimed_by__isnull=False
        ).limit(limit)
        return [to_stored_lead(r) for r in rows]

    async def list_returned_since(self, since: datetime, limit: int = 500) -> list[StoredLead]:
        rows = await Lead.filter(state=MOVES[Move.RETURN].to_state, returned_at__gte=since).limit(
            limit
        )
        return [to_stored_lead(r) for r in rows]

    async def set_offer_dm(self, lead_id: int, channel: str, ts: str) -> None:
        await Lead.filter(id=lead_id).update(offer_channel=channel, offer_ts=ts)

    async def set_owner_dm(
        self, lead_id: int, owner: str, cycle: int, channel: str, ts: str
    ) -> bool:
        """Remember the owner's DM, only if ``owner`` still holds the lead in this cycle: a DM
        that went out while the lead was released or reassigned must not become the new
        owner's. False: the DM is stale (the caller detaches it)."""
        kept = await Lead.filter(
            id=lead_id, claimed_by=owner, cycle=cycle, state__in=[s.value for s in OWNED_STATES]
        ).update(dm_channel=channel, dm_ts=ts)
        return kept == 1

    async def set_card(self, lead_id: int, channel: str, ts: str) -> None:
        await Lead.filter(id=lead_id).update(card_channel=channel, card_ts=ts)

    async def list_with_latest_event(
        self, lead_ids: Sequence[int]
    ) -> list[tuple[StoredLead, EngagementEvent | None]]:
        """These leads (those that exist), each with its latest event: what its card shows."""
        if not lead_ids:
            return []
        rows = await Lead.filter(id__in=list(lead_ids)).order_by("id")
        return [(to_stored_lead(row), await self.latest_event(row.id)) for row in rows]

    async def latest_event(self, lead_id: int) -> EngagementEvent | None:
        row = await Event.filter(lead_id=lead_id).order_by("-occurred_at", "-id").first()
        return None if row is None else EngagementEvent(row.type, row.occurred_at, row.properties)

    async def count_open_claims(self, user_id: str, conn: BaseDBAsyncClient | None = None) -> int:
        query = Lead.filter(claimed_by=user_id, state=LeadState.CLAIMED.value)
        return await (query.using_db(conn) if conn else query).count()

    async def count_claims_since(
        self, user_id: str, since: datetime, conn: BaseDBAsyncClient | None = None
    ) -> int:
        action = MOVES[Move.CLAIM].action
        query = Transition.filter(actor=user_id, action=action, at__gte=since)
        return await (query.using_db(conn) if conn else query).count()

    async def list_owned(self, user_id: str, limit: int = 200) -> list[StoredLead]:
        rows = (
            await Lead.filter(
                claimed_by=user_id,
                state__in=[s.value for s in OWNED_STATES],
            )
            .order_by("claimed_at", "id")
            .limit(limit)
        )
        return [to_stored_lead(r) for r in rows]

    async def list_account_claims(
        self,
        domain: str,
        since: datetime,
        exclude_lead_id: int,
        conn: BaseDBAsyncClient | None = None,
    ) -> list[StoredLead]:
        """Leads from the same email domain that a rep claimed since ``since``."""
        query = (
            Lead.filter(email_domain=domain, claimed_by__isnull=False, claimed_at__gte=since)
            .exclude(id=exclude_lead_id)
            .order_by("-claimed_at")
            .limit(20)
        )
        rows = await (query.using_db(conn) if conn else query)
        return [to_stored_lead(r) for r in rows]
