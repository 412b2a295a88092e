"""GET /metrics: Prometheus text exposition, optionally behind a bearer token."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from aiohttp import web

from bot.clock import Clock
from bot.domain.metrics import MetricsSnapshot
from bot.metrics import CONTENT_TYPE, HANDOFF_BUCKETS, Metrics

ReadSnapshot = Callable[[datetime, Sequence[float]], Awaitable[MetricsSnapshot]]


class MetricsHandlers:
    def __init__(
        self, metrics: Metrics, read_snapshot: ReadSnapshot, clock: Clock, token: str | None
    ) -> None:
        self._metrics = metrics
        self._read_snapshot = read_snapshot
        self._clock = clock
        self._token = token

    def register(self, app: web.Application) -> None:
        app.router.add_get("/metrics", self.handle_metrics)

    async def handle_metrics(self, request: web.Request) -> web.Response:
        if self._token is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self._token}".encode()):
                return web.json_response(
                    {"error": "metrics need Authorization: Bearer <HANDOFF_METRICS_TOKEN>"},
                    status=401,
                    headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
                )
        snapshot = await self._read_snapshot(self._clock(), HANDOFF_BUCKETS)
        return web.Response(
            body=self._metrics.render(snapshot), headers={"Content-Type": CONTENT_TYPE}
        )
