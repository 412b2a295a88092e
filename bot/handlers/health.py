"""GET /healthz: the process is up, the database answers, and no accepted delivery was lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web


class HealthHandlers:
    def __init__(
        self,
        check_database: Callable[[], Awaitable[None]],
        count_failed_deliveries: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self._check_database = check_database
        self._count_failed = count_failed_deliveries

    def register(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.handle_health)

    async def handle_health(self, request: web.Request) -> web.Response:
        try:
            await self._check_database()
            failed = 0 if self._count_failed is None else await self._count_failed()
        except Exception as exc:  # any failure means "not healthy"; say which
            return web.json_response(
                {"status": "unhealthy", "database": f"{type(exc).__name__}: {exc}"},
                status=503,
                headers={"Retry-After": "5"},
            )
        if failed:
            # Accepted with 2xx and then not processed: a bug to look at, not a reason to restart
            # the process, so still 200.
            return web.json_response(
                {
                    "status": "degraded",
                    "database": "ok",
                    "failed_deliveries": failed,
                    "hint": "`handoff replay --list` shows them and why",
                }
            )
        return web.json_response({"status": "ok", "database": "ok", "failed_deliveries": 0})
