"""The scheduler: first run at start, never overlapping itself, errors logged, clean stop."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest

from bot.scheduler import Job, Scheduler
from tests.support import wait_until

FAST = timedelta(milliseconds=20)


async def test_jobs_run_at_start_and_then_on_their_interval() -> None:
    runs: list[str] = []

    async def sweep() -> int:
        runs.append("sweep")
        return 0

    scheduler = Scheduler([Job("sweep", sweep, timedelta(hours=1))])
    scheduler.start()
    try:
        await wait_until(lambda: _value(runs == ["sweep"]), what="the first run, at start")
    finally:
        await scheduler.stop()

    fast = Scheduler([Job("sweep", sweep, FAST)])
    fast.start()
    try:
        await wait_until(lambda: _value(fast.runs["sweep"] >= 5), what="five runs")
    finally:
        await fast.stop()


async def test_a_slow_run_is_never_overlapped_by_the_next() -> None:
    active = 0
    most = 0
    finished = 0

    async def slow() -> int:
        nonlocal active, most, finished
        active += 1
        most = max(most, active)
        await asyncio.sleep(0.1)  # a sweep five intervals long
        active -= 1
        finished += 1
        return 1

    scheduler = Scheduler([Job("slow", slow, FAST)])
    scheduler.start()
    try:
        await wait_until(lambda: _value(finished >= 3), what="three slow runs")
    finally:
        await scheduler.stop()
    assert most == 1


async def test_a_failing_job_is_logged_with_its_traceback_and_keeps_running(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts = 0

    async def broken() -> int:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("database went away")

    scheduler = Scheduler([Job("broken", broken, FAST)])
    with caplog.at_level(logging.ERROR, logger="bot.scheduler"):
        scheduler.start()
        try:
            await wait_until(lambda: _value(attempts >= 3), what="three attempts")
        finally:
            await scheduler.stop()
    failures = [r for r in caplog.records if r.name == "bot.scheduler"]
    assert failures and failures[0].getMessage() == "job broken failed"
    assert failures[0].exc_info is not None and "database went away" in str(failures[0].exc_info[1])


async def test_stop_lets_a_running_sweep_finish() -> None:
    started = asyncio.Event()
    finished: list[bool] = []

    async def sweep() -> int:
        started.set()
        await asyncio.sleep(0.05)
        finished.append(True)
        return 0

    scheduler = Scheduler([Job("sweep", sweep, timedelta(hours=1))])
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await scheduler.stop()
    assert finished == [True]


async def _value(value: bool) -> bool:
    return value
