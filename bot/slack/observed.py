"""A Slack Web API client that reports every call's method and error (for metrics)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

# (method, error or None when the call succeeded)
CallObserver = Callable[[str, str | None], None]


class ObservedWebClient(AsyncWebClient):
    """Every Web API method, the outbox's raw ``api_call`` included, passes through here."""

    def __init__(self, *args: Any, observe: CallObserver, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._observe = observe

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        try:
            response = await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            self._observe(api_method, str(error or f"http_{exc.response.status_code}"))
            raise
        except Exception as exc:
            self._observe(api_method, type(exc).__name__)
            raise
        self._observe(api_method, None)
        return response


ListenerMiddleware = Callable[..., Awaitable[Any]]


def observe_listener_clients(observe: CallObserver) -> ListenerMiddleware:
    """A Bolt middleware: the client each listener receives reports its calls too.

    Bolt builds a fresh plain ``AsyncWebClient`` per request from our client's settings, so
    without this the calls listeners make themselves (views.open, files_upload_v2) would go
    uncounted.
    """

    async def middleware(context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> Any:
        client = context.client
        if client is not None and not isinstance(client, ObservedWebClient):
            context["client"] = ObservedWebClient(
                token=client.token,
                base_url=client.base_url,
                timeout=client.timeout,
                ssl=client.ssl,
                proxy=client.proxy,
                session=client.session,
                headers=client.headers,
                team_id=context.team_id,
                logger=client.logger,
                retry_handlers=client.retry_handlers,
                observe=observe,
            )
        return await next()

    return middleware
