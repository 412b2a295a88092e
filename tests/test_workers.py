"""Queue workers drain when kicked, poll anyway, survive a bad round, and always stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from bot import workers
from bot.workers import QueueWorker


async def test_a_kick_drains_at_once_and_a_failing_round_is_survived() -> None:
    rounds: list[int] = []
    done = asyncio.Event()

    async def drain() -> int:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise RuntimeError("database hiccup")
        if len(rounds) >= 3:
            done.set()
        return 0

    worker = QueueWorker("test", drain, poll_seconds=60)
    worker.start()
    await asyncio.sleep(0)
    worker.kick()  # round 2 fails ...
    await asyncio.sleep(0.01)
    worker.kick()  # ... and round 3 still runs
    async with asyncio.timeout(2):
        await done.wait()
    await worker.stop()


async def test_stop_always_ends_the_worker_even_while_it_is_being_kicked() -> None:
    async def drain() -> int:
        await asyncio.sleep(0)
        return 0

    # A kick landing right before the stop, at every offset of the event loop's turns: on
    # Python 3.11 a cancel racing asyncio.wait_for's wake-up used to be swallowed.
    for turns in range(6):
        for _ in range(20):
            worker = QueueWorker("test", drain, poll_seconds=60)
            worker.start()
            await asyncio.sleep(0.001)  # the worker is idle, waiting for a kick
            worker.kick()
            for _ in range(turns):
                await asyncio.sleep(0)
            async with asyncio.timeout(2):  # a worker that swallowed its cancel hangs here
                await worker.stop()


async def test_stop_is_bounded_when_a_round_ignores_the_cancel(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A library await that swallows the cancel (and waits on) must not hang the shutdown: a
    # timeout around ``await task`` would pass its cancel into the task and then wait forever.
    monkeypatch.setattr(workers, "STOP_TIMEOUT_SECONDS", 0.2)
    release = asyncio.Event()

    async def stubborn() -> int:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()
        return 0

    worker = QueueWorker("stubborn", stubborn, poll_seconds=60)
    worker.start()
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.ERROR):
        async with asyncio.timeout(5):
            await worker.stop()
    assert "worker stubborn did not stop within 0.2 s; it waits at:" in caplog.text
    assert "in stubborn" in caplog.text  # the log names the await it is stuck on
    release.set()  # let the task end, so the test's loop closes cleanly
    await asyncio.sleep(0.01)
