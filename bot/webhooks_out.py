"""The outbox sender for lifecycle events: signed per subscription, endpoint health kept.

Each event goes to one subscriber, signed like every Handoff webhook (`X-Handoff-Timestamp`,
`X-Handoff-Signature`) with that subscription's secret, with the event id as `Idempotency-Key`.
An endpoint that has failed for `FAILING_AFTER` is marked failing and managers are told once in
Slack; its events keep being retried with backoff, and the first success marks it fine again
(managers are told it is back).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import aiohttp

from bot.clock import Clock
from bot.outbox import SLACK, PermanentError, RetryAfter, RetryPolicy
from bot.signatures import signed_headers
from bot.slack import report_blocks
from bot.storage.crm import CrmStore
from bot.storage.outbox import NewItem, OutboxStore, QueuedItem

log = logging.getLogger(__name__)

EVENT = "event"  # outbox kind
FAILING_AFTER = timedelta(hours=1)
EVENT_ID_HEADER = "X-Handoff-Event-Id"


class EventSender:
    def __init__(
        self,
        secrets: Mapping[str, str],
        store: CrmStore,
        outbox: OutboxStore,
        notify_channels: list[str],
        clock: Clock,
        retry: RetryPolicy | None = None,
        http_timeout: float = 10.0,
        failing_after: timedelta = FAILING_AFTER,
    ) -> None:
        self._secrets = secrets
        self._store = store
        self._outbox = outbox
        self._notify = notify_channels
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._timeout = aiohttp.ClientTimeout(total=http_timeout)
        self._failing_after = failing_after

    async def send(self, item: QueuedItem) -> dict[str, Any] | None:
        payload = item.payload
        name, url = str(payload["subscription"]), str(payload["url"])
        secret = self._secrets.get(name)
        if secret is None:
            raise PermanentError(f"subscription {name!r} is no longer configured")
        body = json.dumps(payload["body"], separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Handoff",
            "X-Handoff-Event": item.method,
            "Idempotency-Key": str(payload["event_id"]),
            EVENT_ID_HEADER: str(payload["event_id"]),
            **signed_headers(secret, int(self._clock().timestamp()), body),
        }
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.post(url, data=body, headers=headers) as response,
            ):
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
            await self._failed(name, url, problem)
            raise RetryAfter(self._retry.delay(item.attempts), f"{name}: {problem}") from None
        if status >= 300:
            await self._failed(name, url, f"answered {status}")
            if status == 429 or status >= 500:
                seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
                delay = seconds if seconds is not None else self._retry.delay(item.attempts)
                raise RetryAfter(delay, f"{name} answered {status}")
            raise PermanentError(f"{name} refused {item.method} with {status}")
        recovered = await self._store.record_success(name, url, self._clock())
        if recovered is not None and recovered.marked_failing_at is not None:
            log.info("webhook endpoint %s answers again", name)
            message = report_blocks.build_endpoint_resumed_message(name, url)
            await self._tell_managers(message, f"endpoint-ok:{name}:{recovered.marked_failing_at}")
        return {"status": status, "subscription": name}

    async def _failed(self, name: str, url: str, problem: str) -> None:
        now = self._clock()
        health = await self._store.record_failure(name, url, problem, now)
        if not await self._store.mark_failing(name, self._failing_after, now):
            return
        log.warning("webhook endpoint %s failing since %s: %s", name, health.failing_since, problem)
        message = report_blocks.build_endpoint_failing_message(
            name, url, health.failing_since or now, problem
        )
        await self._tell_managers(message, f"endpoint-failing:{name}:{health.failing_since}")

    async def _tell_managers(self, message: dict[str, Any], key: str) -> None:
        for channel in self._notify:
            await self._outbox.enqueue(
                NewItem(
                    SLACK,
                    "chat.postMessage",
                    {"channel": channel, **message},
                    dedupe_key=f"{key}:{channel}",
                ),
                self._clock(),
            )
