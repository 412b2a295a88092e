"""Background loops that drain durable queues (deliveries, outbox) until the app stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class QueueWorker:
    """Runs ``drain`` whenever kicked, and every ``poll_seconds`` anyway.

    The poll is the safety net: work left by a crash, another replica, or a retry whose backoff
    has expired is picked up without anyone kicking. ``drain`` returns how much it did; a busy
    drain runs again at once.
    """

    def __init__(
        self, name: str, drain: Callable[[], Awaitable[int]], poll_seconds: float = 1.0
    ) -> None:
        self.name = name
        self._drain = drain
        self._poll_seconds = poll_seconds
        self._kicked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        self._kicked.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"worker:{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            self._kicked.clear()
            try:
                did = await self._drain()
            except Exception:
                # One bad round must not kill the worker: log with traceback, retry later.
                log.exception("worker %s failed a round", self.name)
                did = 0
            if did:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._kicked.wait(), self._poll_seconds)
