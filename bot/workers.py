"""Background loops that drain durable queues (deliveries, outbox) until the app stops."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
import types
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

log = logging.getLogger(__name__)

STOP_TIMEOUT_SECONDS = 10.0


class QueueWorker:
    """Runs ``drain`` whenever kicked, and every ``poll_seconds`` anyway.

    The poll is the safety net: work left by a crash, another replica, or a retry whose backoff
    has expired is picked up without anyone kicking. ``drain`` returns whether more may be
    waiting (it stopped at its batch limit); then it runs again at once. A round that took
    less than it could has emptied the queue as far as it can see, and an extra round to find
    that out would only cost a database round trip per kick.
    """

    def __init__(
        self,
        name: str,
        drain: Callable[[], Awaitable[bool]],
        poll_seconds: float = 1.0,
        *,
        linger_seconds: float = 0.0,
    ) -> None:
        self.name = name
        self._drain = drain
        self._poll_seconds = poll_seconds
        # After an idle wait, let kicks gather for a moment: one batch of several deliveries
        # costs one commit (one fsync) instead of one per webhook.
        self._linger_seconds = linger_seconds
        self._kicked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def kick(self) -> None:
        self._kicked.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"worker:{self.name}")

    async def stop(self) -> None:
        """Stop after the current round. The flag, not only the cancel, ends the loop: on
        Python 3.11 ``asyncio.wait_for`` can swallow a cancel that races its own wake-up,
        which left a worker polling forever and the app's shutdown waiting on it."""
        if self._task is None:
            return
        self._stopping = True
        self._kicked.set()
        self._task.cancel()
        # asyncio.wait, not a timeout around ``await self._task``: that timeout's cancel goes
        # into the task being awaited, and a task that does not end on a cancel (some library
        # await swallowing it) is then waited for with no timer left: the shutdown hangs.
        done, _ = await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_SECONDS)
        if not done:
            # Shutdown must finish; whatever the round was doing is retried by the next start.
            stack = "".join(traceback.format_list(_await_chain(self._task)))
            log.error(
                "worker %s did not stop within %s s; it waits at:\n%s",
                self.name,
                STOP_TIMEOUT_SECONDS,
                stack,
            )
        elif not self._task.cancelled() and self._task.exception() is not None:
            log.error("worker %s ended with an error", self.name, exc_info=self._task.exception())
        self._task = None

    async def _round(self) -> bool:
        return await self._drain()

    async def _run(self) -> None:
        while not self._stopping:
            self._kicked.clear()
            try:
                # Each round in its own task, so its context variables die with it: when the
                # database drops mid-transaction, Tortoise 1.1.9 can leave the task's "current
                # transaction" pointing at a dead connection (an error in BEGIN skips the reset),
                # and every later query of a long-lived task would fail on it forever.
                more = await asyncio.create_task(self._round(), name=f"round:{self.name}")
            except Exception:
                # One bad round must not kill the worker: log with traceback, retry later.
                log.exception("worker %s failed a round", self.name)
                more = False
            if more or self._stopping:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_seconds):
                    await self._kicked.wait()
            if self._linger_seconds and self._kicked.is_set() and not self._stopping:
                await asyncio.sleep(self._linger_seconds)


class RequestLull:
    """When the HTTP server last took a request, so work that can wait a moment waits for a
    pause in them. A storm of 200 Claim clicks is answered fastest when the acks go out
    first: the claim, its card update and 199 "already claimed" answers would otherwise share
    the event loop with the acks still queued, and the last click waits for all of it."""

    def __init__(self, gap_seconds: float = 0.005, most_seconds: float = 0.25) -> None:
        # gap: this long without a new request is a pause (at 200 webhooks/s, arriving at
        # random, one comes within about 9 ms). most: under steady traffic there may be no
        # such pause; work waits at most this long for one.
        self._gap = gap_seconds
        self._most = most_seconds
        self._last = 0.0

    def saw_request(self) -> None:
        self._last = asyncio.get_running_loop().time()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.saw_request()
        return await handler(request)

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._most
        while True:
            now = loop.time()
            quiet_at = self._last + self._gap
            if now >= quiet_at or now >= deadline:
                return
            await asyncio.sleep(min(quiet_at, deadline) - now)


class BackgroundTasks:
    """Work started by a request that answered before the work was done (a Claim click is
    acknowledged at once). Holds a reference to each task, so none is garbage-collected
    mid-flight, and lets shutdown wait for them, bounded, before the database closes.

    With a ``lull``, work is held until the requests pause, then started in the order it
    was spawned: the first click held is the first to claim."""

    def __init__(self, lull: RequestLull | None = None) -> None:
        self._tasks: set[asyncio.Task[None]] = set()
        self._lull = lull
        self._held: list[tuple[Coroutine[Any, Any, None], str]] = []
        self._releaser: asyncio.Task[None] | None = None

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        if self._lull is None:
            self._start(work, name)
            return
        self._held.append((work, name))
        if self._releaser is None:
            self._releaser = asyncio.create_task(
                self._release(self._lull), name="background-release"
            )

    async def _release(self, lull: RequestLull) -> None:
        try:
            await lull.wait()
        finally:
            self._releaser = None
            self._start_held()

    def _start_held(self) -> None:
        held, self._held = self._held, []
        for work, name in held:
            self._start(work, name)

    def _start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, within: float = STOP_TIMEOUT_SECONDS) -> None:
        if self._releaser is not None:
            self._releaser.cancel()  # shutting down: held work starts now
            with contextlib.suppress(asyncio.CancelledError):
                await self._releaser
        self._start_held()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=within)
        for task in pending:
            task.cancel()
        if pending:
            log.error("%s background task(s) did not finish within %s s", len(pending), within)
            await asyncio.wait(pending, timeout=1)


def _await_chain(task: asyncio.Task[Any]) -> list[traceback.FrameSummary]:
    """Where a task is suspended, outermost frame first (its own stack shows only the top),
    continued into the task it awaits (a round runs in a task of its own)."""
    frames: list[tuple[types.FrameType, int]] = []
    awaiting: Any = task.get_coro()
    while isinstance(awaiting, types.CoroutineType):
        if awaiting.cr_frame is not None:
            frames.append((awaiting.cr_frame, awaiting.cr_frame.f_lineno))
        awaiting = awaiting.cr_await
    chain = list(traceback.StackSummary.extract(iter(frames)))
    waiter = getattr(task, "_fut_waiter", None)  # what the task waits on (CPython)
    if isinstance(waiter, asyncio.Task):
        chain += _await_chain(waiter)
    return chain
