"""On a pytest-timeout, also print what the event loop is waiting for.

pytest-timeout dumps thread stacks; for a hung asyncio test that only shows the loop idle in
``select()``. This adds, for the loop running in the main thread: its pending timers, every task
with the future it waits on, and every suspended coroutine and async generator (a cleanup_ctx,
a fixture) with the line it is suspended at, so a teardown awaiting a future nobody resolves
names that await.
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import signal
import threading
import types
from collections.abc import Iterator
from typing import Any

import pytest

MAX_LINES = 400


def _where(frame: types.FrameType | None) -> str:
    if frame is None:
        return "<finished>"
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


def _await_chain(awaitable: Any) -> Iterator[str]:
    """Each frame of a suspended coroutine chain, outermost first."""
    for _ in range(64):
        if isinstance(awaitable, types.CoroutineType):
            yield "    " + _where(awaitable.cr_frame)
            awaitable = awaitable.cr_await
        elif isinstance(awaitable, types.AsyncGeneratorType):
            yield "    " + _where(awaitable.ag_frame)
            awaitable = awaitable.ag_await
        elif isinstance(awaitable, types.GeneratorType):
            yield "    " + _where(awaitable.gi_frame)
            awaitable = awaitable.gi_yieldfrom
        else:
            if awaitable is not None:
                yield f"    awaiting {awaitable!r}"[:500]
            return


def describe_loop(loop: asyncio.AbstractEventLoop) -> list[str]:
    lines = [f"event loop {loop!r}"]
    scheduled = getattr(loop, "_scheduled", None)
    if scheduled is not None:
        lines.append(f"  timers pending: {len(scheduled)}")
        lines += [f"    {handle!r}"[:300] for handle in list(scheduled)[:20]]
    executor = getattr(loop, "_default_executor", None)
    if executor is not None:
        threads = getattr(executor, "_threads", set())
        lines.append(f"  default executor threads: {[t.name for t in threads]}")
    tasks = asyncio.all_tasks(loop)
    lines.append(f"  tasks: {len(tasks)}")
    for task in sorted(tasks, key=lambda t: t.get_name()):
        waiter = getattr(task, "_fut_waiter", None)
        lines.append(f"  task {task.get_name()} waiting on {waiter!r}"[:500])
        lines += _await_chain(task.get_coro())
    # Async generators (aiohttp cleanup_ctx, async fixtures) are awaited through objects that
    # do not show what they wait for; list every suspended one found in memory instead.
    suspended: list[str] = []
    for obj in gc.get_objects():
        if isinstance(obj, types.AsyncGeneratorType) and obj.ag_await is not None:
            suspended.append("  async generator " + obj.__qualname__)
            suspended += _await_chain(obj)
        elif isinstance(obj, types.CoroutineType) and inspect.getcoroutinestate(obj) == (
            inspect.CORO_SUSPENDED
        ):
            suspended.append(f"  coroutine {obj.__qualname__} at {_where(obj.cr_frame)}")
    lines.append("  suspended coroutines and async generators:")
    lines += suspended
    return lines[:MAX_LINES]


def dump_running_loop(item: pytest.Item) -> None:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # not inside a running loop: the thread stacks say it all
    terminal = item.config.get_terminal_writer()
    terminal.sep("+", title="asyncio at timeout")
    terminal.write("\n".join(describe_loop(loop)) + "\n")


@pytest.hookimpl(tryfirst=True)
def pytest_timeout_set_timer(item: pytest.Item, settings: Any) -> bool | None:
    """Let pytest-timeout arm its timer, then put the loop dump in front of its handler."""
    import pytest_timeout

    pytest_timeout.pytest_timeout_set_timer(item, settings)
    if settings.method == "signal" and threading.current_thread() is threading.main_thread():
        original = signal.getsignal(signal.SIGALRM)

        def handler(signum: int, frame: types.FrameType | None) -> None:
            dump_running_loop(item)
            if callable(original):
                original(signum, frame)

        signal.signal(signal.SIGALRM, handler)
    return True
