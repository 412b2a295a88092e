"""Weekly digests: the managers' report with its chart, and the returns digest for marketing.

Each digest is queued in the outbox under a key naming its week, so however many replicas run
the job and however often it misfires, a week's digest goes out once.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from bot.clock import Clock
from bot.config import HandoffConfig
from bot.domain.report_query import Period, ReasonCount, ReportScope
from bot.outbox import FILE, SLACK
from bot.reports.chart import render_report_chart
from bot.slack import report_blocks
from bot.storage.outbox import NewItem, OutboxStore
from bot.storage.reports import ReportStore, count_returns_by


@dataclass(frozen=True)
class ReturnsDigest:
    period: Period
    by_reason: tuple[ReasonCount, ...]
    by_source: tuple[ReasonCount, ...]
    by_campaign: tuple[ReasonCount, ...]


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def last_week(now: datetime) -> Period:
    return Period(now - timedelta(days=7), now, "last 7 days")


class DigestService:
    def __init__(
        self,
        store: ReportStore,
        outbox: OutboxStore,
        config: HandoffConfig,
        clock: Clock,
        tz: tzinfo,
        kick_outbox: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._config = config
        self._clock = clock
        self._tz = tz
        self._kick = kick_outbox

    def _week_key(self, now: datetime) -> str:
        year, week, _ = now.astimezone(self._tz).isocalendar()
        return f"{year}-W{week:02d}"

    def scheduled_instant(self, now: datetime) -> datetime:
        """This week's digest time: `reports.digest_day` at `digest_time`, local to the team."""
        local = now.astimezone(self._tz)
        monday = local.date() - timedelta(days=local.weekday())
        day = monday + timedelta(days=WEEKDAYS.index(self._config.reports.digest_day))
        return datetime.combine(day, self._config.reports.digest_time, tzinfo=self._tz)

    async def queue_if_due(self) -> int:
        """Run often (any replica, after any downtime): the week's digests go out once, as soon
        as their time has come. The content always covers the 7 days before that time."""
        now = self._clock()
        due = self.scheduled_instant(now)
        if now < due:
            return 0
        return await self.queue_weekly_digests(due)

    async def queue_weekly_digests(self, end: datetime | None = None) -> int:
        """Queue the digests of the week ending at ``end`` (default now), once per week."""
        end = end or self._clock()
        period = last_week(end)
        week = self._week_key(end)
        queued = 0
        channel = self._config.reports.managers_channel
        report = await self._store.get_report(period, ReportScope())
        if report.total.leads_in == 0 and report.total.routed == 0 and report.total.returns == 0:
            return 0  # nothing happened (say, a fresh install): no empty digest
        if channel:
            funnel = await self._store.get_funnel(period, ReportScope())
            message = report_blocks.build_report_message(period, report, funnel)
            queued += await self._queue(
                NewItem(
                    SLACK,
                    "chat.postMessage",
                    {"channel": channel, **message},
                    dedupe_key=f"digest:managers:{week}",
                )
            )
            daily = await self._store.list_daily_series(period, ReportScope(), self._tz)
            title = f"Leads in and median time to claim, week {week}"
            png = await asyncio.to_thread(render_report_chart, daily, title)
            queued += await self._queue(
                NewItem(
                    FILE,
                    "files_upload_v2",
                    {
                        "channel": channel,
                        "filename": f"leads-{week}.png",
                        "title": title,
                        "content_b64": base64.b64encode(png).decode(),
                    },
                    dedupe_key=f"digest:managers-chart:{week}",
                )
            )
        marketing = self._config.marketing.channel
        if marketing and self._config.reports.returns_digest:
            digest = await self.returns_digest(period)
            message = report_blocks.build_returns_digest(
                period, digest.by_reason, digest.by_source, digest.by_campaign
            )
            queued += await self._queue(
                NewItem(
                    SLACK,
                    "chat.postMessage",
                    {"channel": marketing, **message},
                    dedupe_key=f"digest:returns:{week}",
                )
            )
        return queued

    async def returns_digest(self, period: Period) -> ReturnsDigest:
        return ReturnsDigest(
            period,
            tuple(await count_returns_by(period, "reason")),
            tuple(await count_returns_by(period, "source")),
            tuple(await count_returns_by(period, "campaign")),
        )

    async def _queue(self, item: NewItem) -> int:
        added = await self._outbox.enqueue(item, self._clock())
        if added and self._kick is not None:
            self._kick()
        return int(added)
