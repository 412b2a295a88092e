"""Factories for the Slack Web API client and the Bolt app, with every setting explicit."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.observed import CallObserver, ObservedWebClient

log = logging.getLogger(__name__)


def build_web_client(
    token: str, base_url: str, timeout: float = 10.0, observe: CallObserver | None = None
) -> AsyncWebClient:
    # No retry handlers: the outbox owns retries (and honours Retry-After) for every call that
    # changes something; interactive calls (views.open) must not wait past Slack's 3 s anyway.
    # The outbox sizes its leases from ``timeout``: no call outlives the lease it was made under.
    # slack_sdk annotates ``timeout`` as int; it goes to aiohttp.ClientTimeout, which takes float.
    if observe is not None:
        return ObservedWebClient(
            token=token,
            base_url=base_url,
            timeout=timeout,
            retry_handlers=[],
            observe=observe,
        )
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,  # type: ignore[arg-type]
        retry_handlers=[],
    )


def build_bolt_app(client: AsyncWebClient, signing_secret: str) -> AsyncApp:
    """Bolt reads SLACK_* variables when given nothing; we pass token, secret and client."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )

    @app.error
    async def handle_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack listener failed for %s", body.get("type", "?"), exc_info=error)

    return app
