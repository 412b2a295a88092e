"""Queue workers drain when kicked, poll anyway, survive a bad round, and always stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from bot import workers
from bot.workers import BackgroundTasks, QueueWorker, RequestLull


async def test_a_kick_drains_at_once_and_a_failing_round_is_survived() -> None:
    rounds: list[int] = []
    done = asyncio.Event()

    async def drain() -> bool:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise RuntimeError("database hiccup")
        if len(rounds) >= 3:
            done.set()
        return False

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
    async def drain() -> bool:
        await asyncio.sleep(0)
        return False

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


async def test_background_work_is_finished_at_shutdown_and_a_stuck_task_is_cut_off() -> None:
    tasks = BackgroundTasks()
    finished: list[str] = []

    async def claim() -> None:
        await asyncio.sleep(0.05)
        finished.append("claim")

    async def stuck() -> None:
        await asyncio.Event().wait()

    tasks.spawn(claim(), name="claim")
    await tasks.drain(within=5)
    assert finished == ["claim"]  # acknowledged work completes before shutdown goes on

    tasks.spawn(stuck(), name="stuck")
    async with asyncio.timeout(3):
        await tasks.drain(within=0.1)  # bounded: a stuck task cannot hold shutdown


async def test_work_held_for_a_pause_in_requests_then_started_in_the_order_it_came() -> None:
    lull = RequestLull(gap_seconds=0.05, most_seconds=5)
    tasks = BackgroundTasks(lull)
    started: list[int] = []
    all_started = asyncio.Event()

    async def claim(n: int) -> None:
        started.append(n)
        if len(started) == 5:
            all_started.set()

    for n in range(5):  # a storm: a request every 10 ms, each spawning its claim
        lull.saw_request()
        tasks.spawn(claim(n), name=f"claim-{n}")
        await asyncio.sleep(0.01)
        assert started == []  # the acks still arriving go first
    async with asyncio.timeout(2):
        await all_started.wait()
    assert started == [0, 1, 2, 3, 4]  # the first click held is the first to claim
    await tasks.drain(within=1)


async def test_held_work_waits_at_most_its_bound_under_steady_requests() -> None:
    lull = RequestLull(gap_seconds=0.05, most_seconds=0.2)
    tasks = BackgroundTasks(lull)
    started = asyncio.Event()

    async def claim() -> None:
        started.set()

    loop = asyncio.get_running_loop()
    began = loop.time()
    lull.saw_request()
    tasks.spawn(claim(), name="claim")
    while not started.is_set() and loop.time() - began < 2:
        lull.saw_request()  # never a pause of 50 ms
        await asyncio.sleep(0.01)
    assert started.is_set()
    assert loop.time() - began < 1
    await tasks.drain(within=1)


async def test_shutdown_starts_held_work_at_once_and_waits_for_it() -> None:
    tasks = BackgroundTasks(RequestLull(gap_seconds=60, most_seconds=60))
    finished: list[str] = []

    async def claim() -> None:
        finished.append("claim")

    tasks.spawn(claim(), name="claim")
    async with asyncio.timeout(2):
        await tasks.drain(within=1)
    assert finished == ["claim"]


async def test_a_round_that_may_have_left_work_runs_again_and_one_that_did_not_waits() -> None:
    rounds: list[bool] = []
    third, fourth = asyncio.Event(), asyncio.Event()

    async def drain() -> bool:
        more = len(rounds) < 2  # two full batches, then the queue is empty
        rounds.append(more)
        (third if len(rounds) == 3 else fourth if len(rounds) == 4 else asyncio.Event()).set()
        return more

    worker = QueueWorker("test", drain, poll_seconds=60)
    worker.start()
    async with asyncio.timeout(2):
        await third.wait()
    worker.kick()  # the only way to a fourth round before the poll
    async with asyncio.timeout(2):
        await fourth.wait()
    await worker.stop()
    assert rounds == [True, True, False, False]


async def test_stop_is_bounded_when_a_round_ignores_the_cancel(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A library await that swallows the cancel (and waits on) must not hang the shutdown: a
    # timeout around ``await task`` would pass its cancel into the task and then wait forever.
    monkeypatch.setattr(workers, "STOP_TIMEOUT_SECONDS", 0.2)
    release = asyncio.Event()

    async def stubborn() -> bool:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()
        return False

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
