"""Leads, their events, score snapshots and the audit trail of every transition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, fields
from datetime import datetime
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
                    await row.save()
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
    ) -> None:
        await Event.create(
            lead_id=lead_id,
            type=event.type,
            occurred_at=event.occurred_at,
            properties=event.properties,
            delivery_id=delivery_id,
            created_at=now,
        )

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

    async def list_transitions(self, lead_id: int) -> list[dict[str, Any]]:
        rows = await Transition.filter(lead_id=lead_id).order_by("at", "id")
        return [
            {
                "actor": r.actor,
                "action": r.action,
                "from_state": r.from_state,
                "to_state": r.to_state,
                "detail": r.detail,
                "at": r.at,
            }
            for r in rows
        ]

    async def list_score_history(self, lead_id: int) -> list[tuple[datetime, int, str]]:
        rows = await ScoreSnapshot.filter(lead_id=lead_id).order_by("created_at", "id")
        return [(r.created_at, r.points, r.trigger) for r in rows]

    async def list_by_state(
        self, states: Sequence[LeadState], limit: int = 500
    ) -> list[StoredLead]:
        rows = await Lead.filter(state__in=[s.value for s in states]).order_by("id").limit(limit)
        return [to_stored_lead(r) for r in rows]
