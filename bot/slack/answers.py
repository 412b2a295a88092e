"""Answers to a person's click: "Already claimed by @ana", "Snoozed until 09:00", a refusal.

An answer goes to the click's ``response_url`` first: it lands where the person clicked, needs
no channel membership, and is not counted against the Web API's rate limits, so a storm of 200
Claim clicks cannot spend the bot's ``chat.postEphemeral`` budget. Without one (a button in the
App Home tab), or when it fails, the answer is an ephemeral in the clicked channel, else a DM.
An answer is feedback only: the state it describes is already committed, so nothing retries it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

log = logging.getLogger(__name__)

RESPONSE_URL_TIMEOUT_SECONDS = 5
# Answers sent at once; a storm's answers queue here instead of opening 200 connections.
CONCURRENT_ANSWERS = 8


@dataclass(frozen=True)
class Clicked:
    """Who clicked, and where their answer belongs."""

    user: str
    channel: str | None = None
    response_url: str | None = None

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Clicked:
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        url = body.get("response_url")
        return cls(
            str(body["user"]["id"]),
            str(channel) if channel else None,
            url if isinstance(url, str) and url.startswith(("https://", "http://")) else None,
        )


class ClickAnswers:
    def __init__(self, client: AsyncWebClient | None) -> None:
        # None: Slack is not configured, so no click can arrive to be answered.
        self._client = client
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(CONCURRENT_ANSWERS)

    async def deliver(self, clicked: Clicked, message: dict[str, Any]) -> None:
        async with self._slots:
            if clicked.response_url and await self._respond(clicked.response_url, message):
                return
            await self._post(clicked, message)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _respond(self, url: str, message: dict[str, Any]) -> bool:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        webhook = AsyncWebhookClient(
            url, timeout=RESPONSE_URL_TIMEOUT_SECONDS, session=self._session
        )
        try:
            response = await webhook.send(
                text=str(message.get("text", "")),
                blocks=message.get("blocks"),
                response_type="ephemeral",
                replace_original=False,
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("response_url answer failed (%s); answering through the Web API", exc)
            return False
        if response.status_code != 200:
            log.warning(
                "response_url answered %s %r; answering through the Web API",
                response.status_code,
                response.body[:200],
            )
            return False
        return True

    async def _post(self, clicked: Clicked, message: dict[str, Any]) -> None:
        if self._client is None:
            return
        try:
            if clicked.channel:
                await self._client.chat_postEphemeral(
                    channel=clicked.channel, user=clicked.user, **message
                )
            else:
                await self._client.chat_postMessage(channel=clicked.user, **message)
        except SlackApiError as exc:
            log.warning(
                "could not tell %s %r: %s",
                clicked.user,
                message.get("text"),
                exc.response.get("error"),
            )
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.warning("could not tell %s %r: %s", clicked.user, message.get("text"), exc)
