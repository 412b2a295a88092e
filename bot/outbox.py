"""Delivers queued outbox items: Slack Web API calls, lead cards and signed outbound webhooks.

Retries: 429 waits for ``Retry-After``; 5xx, timeouts and connection errors back off
exponentially (capped); Slack's permanent errors (``channel_not_found``, ``invalid_blocks`` …)
and 4xx webhook answers mark the item failed with the error; so does a transient failure that
lasts ``MAX_ATTEMPTS`` tries (hours, with the backoff cap). ``handoff replay --outbox`` lists
failed items and queues them again once the cause is fixed (say, the bot invited to a channel).

Exactly once across replicas: the worker renews its lease before every Slack call and
webhook, and stops (without marking anything) when another worker has taken the item over.
Leases are sized from the client timeouts, so no call can outlive the lease it was made under.
A lease taken less than ``LEASE_FRESH`` ago is not renewed: a renewal would extend it by at
most that much, and no other worker can have taken it over while it runs (that needs a clock
ahead of ours by nearly the whole lease, which the lease margin rules out anyway).

The remaining window is a call that timed out (or a crash) after Slack acted. Every
``chat.postMessage`` carries message metadata naming its outbox item; before posting again an
item whose previous outcome is unknown, the worker looks for that metadata in the channel's
recent history (or the thread's replies) and adopts the message it finds instead of posting a
second one. Without the history scopes it falls back to posting (at least once).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock
from bot.signatures import signed_headers
from bot.storage.errors import DATABASE_UNAVAILABLE
from bot.storage.outbox import OutboxStore, QueuedItem

log = logging.getLogger(__name__)

SLACK = "slack"
CARD = "card"
WEBHOOK = "webhook"
FILE = "file"  # files_upload_v2: content travels base64-encoded in the payload
TRANSIENT_SLACK_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
MAX_ATTEMPTS = 60
# A timeout or a dropped connection after the request left: Slack may have acted. Stored at the
# head of the item's last_error, so the next attempt (maybe on another replica) looks first.
OUTCOME_UNKNOWN = "outcome unknown: "
METADATA_EVENT_TYPES = {CARD: "handoff_card", SLACK: "handoff_message"}
DM_EVENT_TYPE = "handoff_dm"
# How far back a re-post looks for its own earlier message: pages of history, newest first,
# back to a little before the item was queued (replicas' clocks and Slack's may differ).
HISTORY_PAGE = 200
HISTORY_PAGES = 5
HISTORY_SKEW = timedelta(minutes=10)
LEASE_FRESH = timedelta(seconds=0.5)  # a lease younger than this is as good as renewed
BATCH = 20  # items leased per round


def lease_for(call_timeout_seconds: float, calls: int = 1) -> timedelta:
    """A lease renewed before a step of ``calls`` requests outlasts all of them at their
    timeout, with as much again for the database writes around them and clock skew between
    replicas. A crashed worker's items wait this long; a graceful stop hands them back at once.
    """
    return timedelta(seconds=2 * call_timeout_seconds * calls + 5)


class LeaseLost(Exception):
    """Another worker took the item over (this one's lease ran out): send nothing, mark nothing."""


@dataclass(frozen=True)
class Sent:
    """A sender's result, and what the send taught us (a card's message ts) to record in the
    transaction that marks the item sent."""

    result: dict[str, Any] | None
    record: Callable[[], Awaitable[None]]


# Delivers one item: returns what to record as its result, or raises RetryAfter/PermanentError.
Sender = Callable[[QueuedItem], Awaitable[dict[str, Any] | Sent | None]]


class PermanentError(Exception):
    """Retrying will not help; the item is marked failed with this message."""


class RetryAfter(Exception):
    def __init__(self, seconds: float, reason: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(OUTCOME_UNKNOWN + reason if outcome_unknown else reason)
        self.seconds = seconds


class CardRenderer(Protocol):
    """Builds a lead card from the lead's current state at send time, and records the post.

    ``prefetch`` runs in the lease's transaction with the items just leased: it may read what
    their rendering needs, so that costs no round trip of its own (read moments before the
    send, never a copy from the time the item was queued)."""

    async def prefetch(self, items: Sequence[QueuedItem]) -> None: ...

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
        concurrency: int = 4,
        extra_senders: Mapping[str, Sender] | None = None,
    ) -> None:
        self._store = store
        self._slack = slack
        self._cards = cards
        self._webhook_secret = webhook_secret
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._in_flight: dict[int, QueuedItem] = {}
        self._concurrency = concurrency
        self._http_timeout = http_timeout
        slack_timeout = float(slack.timeout) if slack is not None else http_timeout
        self._lease = lease_for(max(slack_timeout, http_timeout))
        # files_upload_v2 makes three requests (URL, upload, complete) under one renewal.
        self._file_lease = lease_for(slack_timeout, calls=3)
        self._senders: dict[str, Sender] = {
            SLACK: self._send_slack,
            CARD: self._send_card,
            WEBHOOK: self._send_webhook,
            FILE: self._send_file,
            **(extra_senders or {}),  # HubSpot write-back, lifecycle event subscriptions
        }

    @property
    def lease(self) -> timedelta:
        return self._lease

    async def drain(self, batch: int = BATCH) -> int:
        """Deliver one leased batch, a few items at a time; returns how many were leased."""
        return len(await self._drain(batch))

    async def drain_round(self) -> bool:
        """One round for the queue worker; True when more may be due at once: the batch was
        full, or an item's lead has another item queued behind it."""
        items = await self._drain(BATCH)
        return len(items) >= BATCH or any(item.followed for item in items)

    async def _drain(self, batch: int) -> list[QueuedItem]:
        """A batch holds at most one item per lead, so delivering its items side by side keeps
        each lead's order; a slow Slack then costs one call's delay per ``concurrency`` items
        instead of per item."""
        items = await self._store.lease_due(
            self._clock(), self._lease, batch, then=self._cards.prefetch
        )
        self._in_flight = {item.id: item for item in items}
        gate = asyncio.Semaphore(self._concurrency)

        async def deliver(item: QueuedItem) -> None:
            async with gate:
                await self._deliver(item)
                self._in_flight.pop(item.id, None)

        results = await asyncio.gather(*(deliver(item) for item in items), return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            raise errors[0]  # e.g. the database went away: the worker logs it and retries
        return items

    async def release_in_flight(self) -> None:
        """After a stop mid-batch: hand unfinished items back so a restart sends them at once."""
        if self._in_flight:
            await self._store.release(self._in_flight.values())
            self._in_flight = {}

    async def _hold(self, item: QueuedItem, lease: timedelta | None = None) -> None:
        """Renew the lease right before a call, unless it is fresh; the call then cannot
        outlive it."""
        lease = lease or self._lease
        now = self._clock()
        if item.leased_until is not None and item.leased_until - now >= lease - LEASE_FRESH:
            return
        if not await self._store.renew(item, now, lease):
            raise LeaseLost(f"outbox #{item.id}: lease taken over by another worker")

    async def _deliver(self, item: QueuedItem) -> None:
        sender = self._senders.get(item.kind)
        try:
            if sender is None:
                raise PermanentError(f"unknown outbox kind {item.kind!r}")
            outcome = await sender(item)
        except LeaseLost as exc:
            log.warning("%s; leaving it to that worker", exc)
        except RetryAfter as exc:
            if item.attempts >= MAX_ATTEMPTS:
                log.error(
                    "outbox #%s %s: giving up after %s tries: %s",
                    item.id,
                    item.method,
                    item.attempts,
                    exc,
                )
                self._lost_race(
                    item,
                    await self._store.mark_failed(
                        item, f"gave up after {item.attempts} tries: {exc}", self._clock()
                    ),
                )
                return
            at = self._clock() + timedelta(seconds=exc.seconds)
            log.info("outbox #%s %s: %s; retry in %.1f s", item.id, item.method, exc, exc.seconds)
            self._lost_race(item, await self._store.retry_later(item, str(exc), at))
        except PermanentError as exc:
            log.error("outbox #%s %s failed for good: %s", item.id, item.method, exc)
            self._lost_race(item, await self._store.mark_failed(item, str(exc), self._clock()))
        except Exception as exc:
            # Anything else is a bug or an unknown failure: keep the item, back off, log loudly.
            log.exception("outbox #%s %s: unexpected error", item.id, item.method)
            at = self._clock() + timedelta(seconds=self._retry.delay(item.attempts))
            error = f"{OUTCOME_UNKNOWN}{type(exc).__name__}: {exc}"
            self._lost_race(item, await self._store.retry_later(item, error, at))
        else:
            await self._mark_sent(item, outcome)

    async def _mark_sent(self, item: QueuedItem, outcome: dict[str, Any] | Sent | None) -> None:
        if not isinstance(outcome, Sent):
            self._lost_race(item, await self._store.mark_sent(item, outcome, self._clock()))
            return
        try:
            marked = await self._store.mark_sent(
                item, outcome.result, self._clock(), record=outcome.record
            )
        except DATABASE_UNAVAILABLE:
            raise  # the lease runs out; the next attempt looks for the message first
        except Exception as exc:
            # Sent, but recording it failed: retry soon; the next attempt finds the message.
            log.exception("outbox #%s %s: recording the post failed", item.id, item.method)
            at = self._clock() + timedelta(seconds=self._retry.delay(item.attempts))
            error = f"{OUTCOME_UNKNOWN}{type(exc).__name__}: {exc}"
            self._lost_race(item, await self._store.retry_later(item, error, at))
            return
        self._lost_race(item, marked)

    @staticmethod
    def _lost_race(item: QueuedItem, marked: bool) -> None:
        if not marked:
            # Only possible when the database was slower than the lease margin: the other
            # worker now owns the outcome.
            log.warning(
                "outbox #%s %s: lease lost before its outcome was saved", item.id, item.method
            )

    def _client(self) -> AsyncWebClient:
        if self._slack is None:
            raise RetryAfter(60, "Slack is not configured; waiting for tokens")
        return self._slack

    async def _call_slack(
        self, item: QueuedItem, method: str, args: dict[str, Any]
    ) -> dict[str, Any]:
        client = self._client()
        await self._hold(item)
        try:
            response = await client.api_call(method, json=args)
        except SlackApiError as exc:
            self._raise_for_slack_error(exc, method, item.attempts)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._raise_for_connection_error(exc, method, item.attempts)
        return dict(response.data) if isinstance(response.data, dict) else {}

    def _raise_for_connection_error(self, exc: Exception, method: str, attempts: int) -> NoReturn:
        delay = self._retry.delay(attempts)
        # Refused before connecting: nothing reached Slack. Anything later may have.
        unknown = not isinstance(exc, aiohttp.ClientConnectorError)
        raise RetryAfter(
            delay, f"{method}: {type(exc).__name__}: {exc}", outcome_unknown=unknown
        ) from None

    @staticmethod
    def _outcome_unknown(item: QueuedItem) -> bool:
        """A previous attempt may have posted: it timed out, or its worker stopped mid-call."""
        return item.attempts > 1 and (
            item.last_error is None or item.last_error.startswith(OUTCOME_UNKNOWN)
        )

    def _metadata(self, item: QueuedItem) -> dict[str, Any]:
        dm = "dm_to" in item.payload or "offer_to" in item.payload
        event_payload: dict[str, Any] = {"outbox_item": item.id}
        if item.lead_id is not None:
            event_payload["lead_id"] = item.lead_id
        if item.dedupe_key:
            event_payload["key"] = item.dedupe_key  # e.g. card:<lead>:<cycle>
        return {
            "event_type": DM_EVENT_TYPE if dm else METADATA_EVENT_TYPES.get(item.kind, "handoff"),
            "event_payload": event_payload,
        }

    async def _post(self, item: QueuedItem, args: dict[str, Any]) -> dict[str, Any]:
        """chat.postMessage, at most once as far as Slack lets us tell (see module docstring)."""
        args = {**args, "metadata": self._metadata(item)}
        if self._outcome_unknown(item):
            found = await self._find_posted(item, args)
            if found is not None:
                log.info(
                    "outbox #%s: adopted message %s in %s posted by an earlier attempt",
                    item.id,
                    found["ts"],
                    found["channel"],
                )
                return found
        return await self._call_slack(item, "chat.postMessage", args)

    async def _find_posted(self, item: QueuedItem, args: dict[str, Any]) -> dict[str, Any] | None:
        """This item's earlier message in the channel (or thread), if Slack shows one."""
        client = self._client()
        channel = str(args.get("channel", ""))
        thread_ts = args.get("thread_ts")
        oldest = (item.created_at - HISTORY_SKEW).timestamp() if item.created_at else 0.0
        try:
            if channel.startswith(("U", "W")):  # a DM posted to a user ID: find its channel
                await self._hold(item)
                opened = await client.conversations_open(users=channel)
                channel = str(opened["channel"]["id"])
            cursor: str | None = None
            for _ in range(HISTORY_PAGES):
                page_args: dict[str, Any] = {
                    "channel": channel,
                    "limit": HISTORY_PAGE,
                    "include_all_metadata": True,
                    "oldest": f"{oldest:.6f}",
                }
                if cursor:
                    page_args["cursor"] = cursor
                await self._hold(item)  # every call under a fresh lease, as for posts
                if thread_ts:
                    page = await client.conversations_replies(ts=str(thread_ts), **page_args)
                else:
                    page = await client.conversations_history(**page_args)
                for message in page.get("messages") or []:
                    metadata = message.get("metadata") or {}
                    if (metadata.get("event_payload") or {}).get("outbox_item") == item.id:
                        return {"ts": message["ts"], "channel": channel, "adopted": True}
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not page.get("has_more") or not cursor:
                    return None
        except SlackApiError as exc:
            error = str(exc.response.get("error", "")) if exc.response.data else ""
            if exc.response.status_code == 429 or error == "ratelimited":
                # Keep the item "unknown" so the next attempt looks again before posting.
                retry_after = float(exc.response.headers.get("Retry-After", "1") or 1)
                raise RetryAfter(
                    retry_after, "Slack rate limit on history lookup", outcome_unknown=True
                ) from None
            # missing_scope, not_in_channel…: Slack will not tell us, so post (at least once).
            log.warning(
                "outbox #%s: cannot read %s to avoid a repeat (%s); posting again",
                item.id,
                channel,
                error or exc.response.status_code,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RetryAfter(
                self._retry.delay(item.attempts),
                f"history lookup: {type(exc).__name__}: {exc}",
                outcome_unknown=True,
            ) from None
        return None

    async def _send_file(self, item: QueuedItem) -> dict[str, Any] | None:
        payload = item.payload
        content = base64.b64decode(str(payload["content_b64"]))
        client = self._client()
        await self._hold(item, self._file_lease)
        try:
            response = await client.files_upload_v2(
                channel=str(payload["channel"]),
                content=content,
                filename=str(payload["filename"]),
                title=str(payload.get("title") or payload["filename"]),
            )
        except SlackApiError as exc:
            self._raise_for_slack_error(exc, "files_upload_v2", item.attempts)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self._raise_for_connection_error(exc, "files_upload_v2", item.attempts)
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
        if item.method == "chat.postMessage":
            data = await self._post(item, item.payload)
        else:
            data = await self._call_slack(item, item.method, item.payload)
        return {"ts": data.get("ts"), "channel": data.get("channel")}

    async def _send_card(self, item: QueuedItem) -> dict[str, Any] | Sent | None:
        """Cards and Home tabs are rendered now, from the current state, never from a stale copy."""
        if item.method == "views.publish":
            home = await self._cards.render_home_call(str(item.payload["user_id"]))
            await self._call_slack(item, item.method, home)
            return {"user_id": item.payload["user_id"]}
        if item.lead_id is None:
            raise PermanentError("card item without a lead")
        args = await self._cards.render_card_call(item.lead_id, item.method, item.payload)
        if args is None:
            return {"skipped": "nothing to send"}
        if item.method != "chat.postMessage":
            data = await self._call_slack(item, item.method, args)
            return {"ts": data.get("ts"), "channel": data.get("channel")}
        data = await self._post(item, args)
        lead_id, channel, ts = item.lead_id, str(data["channel"]), str(data["ts"])

        async def record() -> None:
            await self._cards.card_posted(lead_id, channel, ts, item.payload)

        return Sent({"ts": data.get("ts"), "channel": data.get("channel")}, record)

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
        await self._hold(item)
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
