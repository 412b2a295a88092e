"""GET /healthz: the process is up, the database answers, no accepted delivery was lost,
and how the outbox is doing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from aiohttp import web

from bot.clock import Clock, system_clock
from bot.domain.metrics import OutboxHealth

# A pending item older than this means the outbox is not draining (Slack down, worker stuck).
OUTBOX_STALLED_AFTER_SECONDS = 300.0


class HealthHandlers:
    def __init__(
        self,
        check_database: Callable[[], Awaitable[None]],
        outbox_health: Callable[[datetime], Awaitable[OutboxHealth]] | None = None,
        clock: Clock = system_clock,
        count_failed_deliveries: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self._check_database = check_database
        self._outbox_health = outbox_health
        self._clock = clock
        self._count_failed = count_failed_deliveries

    def register(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.handle_health)

    async def handle_health(self, request: web.Request) -> web.Response:
        try:
            await self._check_database()
            outbox = await self._outbox_health(self._clock()) if self._outbox_health else None
            failed = 0 if self._count_failed is None else await self._count_failed()
        except Exception as exc:  # any failure means "not healthy"; say which
            return web.json_response(
                {"status": "unhealthy", "database": f"{type(exc).__name__}: {exc}"},
                status=503,
                headers={"Retry-After": "5"},
            )
        body: dict[str, object] = {"status": "ok", "database": "ok", "failed_deliveries": failed}
        if failed:
            # Accepted with 2xx and then not processed: a bug to look at, not a reason to restart
            # the process, so still 200.
            body["status"] = "degraded"
            body["hint"] = "`handoff replay --list` shows them and why"
        if outbox is not None:
            age = outbox.oldest_pending_age_seconds
            # Still 200: a stalled outbox is a reason to look, not to restart the process.
            body["outbox"] = {
                "status": "stalled"
                if age is not None and age > OUTBOX_STALLED_AFTER_SECONDS
                else "ok",
                "oldest_pending_age_seconds": None if age is None else round(age, 1),
                "failed": outbox.failed,
            }
        return web.json_response(body)
