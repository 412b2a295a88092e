"""Composition root: builds every service from settings, config and a clock; runs the app."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.log import access_logger
from slack_bolt.async_app import AsyncApp

from bot.clock import Clock, system_clock
from bot.config import ConfigError, HandoffConfig, Settings
from bot.crm.hubspot import HubSpotClient
from bot.faults import Faults, parse_faults
from bot.handlers import Handlers, register_routes
from bot.handlers.health import HealthHandlers
from bot.handlers.metrics import MetricsHandlers
from bot.handlers.request_id import request_id_middleware
from bot.handlers.slack_actions import SlackActionHandlers
from bot.handlers.slack_events import SlackEventsEndpoint
from bot.handlers.slash_commands import LeadsCommandHandlers
from bot.handlers.sources import SourceHandlers, SourceSecrets
from bot.handlers.webhooks import MAX_BODY_BYTES, WebhookHandlers, json_error
from bot.metrics import Metrics
from bot.outbox import OutboxWorker, RetryPolicy
from bot.scheduler import Job, Scheduler, sweep_jobs
from bot.services.access import Access
from bot.services.availability import AvailabilityService
from bot.services.cards import LeadCards
from bot.services.claims import ClaimsService
from bot.services.digests import DigestService
from bot.services.ingest import IngestService, ScoringPolicy
from bot.services.nudges import SlaSweepService
from bot.services.privacy import PrivacyService
from bot.services.repair import RepairService
from bot.services.reports import ReportsService
from bot.services.rescoring import RescoringService
from bot.services.returns import ReturnsService
from bot.services.routing import RoutingService
from bot.services.sources import SourceIntake
from bot.slack.app import build_bolt_app, build_web_client
from bot.slack.directory import ManagerGroup
from bot.slack.observed import observe_listener_clients
from bot.storage.audit import install_transition_log
from bot.storage.database import check_database, open_database
from bot.storage.deliveries import DeliveryStore
from bot.storage.errors import DATABASE_UNAVAILABLE
from bot.storage.leads import LeadStore
from bot.storage.metrics import MetricsStore
from bot.storage.nudges import NudgeStore
from bot.storage.outbox import OutboxStore
from bot.storage.privacy import PrivacyStore
from bot.storage.reports import ReportStore
from bot.storage.reps import RepStore
from bot.workers import QueueWorker

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Runtime:
    """What the running app holds: services and the background workers that drain queues."""

    ingest: IngestService
    routing: RoutingService
    claims: ClaimsService
    workers: list[QueueWorker] = field(default_factory=list)
    digests: DigestService | None = None


RUNTIME = web.AppKey("runtime", Runtime)
# Deliveries arriving within this long of each other are processed as one batch.
DELIVERY_LINGER_SECONDS = 0.02


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


def report_timezone(config: HandoffConfig) -> tzinfo:
    """Report days ("today", daily chart bars) follow the sales team's business-hours zone."""
    hours = config.business_hours
    return ZoneInfo(hours.timezone) if hours is not None and hours.timezone else UTC


