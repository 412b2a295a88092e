"""POST /slack/events: every Slack request (events, actions, views, commands) enters here."""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.handlers.webhooks import json_error


class SlackEventsEndpoint:
    def __init__(self, bolt: AsyncApp | None) -> None:
        self._bolt = bolt

    def register(self, app: web.Application) -> None:
        app.router.add_post("/slack/events", self.handle_slack_request)

    async def handle_slack_request(self, request: web.Request) -> web.Response:
        if self._bolt is None:
            return json_error(
                503, "Slack is not configured: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET"
            )
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await self._bolt.async_dispatch(bolt_request))
