"""The routing table: every HTTP route, Slack action, command and view, on one screen."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from bot.handlers.health import HealthHandlers
from bot.handlers.webhooks import WebhookHandlers


@dataclass(frozen=True)
class Handlers:
    health: HealthHandlers
    webhooks: WebhookHandlers


def register_routes(app: web.Application, handlers: Handlers) -> None:
    handlers.health.register(app)  # GET  /healthz
    handlers.webhooks.register(app)  # POST /webhooks/leads, POST /webhooks/events