def build_app(
    settings: Settings,
    config: HandoffConfig,
    clock: Clock = system_clock,
    *,
    poll_seconds: float = 1.0,
    retry: RetryPolicy | None = None,
    sweep_seconds: float | None = None,
) -> web.Application:
    if not settings.webhook_secret:
        raise ConfigError("HANDOFF_WEBHOOK_SECRET: required to verify inbound webhooks")
    metrics = Metrics(settings.metrics_multiprocess_dir)
    install_transition_log()  # one INFO line per lead state change, from the audit table
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        # Outermost first: the request id covers every line; metrics see the final status.
        middlewares=[request_id_middleware, metrics.webhook_middleware, error_middleware],
    )

    try:
        faults = Faults(parse_faults(settings.faults))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if faults.armed:
        log.warning("test fault points armed: %s", ", ".join(faults.armed))
    deliveries = DeliveryStore()
    leads = LeadStore(faults)
    outbox = OutboxStore()
    slack_client = (
        build_web_client(
            settings.slack_bot_token,
            settings.slack_api_url,
            settings.slack_timeout_seconds,
            observe=metrics.observe_slack_call,
        )
        if settings.slack_bot_token
        else None
    )
    reps = RepStore()
    access = Access(config)
    if slack_client is not None and config.manager_group:
        access.set_manager_group(ManagerGroup(slack_client, config.manager_group, clock).members)
    cards = LeadCards(leads, reps, outbox, clock)
    outbox_worker = OutboxWorker(outbox, slack_client, cards, settings.webhook_secret, clock, retry)
    outbox_queue = QueueWorker("outbox", outbox_worker.drain, poll_seconds)
    kick = outbox_queue.kick
    cards.set_kick(kick)
    routing = RoutingService(
        leads,
        reps,
        config,
        clock,
        kick,
        free_mail_domains=config.scoring.negative.free_mail.domains,
    )
    claims = ClaimsService(leads, access, config, clock, kick)
    returns = ReturnsService(leads, access, config, clock, kick)
    availability = AvailabilityService(reps, leads, outbox, claims, config, clock, kick_outbox=kick)

    async def route_when_hot(lead_id: int) -> None:
        if settings.slack_enabled:
            await routing.route_hot(lead_id)

    intake = source_intake(settings, config, deliveries, clock)
    ingest = IngestService(
        deliveries, leads, scoring_policy(config), clock, route_when_hot, decoder=intake
    )
    delivery_queue = QueueWorker(
        "deliveries", ingest.process_due, poll_seconds, linger_seconds=DELIVERY_LINGER_SECONDS
    )
    intake.set_kick(delivery_queue.kick)
    runtime = Runtime(
        ingest=ingest, routing=routing, claims=claims, workers=[delivery_queue, outbox_queue]
    )
    app[RUNTIME] = runtime
    nudge_store = NudgeStore()
    sla = SlaSweepService(nudge_store, reps, claims, config, clock, kick_outbox=kick)
    rescoring = RescoringService(
        nudge_store, ingest, config, clock, on_hot=route_when_hot, kick_outbox=kick
    )
    # Also routes hot leads whose routing was interrupted (crash, Slack tokens added later).
    repair = RepairService(
        leads, routing, config, clock, slack_enabled=settings.slack_enabled, kick_outbox=kick
    )
    digests = DigestService(
        ReportStore(), outbox, config, clock, report_timezone(config), outbox_queue.kick
    )
    runtime.digests = digests
    every = config.sweep_every if sweep_seconds is None else timedelta(seconds=sweep_seconds)
    jobs = sweep_jobs(sla, rescoring, every, repair)
    if settings.slack_enabled:  # without Slack, digests would only pile up in the outbox
        jobs.append(Job("weekly-digests", digests.queue_if_due, every * 10))
    privacy = PrivacyService(
        PrivacyStore(), clock, timedelta(days=config.retention.days), outbox_queue.kick
    )
    jobs.append(Job("retention", privacy.prune, timedelta(hours=6)))
    scheduler = Scheduler(jobs)

    async def database_ctx(_: web.Application) -> AsyncIterator[None]:
        async with open_database(settings.database_url):
            yield

    async def workers_ctx(_: web.Application) -> AsyncIterator[None]:
        for worker in runtime.workers:
            worker.start()
        yield
        for worker in runtime.workers:
            await worker.stop()
        await outbox_worker.release_in_flight()

    # Order matters: the ORM must be up before anything that queries it starts.
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(workers_ctx)

    async def scheduler_ctx(_: web.Application) -> AsyncIterator[None]:
        scheduler.start()
        yield
        await scheduler.stop()

    app.cleanup_ctx.append(scheduler_ctx)  # after the database: sweeps query it

    bolt = (
        build_bolt_app(slack_client, settings.slack_signing_secret)
        if slack_client is not None and settings.slack_signing_secret
        else None
    )
    if bolt is not None:
        bolt.middleware(observe_listener_clients(metrics.observe_slack_call))
    if bolt is not None and settings.slack_app_token:
        app.cleanup_ctx.append(socket_mode_ctx(bolt, settings.slack_app_token))

    register_routes(
        app,
        Handlers(
            health=HealthHandlers(check_database, MetricsStore().read_outbox_health, clock),
            webhooks=WebhookHandlers(
                ingest,
                settings.webhook_secret,
                clock,
                kick_worker=delivery_queue.kick,
                tokens=config.sources.tokens,
            ),
            slack_events=SlackEventsEndpoint(bolt),
            slack_actions=SlackActionHandlers(claims, returns, availability, clock),
            slash_commands=LeadsCommandHandlers(
                ReportsService(ReportStore(), clock, report_timezone(config)),
                claims,
                privacy,
            ),
            metrics=MetricsHandlers(
                metrics, MetricsStore().read_snapshot, clock, settings.metrics_token
            ),
            sources=SourceHandlers(
                intake,
                config.sources,
                SourceSecrets(
                    settings.hubspot_client_secret, settings.typeform_secret, settings.public_url
                ),
                clock,
            ),
        ),
        bolt,
    )
    return app


