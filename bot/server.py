"""Composition root: builds every service from settings, config and a clock; runs the app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from bot.clock import Clock, system_clock
from bot.config import ConfigError, HandoffConfig, Settings
from bot.handlers import Handlers, register_routes
from bot.handlers.health import HealthHandlers
from bot.handlers.webhooks import MAX_BODY_BYTES, WebhookHandlers, json_error
from bot.services.ingest import IngestService, ScoringPolicy
from bot.storage.database import check_database, open_database
from bot.storage.deliveries import DeliveryStore
from bot.storage.errors import DATABASE_UNAVAILABLE
from bot.storage.leads import LeadStore
from bot.workers import QueueWorker

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Runtime:
    """What the running app holds: services and the background workers that drain queues."""

    ingest: IngestService
    workers: list[QueueWorker] = field(default_factory=list)


RUNTIME = web.AppKey("runtime", Runtime)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except DATABASE_UNAVAILABLE as exc:
        log.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
        return json_error(503, "database unavailable, retry later", retry_after_seconds=5)
    except Exception:
        log.exception("unexpected error for %s %s", request.method, request.path)
        return json_error(500, "internal error; the delivery was not accepted, retry later")


def scoring_policy(config: HandoffConfig) -> ScoringPolicy:
    return ScoringPolicy(
        rules=config.scoring,
        hot_threshold=config.hot_threshold,
        strong_signals=frozenset(config.returns.strong_signals),
        event_window=config.event_window,
    )


def build_app(
    settings: Settings,
    config: HandoffConfig,
    clock: Clock = system_clock,
    *,
    poll_seconds: float = 1.0,
) -> web.Application:
    if not settings.webhook_secret:
        raise ConfigError("HANDOFF_WEBHOOK_SECRET: required to verify inbound webhooks")
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[error_middleware])

    deliveries = DeliveryStore()
    leads = LeadStore()
    ingest = IngestService(deliveries, leads, scoring_policy(config), clock)
    delivery_worker = QueueWorker("deliveries", ingest.process_due, poll_seconds)
    runtime = Runtime(ingest=ingest, workers=[delivery_worker])
    app[RUNTIME] = runtime

    async def database_ctx(_: web.Application) -> AsyncIterator[None]:
        async with open_database(settings.database_url):
            yield

    async def workers_ctx(_: web.Application) -> AsyncIterator[None]:
        for worker in runtime.workers:
            worker.start()
        yield
        for worker in runtime.workers:
            await worker.stop()

    # Order matters: the ORM must be up before anything that queries it starts.
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(workers_ctx)

    register_routes(
        app,
        Handlers(
            health=HealthHandlers(check_database),
            webhooks=WebhookHandlers(
                ingest, settings.webhook_secret, clock, kick_worker=delivery_worker.kick
            ),
        ),
    )
    return app


def serve(settings: Settings, config: HandoffConfig) -> None:
    app = build_app(settings, config)
    if not settings.slack_enabled:
        log.warning(
            "SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET not set: ingesting and scoring only, "
            "no Slack cards"
        )
    web.run_app(app, host=settings.host, port=settings.port, shutdown_timeout=10)


async def replay_failed(settings: Settings, config: HandoffConfig, *, list_only: bool) -> str:
    """Reprocess deliveries that failed (after a fix), or list them with their errors."""
    async with open_database(settings.database_url):
        deliveries = DeliveryStore()
        failed = await deliveries.list_failed(limit=1000)
        if list_only or not failed:
            lines = [f"{len(failed)} failed delivery(ies)"]
            lines += [f"  #{delivery_id} {kind}: {error}" for delivery_id, kind, error in failed]
            return "\n".join(lines)
        requeued = await deliveries.requeue_failed()
        ingest = IngestService(deliveries, LeadStore(), scoring_policy(config), system_clock)
        processed = await ingest.process_due()
        still = await deliveries.count_by_status()
        return (
            f"requeued {requeued}, processed {processed}, still failed {still['failed']}"
        )
