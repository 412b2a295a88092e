"""Slack's per-channel limit in the stand-in: a short burst, then about one message a second."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.sandbox.rate_limit import ChannelRateLimit
from bot.sandbox.slack_api import DEFAULT_TOKEN, FakeSlackApi


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_passes_then_one_message_a_second_per_channel() -> None:
    ticker = Ticker()
    limit = ChannelRateLimit(per_second=1.0, burst=3, clock=ticker)
    assert [limit.retry_after("C1") for _ in range(3)] == [None, None, None]
    assert limit.retry_after("C1") == 1
    assert limit.retry_after("C2") is None  # another channel has its own allowance
    ticker.now += 1.0
    assert limit.retry_after("C1") is None
    assert limit.retry_after("C1") == 1


async def test_the_stand_in_answers_ratelimited_with_retry_after(aiohttp_client: Any) -> None:
    ticker = Ticker()
    fake = FakeSlackApi(rate_limit=ChannelRateLimit(per_second=1.0, burst=2, clock=ticker))
    client = await aiohttp_client(fake.app)
    headers = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}

    async def post(channel: str) -> aiohttp.ClientResponse:
        response: aiohttp.ClientResponse = await client.post(
            "/api/chat.postMessage", json={"channel": channel, "text": "hi"}, headers=headers
        )
        return response

    assert [(await post("C1")).status for _ in range(2)] == [200, 200]
    limited = await post("C1")
    assert limited.status == 429
    assert limited.headers["Retry-After"] == "1"
    assert await limited.json() == {"ok": False, "error": "ratelimited"}
    assert (await post("C2")).status == 200
    ticker.now += 1.0
    assert (await post("C1")).status == 200
    assert len(fake.posted("C1")) == 3  # the refused message was not posted
