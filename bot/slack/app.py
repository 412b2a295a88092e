"""Factories for the Slack Web API client and the Bolt app, with every setting explicit.

The Bolt app holds the one error handler for Slack requests: a listener that raises is logged
with its traceback, and the person who clicked or typed is told that nothing was changed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.observed import CallObserver, ObservedWebClient

log = logging.getLogger(__name__)

SOMETHING_WENT_WRONG = (
    "Sorry, something went wrong on our side and nothing was changed. "
    "Please try again in a minute; if it keeps happening, tell your Handoff admin."
)


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


class _KeptAck(AsyncAck):
    """An ack whose answer, once given, stays given.

    Bolt 1.30's async runner sets ``ack.response = None`` when a listener raises after
    ``ack()``. If the request has not read the answer yet (it polls every 10 ms), it then waits
    out the 3 s ack timeout and answers Slack 404, and the person sees an error for a click
    that was acknowledged.
    """

    _kept: BoltResponse | None

    def __init__(self) -> None:
        self._kept = None

    @property
    def response(self) -> BoltResponse | None:
        return self._kept

    @response.setter
    def response(self, value: BoltResponse | None) -> None:
        if value is not None or self._kept is None:
            self._kept = value


def _clean(text: str) -> str:
    text = text.replace("\x00", "")  # PostgreSQL text cannot hold NUL either
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "".join("\ufffd" if "\ud800" <= ch <= "\udfff" else ch for ch in text)
    return text


def repair_in_place(node: Any) -> None:
    if isinstance(node, dict):
        for key in list(node):
            value = node.pop(key)
            node[_clean(key) if isinstance(key, str) else key] = (
                _clean(value) if isinstance(value, str) else value
            )
            repair_in_place(value)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            if isinstance(value, str):
                node[index] = _clean(value)
            else:
                repair_in_place(value)


def _where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(user, channel) of a Slack request, whichever shape it has."""
    user = (body.get("user") or {}).get("id") or body.get("user_id")
    channel = (
        (body.get("channel") or {}).get("id")
        or (body.get("container") or {}).get("channel_id")
        or body.get("channel_id")
    )
    return (str(user) if user else None), (str(channel) if channel else None)


def describe_request(body: dict[str, Any]) -> str:
    """What the request was, for the log: its type and the action, view or command."""
    kind = str(body.get("type") or ("slash_command" if "command" in body else "event"))
    actions = body.get("actions") or [{}]
    detail = (
        body.get("command")
        or (actions[0] or {}).get("action_id")
        or (body.get("view") or {}).get("callback_id")
        or (body.get("event") or {}).get("type")
    )
    return f"{kind} {detail}" if detail else kind


async def tell_something_went_wrong(
    client: AsyncWebClient,
    body: dict[str, Any],
    respond: Callable[..., Awaitable[Any]] | None,
) -> None:
    """Leave the person an ephemeral note where they acted; events have nobody to tell."""
    user, channel = _where(body)
    message = blocks.build_notice(SOMETHING_WENT_WRONG)
    try:
        if "command" in body and respond is not None:
            await respond(**message, response_type="ephemeral", replace_original=False)
        elif user and channel and body.get("type") == "block_actions":
            await client.chat_postEphemeral(channel=channel, user=user, **message)
        elif respond is not None:
            await respond(**message, response_type="ephemeral", replace_original=False)
        elif user and body.get("type") in ("block_actions", "view_submission", "shortcut"):
            await client.chat_postMessage(channel=user, **message)  # App Home or a modal: DM
    except Exception:  # the note is a courtesy; the failure itself is logged already
        log.warning("could not tell %s that their request failed", user, exc_info=True)


def register_fallback_listeners(app: AsyncApp) -> None:
    """Last in the routing table: anything no listener took is still acknowledged.

    Bolt answers an unhandled request 404, so Slack shows the person an error for an old
    button, and retries (then disables) an event subscription nobody handles.
    """

    async def acknowledge(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        log.info("no listener for %s; acknowledged", describe_request(body))

    anything = re.compile(".*")
    app.action(anything)(acknowledge)
    app.view(anything)(acknowledge)
    app.shortcut(anything)(acknowledge)
    app.command(anything)(acknowledge)
    app.event(anything)(acknowledge)


def build_bolt_app(client: AsyncWebClient, signing_secret: str) -> AsyncApp:
    """Bolt reads SLACK_* variables when given nothing; we pass token, secret and client."""
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )

    @app.middleware
    async def keep_acks(context: AsyncBoltContext, next: Callable[[], Awaitable[Any]]) -> Any:
        context["ack"] = _KeptAck()
        return await next()

    @app.middleware
    async def repair_unicode(body: dict[str, Any], next: Callable[[], Awaitable[Any]]) -> Any:
        # A JSON "\ud800" escape parses to a lone surrogate and "\u0000" to NUL, which
        # PostgreSQL cannot take as a query parameter; listeners see U+FFFD / nothing instead.
        repair_in_place(body)
        return await next()

    @app.error
    async def handle_error(
        error: Exception, body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        log.error("Slack listener failed for %s", describe_request(body), exc_info=error)
        respond = context.respond if context.response_url else None
        await tell_something_went_wrong(client, body, respond)

    return app
