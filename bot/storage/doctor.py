"""Read-only questions `handoff doctor` asks the database: migrated? anything stuck?"""

from __future__ import annotations

import pkgutil
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage import migrations
from bot.storage.models import Delivery, Lead, OutboxItem
from bot.storage.sql import DialectSql


@dataclass(frozen=True)
class Stuck:
    failed_outbox: int
    overdue_outbox: int
    failed_deliveries: int
    routed_without_card: int
    claimed_without_dm: int


class DoctorStore:
    async def list_pending_migrations(self) -> list[str]:
        """Migration files of ours that the database has not applied (all of them if none)."""
        shipped = sorted(
            m.name for m in pkgutil.iter_modules(migrations.__path__) if not m.name.startswith("_")
        )
        try:
            rows = await DialectSql().fetch(
                "SELECT name FROM tortoise_migrations WHERE app = 'models'"
            )
        except Exception:  # no migrations table: nothing was ever applied
            return shipped
        applied = {str(r["name"]) for r in rows}
        return [name for name in shipped if name not in applied]

    async def count_stuck(self, now: datetime, grace: timedelta) -> Stuck:
        """What should have happened by now and did not (older than ``grace``)."""
        before = now - grace
        return Stuck(
            failed_outbox=await OutboxItem.filter(status="failed").count(),
            overdue_outbox=await OutboxItem.filter(
                status="pending", next_attempt_at__lt=before
            ).count(),
            failed_deliveries=await Delivery.filter(status="failed").count(),
            routed_without_card=await Lead.filter(
                state="routed", card_ts__isnull=True, routed_at__lt=before
            ).count(),
            claimed_without_dm=await Lead.filter(
                state="claimed", dm_ts__isnull=True, claimed_at__lt=before
            ).count(),
        )
