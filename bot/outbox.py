"""Delivers queued outbox items: Slack Web API calls, lead cards and signed outbound webhooks.

Retries: 429 waits for ``Retry-After``; 5xx, timeouts and connection errors back off
exponentially (capped); Slack's permanent errors (``channel_not_found``, ``invalid_blocks`` …)
and 4xx webhook answers mark the item failed with the error; so does a transient failure that
lasts ``MAX_ATTEMPTS`` tries (hours, with the backoff cap). ``handoff replay --outbox`` lists
failed items and queues them again once the cause is fixed (say, the bot invited to a channel).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.signatures import signed_headers
from bot.storage.outbox import OutboxStore, QueuedItem

log = logging.getLogger(__name__)

SLACK = "slack"
CARD = "card"
WEBHOOK = "webhook"
FILE = "file"  # files_upload_v2: content travels base64-encoded in the payload
TRANSIENT_SLACK_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
# Longer than one Slack call may take (client timeout 10 s); a crashed worker's items wait this
# long before another worker takes them. A graceful stop hands them back at once.
LEASE = timedelta(seconds=30)
MAX_ATTEMPTS = 60


# Delivers one item: returns what to record as its result, or raises RetryAfter/PermanentError.
Sender = Callable[[QueuedItem], Awaitable[dict[str, Any] | None]]


class PermanentError(Exception):
    """Retrying will not help; the item is marked failed with this message."""


class RetryAfter(Exception):
    def __init__(self, seconds: float, reason: str) -> None:
        super().__init__(reason)
        self.seconds = seconds


class CardRenderer(Protocol):
    """Builds a lead card from the lead's current state at send time, and records the post."""

    async def render_card_call(
        self, lead_id: int, method: str, payload: dict[str, Any]
    ) -> dict[str, Any] | None: ...

    async def card_posted(
        self, lead_id: int, channel: str, ts: str, payload: dict[str, Any]
    ) -> None: ...

    async def render_home_call(self, user_id: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 1.0
    max_seconds: float = 300.0

    def delay(self, attempts: int) -> float:
        return float(min(self.base_seconds * 2 ** max(attempts - 1, 0), self.max_seconds))


class OutboxWorker:
    def __init__(
        self,
        store: OutboxStore,
        slack: AsyncWebClient | None,
        cards: CardRenderer,
        webhook_secret: str,
        clock: Clock,
        retry: RetryPolicy | None = None,
        http_timeout: float = 10.0,
        extra_senders: Mapping[str, Sender] | None = None,
    ) -> None:
        self._store = store
        self._slack = slack
        self._cards = cards
        self._webhook_secret = webhook_secret
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._in_flight: set[int] = set()
        self._http_timeout = http_timeout
        self._senders: dict[str, Sender] = {
            SLACK: self._send_slack,
            CARD: self._send_card,
            WEBHOOK: self._send_webhook,
            FILE: self._send_file,
            **(extra_senders or {}),  # HubSpot write-back, lifecycle event subscriptions
        }

    async def drain(self, batch: int = 20) -> int:
        items = await self._store.lease_due(self._clock(), LEASE, batch)
        self._in_flight = {item.id for item in items}
        for item in items:
            await self._deliver(item)
            self._in_flight.discard(item.id)
        return len(items)

    async def release_in_flight(self) -> None:
        """After a stop mid-batch: hand unfinished items back so a restart sends them at once."""
        if self._in_flight:
            await self._store.release(self._in_flight)
            self._in_flight = set()

    async def _deliver(self, item: QueuedItem) -> None:
        sender = self._senders.get(item.kind)
        try:
            if sender is None:
                raise PermanentError(f"unknown outbox kind {item.kind!r}")
            result = await sender(item)
        except RetryAfter as exc:
            if item.attempts >= MAX_ATTEMPTS:
                log.error(
                    "outbox #%s %s: giving up after %s tries: %s",
                    item.id,
                    item.method,
                    item.attempts,
                    exc,
                )
                await self._store.mark_failed(
                    item.id, f"gave up after {item.attempts} tries: {exc}", self._clock()
                )
                return
            at = self._clock() + timedelta(seconds=exc.seconds)
            log.info("outbox #%s %s: %s; retry in %.1f s", item.id, item.method, exc, exc.seconds)
            await self._store.retry_later(item.id, str(exc), at)
        except PermanentError as exc:
            log.error("outbox #%s %s failed for good: %s", item.id, item.method, exc)
            await self._store.mark_failed(item.id, str(exc), self._clock())
        except Exception as exc:
            # Anything else is a bug or an unknown failure: keep the item, back off, log loudly.
            log.exception("outbox #%s %s: unexpected error", item.id, item.method)
            at = self._clock() + timedelta(seconds=self._retry.delay(item.attempts))
            await self._store.retry_later(item.id, f"{type(exc).__name__}: {exc}", at)
        else:
            await self._store.mark_sent(item.id, result, self._clock())

    def _client(self) -> AsyncWebClient:
        if self._slack is None:
            raise RetryAfter(60, "Slack is not configured; waiting for tokens")
        return self._slack

    async def _call_slack(self, method: str, args: dict[str, Any], attempts: int) -> dict[str, Any]:
        try:
            response = await self._client().api_call(method, json=args)
        except SlackApiError as exc:
            self._raise_for_slack_error(exc, method, attempts)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            delay = self._retry.delay(attempts)
            raise RetryAfter(delay, f"{method}: {type(exc).__name__}: {exc}") from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def _send_file(self, item: QueuedItem) -> dict[str, Any] | None:
        payload = item.payload
        content = base64.b64decode(str(payload["content_b64"]))
        try:
            response = await self._client().files_upload_v2(
                channel=str(payload["channel"]),
                content=content,
                filename=str(payload["filename"]),
                title=str(payload.get("title") or payload["filename"]),
            )
        except SlackApiError as exc:
            self._raise_for_slack_error(exc, "files_upload_v2", item.attempts)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            delay = self._retry.delay(item.attempts)
            raise RetryAfter(delay, f"files_upload_v2: {type(exc).__name__}: {exc}") from None
        files = response.get("files") or [{}]
        return {"file_id": files[0].get("id")}

    def _raise_for_slack_error(self, exc: SlackApiError, method: str, attempts: int) -> NoReturn:
        status = exc.response.status_code
        error = str(exc.response.get("error", "")) if exc.response.data else ""
        if status == 429 or error == "ratelimited":
            retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
            raise RetryAfter(retry_after, f"Slack rate limit on {method}") from None
        if status >= 500 or error in TRANSIENT_SLACK_ERRORS:
            delay = self._retry.delay(attempts)
            raise RetryAfter(delay, f"Slack {status} {error} on {method}") from None
        raise PermanentError(f"Slack refused {method}: {error or status}") from None

    async def _send_slack(self, item: QueuedItem) -> dict[str, Any] | None:
        data = await self._call_slack(item.method, item.payload, item.attempts)
        return {"ts": data.get("ts"), "channel": data.get("channel")}

    async def _send_card(self, item: QueuedItem) -> dict[str, Any] | None:
        """Cards and Home tabs are rendered now, from the current state, never from a stale copy."""
        if item.method == "views.publish":
            home = await self._cards.render_home_call(str(item.payload["user_id"]))
            await self._call_slack(item.method, home, item.attempts)
            return {"user_id": item.payload["user_id"]}
        if item.lead_id is None:
            raise PermanentError("card item without a lead")
        args = await self._cards.render_card_call(item.lead_id, item.method, item.payload)
        if args is None:
            return {"skipped": "nothing to send"}
        data = await self._call_slack(item.method, args, item.attempts)
        if item.method == "chat.postMessage":
            await self._cards.card_posted(
                item.lead_id, str(data["channel"]), str(data["ts"]), item.payload
            )
        return {"ts": data.get("ts"), "channel": data.get("channel")}

    async def _send_webhook(self, item: QueuedItem) -> dict[str, Any] | None:
        url = str(item.payload["url"])
        body = json.dumps(item.payload["body"], separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Handoff",
            "X-Handoff-Event": item.method,
            "Idempotency-Key": f"outbox-{item.id}",
            **signed_headers(self._webhook_secret, int(self._clock().timestamp()), body),
        }
        timeout = aiohttp.ClientTimeout(total=self._http_timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.post(url, data=body, headers=headers) as response,
            ):
                status = response.status
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            delay = self._retry.delay(item.attempts)
            raise RetryAfter(delay, f"webhook {url}: {type(exc).__name__}: {exc}") from None
        if status == 429 or status >= 500:
            seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
            delay = seconds if seconds is not None else self._retry.delay(item.attempts)
            raise RetryAfter(delay, f"webhook {url} answered {status}")
        if status >= 400:
            raise PermanentError(f"webhook {url} refused with {status}")
        return {"status": status}
