"""Test helpers: a controllable clock, signed requests, waiting on a condition."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from bot.signatures import signed_headers

WEBHOOK_SECRET = "test-webhook-secret"


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
