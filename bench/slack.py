"""The tests' fake Slack Web API, plus what the benchmark needs: Slack's per-channel posting
limit (429 with Retry-After) and the moment each tagged card arrived."""

from __future__ import annotations

import json
import re
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiohttp.test_utils import TestServer
from tests.fakes.slack_api import FakeSlackApi

CARD_TAG = re.compile(r"Bench(\d+) Corp")


class BenchSlack(FakeSlackApi):
    """``per_channel`` chat.postMessage calls per rolling second per channel (None: no limit)."""

    def __init__(self, per_channel: int | None = 1) -> None:
        super().__init__()
        self.per_channel = per_channel
        self.card_seen: dict[int, float] = {}  # tag -> perf_counter when its card arrived
        self.card_where: dict[int, tuple[str, str]] = {}  # tag -> (channel, ts)
        self.rate_limited = 0
        self._posts: defaultdict[str, deque[float]] = defaultdict(deque)

    async def _answer(
        self, method: str, args: dict[str, Any], token: str | None, origin: str
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        now = time.perf_counter()
        if method == "chat.postMessage" and self.per_channel is not None:
            recent = self._posts[str(args.get("channel"))]
            while recent and now - recent[0] >= 1.0:
                recent.popleft()
            if len(recent) >= self.per_channel:
                self.rate_limited += 1
                return 429, {"Retry-After": "1"}, {"ok": False, "error": "ratelimited"}
            recent.append(now)
        status, headers, body = await super()._answer(method, args, token, origin)
        if method == "chat.postMessage" and body.get("ok"):
            found = CARD_TAG.search(json.dumps(args.get("blocks", "")))
            if found and int(found.group(1)) not in self.card_seen:
                tag = int(found.group(1))
                self.card_seen[tag] = now
                self.card_where[tag] = (str(body.get("channel")), str(body.get("ts")))
        return status, headers, body

    def forget_calls(self) -> None:
        """The fake keeps every call for tests; a long benchmark must not grow without end."""
        self.calls.clear()
        self.messages.clear()


@asynccontextmanager
async def run_bench_slack(per_channel: int | None = 1) -> AsyncIterator[BenchSlack]:
    fake = BenchSlack(per_channel)
    server = TestServer(fake.app, host="127.0.0.1")
    await server.start_server()
    try:
        fake.base_url = str(server.make_url("/api/"))
        yield fake
    finally:
        await server.close()
