"""Reps' availability (paused, deactivated), fair-assignment counters, and Slack event receipts."""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q

from bot.domain.leads import LeadState
from bot.storage.models import Lead, Rep, SlackEventReceipt


@dataclass(frozen=True)
class RepStatus:
    user_id: str
    paused_until: datetime | None
    deactivated: bool
    assigned_count: int
    open_claims: int


class RepStore:
    async def get_paused_until(self, user_id: str, now: datetime) -> datetime | None:
        """When the rep's pause ends, or None if they are not paused (an ended pause is none)."""
        row = await Rep.get_or_none(user_id=user_id)
        if row is None or row.paused_until is None or row.paused_until <= now:
            return None
        return row.paused_until

    async def list_paused(self, user_ids: Collection[str], now: datetime) -> set[str]:
        rows = await Rep.filter(user_id__in=list(user_ids), paused_until__gt=now)
        return {row.user_id for row in rows}

    async def list_unavailable(self, user_ids: Collection[str], now: datetime) -> set[str]:
        """Of these reps, those paused now or deactivated."""
        rows = await Rep.filter(user_id__in=list(user_ids)).filter(
            Q(deactivated=True) | Q(paused_until__gt=now)
        )
        return {row.user_id for row in rows}

    async def set_paused_until(self, user_id: str, until: datetime | None, now: datetime) -> None:
        await self._upsert(user_id, now, paused_until=until)

    async def set_deactivated(self, user_id: str, now: datetime) -> None:
        await self._upsert(user_id, now, deactivated=True)

    async def set_reactivated(self, user_id: str, now: datetime) -> None:
        """Only reps we know can be deactivated; other users' profile changes create no rows."""
        await Rep.filter(user_id=user_id, deactivated=True).update(
            deactivated=False, updated_at=now
        )

    async def list_status(self, user_ids: Collection[str], now: datetime) -> list[RepStatus]:
        """Every listed rep, creating missing rows with a counter at the group's current minimum.

        A newcomer starting at 0 would be far behind and take every lead until caught up; the
        minimum puts them level with the least-served rep instead.
        """
        wanted = list(dict.fromkeys(user_ids))
        rows = {row.user_id: row for row in await Rep.filter(user_id__in=wanted)}
        missing = [user_id for user_id in wanted if user_id not in rows]
        if missing:
            start = min((row.assigned_count for row in rows.values()), default=0)
            for user_id in missing:
                # Another replica may create it first; then we read theirs below.
                with contextlib.suppress(IntegrityError):
                    await Rep.create(user_id=user_id, assigned_count=start, updated_at=now)
            rows = {row.user_id: row for row in await Rep.filter(user_id__in=wanted)}
        return [
            RepStatus(
                user_id=user_id,
                paused_until=rows[user_id].paused_until,
                deactivated=rows[user_id].deactivated,
                assigned_count=rows[user_id].assigned_count,
                open_claims=await Lead.filter(
                    claimed_by=user_id, state=LeadState.CLAIMED.value
                ).count(),
            )
            for user_id in wanted
        ]

    async def count_assignment(self, user_id: str, now: datetime) -> None:
        """One more lead for this rep: a single UPDATE, so concurrent increments never collide."""
        await Rep.filter(user_id=user_id).update(
            assigned_count=F("assigned_count") + 1, updated_at=now
        )

    async def get_assigned_counts(self, user_ids: Collection[str]) -> dict[str, int]:
        rows = await Rep.filter(user_id__in=list(user_ids))
        return {row.user_id: row.assigned_count for row in rows}

    async def record_slack_event(self, event_id: str, now: datetime) -> bool:
        """True the first time an event id is seen; Slack's redeliveries answer False."""
        try:
            await SlackEventReceipt.create(event_id=event_id, received_at=now)
        except IntegrityError:
            return False
        return True

    async def _upsert(self, user_id: str, now: datetime, **values: Any) -> None:
        updated = await Rep.filter(user_id=user_id).update(updated_at=now, **values)
        if updated:
            return
        try:
            await Rep.create(user_id=user_id, updated_at=now, **values)
        except IntegrityError:
            # Created concurrently (another replica): apply our values to that row.
            await Rep.filter(user_id=user_id).update(updated_at=now, **values)
