"""Leads, their events, score snapshots and the audit trail of every transition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.domain.leads import EngagementEvent, LeadProfile, LeadState, StoredLead
from bot.scoring.result import Score
from bot.storage.models import Event, Lead, ScoreSnapshot, Transition

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


def _merge(row: Lead, profile: LeadProfile) -> dict[str, tuple[Any, Any]]:
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


@dataclass(frozen=True)
class ClaimAttempt:
    moved: tuple[StoredLead, StoredLead] | None  # (before, after) when the claim won
    over_limit: str | None = None  # "open" or "day" when a limit refused it
    count: int = 0  # the count that hit the limit


class LeadStore:
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
            changes = _merge(row, profile)
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

    async def move(
        self,
        lead_id: int,
        allowed_from: frozenset[LeadState],
        to_state: LeadState,
        actor: str,
        action: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
        **updates: Any,
    ) -> tuple[StoredLead, StoredLead] | None:
        """Move a lead between states exactly once: one conditional UPDATE on the state and owner
        we read, so of two concurrent moves only one succeeds. Returns (before, after), or None
        when the lead is not in an allowed state or someone else moved it first."""
        row = await Lead.get_or_none(id=lead_id)
        if row is None or LeadState(row.state) not in allowed_from:
            return None
        before = to_stored_lead(row)
        moved = await Lead.filter(id=lead_id, state=row.state, claimed_by=row.claimed_by).update(
            state=to_state.value, updated_at=now, **updates
        )
        if not moved:
            return None
        await Transition.create(
            lead_id=lead_id,
            actor=actor,
            action=action,
            from_state=row.state,
            to_state=to_state.value,
            detail=detail or {},
            at=now,
        )
        after = await Lead.get(id=lead_id)
        return before, to_stored_lead(after)

    async def claim(
        self,
        lead_id: int,
        user_id: str,
        now: datetime,
        *,
        max_open: int | None,
        max_per_day: int | None,
    ) -> ClaimAttempt:
        """Claim a routed lead for ``user_id`` unless that breaks their limits.

        Without limits this is the plain compare-and-set. With limits, the count and the claim
        happen in one transaction that holds a per-rep lock (an advisory lock on PostgreSQL;
        SQLite runs one transaction at a time), so a rep clicking several cards at once cannot
        slip past the limit.
        """
        claim: dict[str, Any] = {"claimed_by": user_id, "claimed_at": now}
        routed = frozenset({LeadState.ROUTED})
        if max_open is None and max_per_day is None:
            moved = await self.move(
                lead_id, routed, LeadState.CLAIMED, user_id, "claimed", now, **claim
            )
            return ClaimAttempt(moved)
        async with in_transaction() as conn:
            if conn.capabilities.dialect == "postgres":
                await conn.execute_query(
                    "SELECT pg_advisory_xact_lock(hashtext($1))", [f"claims:{user_id}"]
                )
            if max_open is not None:
                held = await self.count_open_claims(user_id)
                if held >= max_open:
                    return ClaimAttempt(None, "open", held)
            if max_per_day is not None:
                today = await self.count_claims_since(user_id, now - timedelta(days=1))
                if today >= max_per_day:
                    return ClaimAttempt(None, "day", today)
            moved = await self.move(
                lead_id, routed, LeadState.CLAIMED, user_id, "claimed", now, **claim
            )
            return ClaimAttempt(moved)

    async def update_fields(
        self,
        lead_id: int,
        actor: str,
        action: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
        **updates: Any,
    ) -> None:
        """Change fields without a state change (e.g. a snooze), keeping the audit trail."""
        row = await Lead.get(id=lead_id)
        await Lead.filter(id=lead_id).update(updated_at=now, **updates)
        await Transition.create(
            lead_id=lead_id,
            actor=actor,
            action=action,
            from_state=row.state,
            to_state=row.state,
            detail=detail or {},
            at=now,
        )

    async def set_offer_dm(self, lead_id: int, channel: str, ts: str) -> None:
        await Lead.filter(id=lead_id).update(offer_channel=channel, offer_ts=ts)

    async def set_owner_dm(self, lead_id: int, channel: str, ts: str) -> None:
        await Lead.filter(id=lead_id).update(dm_channel=channel, dm_ts=ts)

    async def set_card(self, lead_id: int, channel: str, ts: str) -> None:
        await Lead.filter(id=lead_id).update(card_channel=channel, card_ts=ts)

    async def latest_event(self, lead_id: int) -> EngagementEvent | None:
        row = await Event.filter(lead_id=lead_id).order_by("-occurred_at", "-id").first()
        return None if row is None else EngagementEvent(row.type, row.occurred_at, row.properties)

    async def count_open_claims(self, user_id: str) -> int:
        return await Lead.filter(claimed_by=user_id, state=LeadState.CLAIMED.value).count()

    async def count_claims_since(self, user_id: str, since: datetime) -> int:
        return await Transition.filter(actor=user_id, action="claimed", at__gte=since).count()

    async def list_owned(self, user_id: str, limit: int = 200) -> list[StoredLead]:
        rows = (
            await Lead.filter(
                claimed_by=user_id,
                state__in=[LeadState.CLAIMED.value, LeadState.CONTACTED.value],
            )
            .order_by("claimed_at", "id")
            .limit(limit)
        )
        return [to_stored_lead(r) for r in rows]

    async def list_account_claims(
        self, domain: str, since: datetime, exclude_lead_id: int
    ) -> list[StoredLead]:
        """Leads from the same email domain that a rep claimed since ``since``."""
        rows = (
            await Lead.filter(email_domain=domain, claimed_by__isnull=False, claimed_at__gte=since)
            .exclude(id=exclude_lead_id)
            .order_by("-claimed_at")
            .limit(20)
        )
        return [to_stored_lead(r) for r in rows]
