"""The load generator: pre-signed unique requests, closed loop (N in flight) or open loop (a
fixed arrival rate, latency counted from the scheduled send time so a stall is not hidden)."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

from bot.signatures import signed_headers

WEBHOOK_SECRET = "bench-webhook-secret"
SIGNING_SECRET = "bench-signing-secret"


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests only
    errors: int = 0
    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        return percentile(self.latencies, q)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 1000) - 1]


def lead_body(n: int, *, hot: bool, channels: int = 20) -> dict[str, Any]:
    if hot:
        return {
            "email": f"hot{n}@company{n % 5000}.com",
            "first_name": "Ana",
            "title": "VP Sales",
            "company": f"Bench{n} Corp",
            "company_size": 300,
            "industry": f"Industry{n % channels}",
            "country": "ES",
        }
    return {"email": f"cold{n}@cold{n % 5000}.io", "first_name": "Bo", "title": "Engineer"}


def lead_requests(start: int, count: int, *, hot: bool, prefix: str = "") -> list[Request]:
    """Pre-signed, each a new lead (unique email, so no duplicate answers)."""
    now = int(time.time())
    out = []
    for n in range(start, start + count):
        body = lead_body(n, hot=hot)
        if prefix:
            body["email"] = prefix + body["email"]
        raw = json.dumps(body).encode()
        headers = {"Content-Type": "application/json", **signed_headers(WEBHOOK_SECRET, now, raw)}
        out.append(Request("/webhooks/leads", raw, headers))
    return out


def slack_request(form: dict[str, str]) -> Request:
    body = urlencode(form)
    ts = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature,
    }
    return Request("/slack/events", body.encode(), headers)


def claim_click(
    lead_id: int, user: str, channel: str, ts: str, response_url: str = "http://127.0.0.1:9/unused"
) -> Request:
    payload = {
        "type": "block_actions",
        "team": {"id": "T0BENCH", "domain": "bench"},
        "user": {"id": user, "username": user.lower(), "team_id": "T0BENCH"},
        "api_app_id": "A0HANDOFF",
        "token": "legacy",
        "trigger_id": f"trigger-{user}",
        "channel": {"id": channel, "name": "sales"},
        "container": {"type": "message", "channel_id": channel, "message_ts": ts},
        "message": {"ts": ts, "type": "message", "text": "card"},
        "response_url": response_url,
        "actions": [
            {
                "action_id": "lead_claim",
                "block_id": "actions",
                "type": "button",
                "value": str(lead_id),
                "action_ts": f"{time.time():.6f}",
            }
        ],
    }
    request = slack_request({"payload": json.dumps(payload)})
    request.headers["X-Bench-User"] = user
    return request


def slash_command(text: str, user: str, response_url: str) -> Request:
    return slack_request(
        {
            "token": "legacy",
            "team_id": "T0BENCH",
            "team_domain": "bench",
            "channel_id": "C0SALES",
            "channel_name": "sales",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/leads",
            "text": text,
            "api_app_id": "A0HANDOFF",
            "response_url": response_url,
            "trigger_id": f"trigger-{user}-command",
        }
    )


class LoadGenerator:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LoadGenerator:
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, request: Request, path: str | None = None) -> tuple[int, float]:
        assert self._session is not None
        started = time.perf_counter()
        async with self._session.post(
            self.base_url + (path or request.path), data=request.body, headers=request.headers
        ) as response:
            await response.read()
            return response.status, time.perf_counter() - started

    async def closed_loop(
        self,
        requests: Sequence[Request],
        concurrency: int,
        max_seconds: float,
        path: str | None = None,
    ) -> Run:
        """``concurrency`` clients send back to back until the requests or the time run out."""
        run = Run()
        source: Iterator[Request] = iter(requests)
        deadline = time.perf_counter() + max_seconds

        async def client() -> None:
            for request in source:
                if time.perf_counter() > deadline:
                    return
                await self._record(run, request, path, None)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        run.seconds = time.perf_counter() - started
        return run

    async def open_loop(
        self, requests: Sequence[Request], rate: float, path: str | None = None
    ) -> Run:
        """Send ``requests`` at ``rate`` per second, on schedule whatever the answers do."""
        run = Run()
        started = time.perf_counter()
        tasks = []
        for index, request in enumerate(requests):
            due = started + index / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self._record(run, request, path, due)))
        await asyncio.gather(*tasks)
        run.seconds = time.perf_counter() - started
        return run

    async def burst(self, requests: Sequence[Request], path: str | None = None) -> Run:
        """Every request at once (a storm of clicks)."""
        run = Run()
        started = time.perf_counter()
        await asyncio.gather(*(self._record(run, r, path, started) for r in requests))
        run.seconds = time.perf_counter() - started
        return run

    async def _record(
        self, run: Run, request: Request, path: str | None, scheduled: float | None
    ) -> None:
        try:
            status, took = await self.send(request, path)
        except (aiohttp.ClientError, TimeoutError):
            run.errors += 1
            return
        run.statuses[status] = run.statuses.get(status, 0) + 1
        if status >= 400:
            run.errors += 1
            return
        if scheduled is not None:
            took = time.perf_counter() - scheduled
        run.latencies.append(took)