def source_intake(
    settings: Settings, config: HandoffConfig, deliveries: DeliveryStore, clock: Clock
) -> SourceIntake:
    """HubSpot, Typeform and website forms; the CRM is read only with an access token."""
    contacts = (
        HubSpotClient(settings.hubspot_api_url, settings.hubspot_access_token)
        if settings.hubspot_access_token
        else None
    )
    return SourceIntake(deliveries, config.sources, clock, contacts)


SOCKET_WATCHDOG_SECONDS = 30.0


def socket_mode_ctx(
    bolt: AsyncApp, app_token: str, watchdog_seconds: float = SOCKET_WATCHDOG_SECONDS
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Socket Mode: Slack connects out to us, so no public URL is needed.

    slack-sdk's aiohttp client can stay silently disconnected after network trouble
    (slack-sdk#1922, bolt-python#1529), so a watchdog checks the session and reconnects.
    """

    async def ctx(_: web.Application) -> AsyncIterator[None]:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(bolt, app_token)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack in Socket Mode")

        async def watchdog() -> None:
            while True:
                await asyncio.sleep(watchdog_seconds)
                try:
                    if not await handler.client.is_connected():
                        log.warning("Socket Mode connection lost; reconnecting")
                        await handler.client.connect_to_new_endpoint(force=True)
                except Exception:
                    log.exception("Socket Mode reconnect failed; retrying later")

        task = asyncio.create_task(watchdog(), name="socket-mode-watchdog")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await handler.close_async()  # type: ignore[no-untyped-call]

    return ctx


def serve(settings: Settings, config: HandoffConfig) -> None:
    app = build_app(settings, config)
    if not settings.slack_enabled:
        log.warning(
            "SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET not set: ingesting and scoring only, "
            "no Slack cards"
        )
    web.run_app(
        app,
        host=settings.host,
        port=settings.port,
        shutdown_timeout=10,
        access_log=access_logger if settings.access_log else None,
    )


async def replay_outbox(settings: Settings, *, list_only: bool) -> str:
    """List failed outbox items, or queue them again for the running bot to send."""
    async with open_database(settings.database_url):
        outbox = OutboxStore()
        failed = await outbox.list_failed(limit=1000)
        if list_only or not failed:
            lines = [f"{len(failed)} failed outbox item(s)"]
            lines += [f"  #{item_id} {method}: {error}" for item_id, method, error in failed]
            return "\n".join(lines)
        requeued = await outbox.requeue_failed(system_clock())
        return f"requeued {requeued} outbox item(s); a running `handoff serve` sends them"


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
        ingest = IngestService(
            deliveries,
            LeadStore(),
            scoring_policy(config),
            system_clock,
            decoder=source_intake(settings, config, deliveries, system_clock),
        )
        processed = await ingest.process_due()
        still = await deliveries.count_by_status()
        return f"requeued {requeued}, processed {processed}, still failed {still['failed']}"
