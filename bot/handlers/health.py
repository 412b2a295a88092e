"""GET /healthz: the process is up and the database answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web


class HealthHandlers:
    def __init__(self, check_database: Callable[[], Awaitable[None]]) -> None:
        self._check_database = check_database

    def register(self, app: web.Application) -> None:
        app.router.add_get("/healthz", self.handle_health)

    async def handle_health(self, request: web.Request) -> web.Response:
        try:
            await self._check_database()
        except Exception as exc:  # any failure means "not healthy"; say which
            return web.json_response(
                {"status": "unhealthy", "database": f"{type(exc).__name__}: {exc}"}, status=503
            )
        return web.json_response({"status": "ok", "database": "ok"})
