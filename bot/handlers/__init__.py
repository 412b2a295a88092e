"""The routing table: every HTTP route, Slack action, command and view, on one screen."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from slack_bolt.async_app import AsyncApp

from bot.handlers.health import HealthHandlers
from bot.handlers.metrics import MetricsHandlers
from bot.handlers.openapi import OpenApiHandlers
from bot.handlers.slack_actions import SlackActionHandlers
from bot.handlers.slack_events import SlackEventsEndpoint
from bot.handlers.slash_commands import LeadsCommandHandlers
from bot.handlers.sources import SourceHandlers
from bot.handlers.webhooks import WebhookHandlers
from bot.slack.app import register_fallback_listeners


@dataclass(frozen=True)
class Handlers:
    health: HealthHandlers
    webhooks: WebhookHandlers
    slack_events: SlackEventsEndpoint
    slack_actions: SlackActionHandlers
    slash_commands: LeadsCommandHandlers
    metrics: MetricsHandlers | None = None
    sources: SourceHandlers | None = None
    openapi: OpenApiHandlers | None = None


def register_routes(app: web.Application, handlers: Handlers, bolt: AsyncApp | None) -> None:
    handlers.health.register(app)  # GET  /healthz
    if handlers.metrics is not None:
        handlers.metrics.register(app)  # GET  /metrics
    handlers.webhooks.register(app)  # POST /webhooks/leads, POST /webhooks/events
    if handlers.openapi is not None:
        handlers.openapi.register(app)  # GET /openapi.json
    handlers.slack_events.register(app)  # POST /slack/events (Bolt)
    if handlers.sources is not None:
        # POST /webhooks/hubspot, POST /webhooks/typeform, POST|OPTIONS /webhooks/forms/{form_id}
        handlers.sources.register(app)
    if bolt is not None:
        # Buttons lead_claim, lead_not_ready, lead_contacted, lead_snooze_*, lead_release,
        # lead_outcome, rep_pause, rep_resume; view not_ready_submit; events app_home_opened,
        # user_change.
        handlers.slack_actions.register(bolt)
        handlers.slash_commands.register(bolt)  # /leads
        register_fallback_listeners(bolt)  # last: anything else is acknowledged, not 404
