"""Test helpers: a controllable clock, signed requests, waiting on a condition."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from bot.signatures import signed_headers

WEBHOOK_SECRET = "test-webhook-secret"

# Ports for the servers tests start themselves (`handoff serve`, a PostgreSQL cluster): below
# the kernel's ephemeral range (32768-60999 on Linux), so no outgoing connection can take one
# between the check and the bind, or while a killed bot is restarted on it; and a block of its
# own per pytest-xdist worker, so parallel workers never hand out the same one.
PORT_BLOCK_START, PORT_BLOCK_SIZE = 20000, 1500
_port_offsets = itertools.count(random.randrange(PORT_BLOCK_SIZE))  # spread over the block


def _worker_index() -> int:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")  # "gw3" under xdist
    return int(worker.removeprefix("gw")) if worker.removeprefix("gw").isdigit() else 0


def free_port(count: int = 1) -> int:
    """A free loopback port P (with P+1 .. P+count-1 free as well) for a test's own server."""
    base = PORT_BLOCK_START + (_worker_index() % 8) * PORT_BLOCK_SIZE
    for _ in range(PORT_BLOCK_SIZE):
        port = base + next(_port_offsets) % (PORT_BLOCK_SIZE - count)
        try:
            with contextlib.ExitStack() as probes:
                for candidate in range(port, port + count):
                    probe = probes.enter_context(socket.socket())
                    probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise AssertionError(f"no free port in {base}..{base + PORT_BLOCK_SIZE}")


class FakeClock:
    """A clock that moves only when told to, starting at a fixed, timezone-aware instant."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


class LiveClock(FakeClock):
    """Real time plus an offset that tests can push forward (retries need time to pass)."""

    def __init__(self) -> None:
        super().__init__()
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


async def wait_until(
    condition: Callable[[], Awaitable[Any]], within: float = 10.0, what: str = "condition"
) -> Any:
    """Poll an async condition until it returns something truthy; fail after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.02)


async def post_signed(
    client: TestClient[Any, Any],
    path: str,
    payload: Any,
    *,
    clock: Callable[[], datetime],
    secret: str = WEBHOOK_SECRET,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    timestamp: int | None = None,
) -> tuple[int, Any]:
    body = raw if raw is not None else json.dumps(payload).encode()
    ts = timestamp if timestamp is not None else int(clock().timestamp())
    all_headers = {"Content-Type": "application/json", **signed_headers(secret, ts, body)}
    all_headers.update(headers or {})
    # A stream, so aiohttp does not warn about large bodies in the oversized-body test.
    response = await client.post(path, data=io.BytesIO(body), headers=all_headers)
    try:
        data = await response.json(content_type=None)
    except json.JSONDecodeError:
        data = await response.text()
    return response.status, data
