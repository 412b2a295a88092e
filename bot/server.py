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
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, system_clock
from bot.config import (
    ConfigError,
    HandoffConfig,
    Settings,
    hubspot_enabled,
    subscription_secrets,
)
from bot.crm.hubspot import HubSpotClient
from bot.crm.writeback import HUBSPOT, HubSpotWriteback
from bot.domain.lifecycle_events import MARKETING_SUBSCRIPTION
from bot.handlers import Handlers, register_routes
from bot.handlers.health import HealthHandlers
from bot.handlers.slack_actions import SlackActionHandlers
from bot.handlers.slack_events import SlackEventsEndpoint
from bot.handlers.slash_commands import LeadsCommandHandlers
from bot.handlers.webhooks import MAX_BODY_BYTES, WebhookHandlers, json_error
from bot.outbox import OutboxWorker, RetryPolicy, Sender
from bot.scheduler import Job, Scheduler, sweep_jobs
from bot.services.digests import DigestService
from bot.services.handoff import HandoffService
from bot.services.ingest import IngestService, ScoringPolicy
from bot.services.lifecycle import build_lifecycle_items, subscribers
from bot.services.nudges import NudgeService
from bot.services.reports import ReportsService
from bot.slack.app import build_bolt_app, build_web_client
from bot.slack.directory import ManagerGroup
from bot.slack.emails import SlackEmails
from bot.storage.crm import CrmStore
from bot.storage.database import check_database, open_database
from bot.storage.deliveries import DeliveryStore
from bot.storage.errors import DATABASE_UNAVAILABLE
from bot.storage.leads import LeadStore
from bot.storage.nudges import NudgeStore
from bot.storage.outbox import OutboxStore
from bot.storage.reports import ReportStore
from bot.storage.reps import RepStore
from bot.webhooks_out import EVENT, EventSender
from bot.workers import QueueWorker

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Runtime:
    """What the running app holds: services and the background workers that drain queues."""

    ingest: IngestService
    handoff: HandoffService
    workers: list[QueueWorker] = field(default_factory=list)
    digests: DigestService | None = None


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
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[error_middleware])

    deliveries = DeliveryStore()
    leads = LeadStore()
    outbox = OutboxStore()
    slack_client = (
        build_web_client(settings.slack_bot_token, settings.slack_api_url)
        if settings.slack_bot_token
        else None
    )
    reps = RepStore()
    handoff = HandoffService(
        leads,
        outbox,
        config,
        clock,
        free_mail_domains=config.scoring.negative.free_mail.domains,
        reps=reps,
    )
    if slack_client is not None and config.manager_group:
        handoff.set_manager_group(ManagerGroup(slack_client, config.manager_group, clock).members)
    extra_senders = lifecycle_senders(settings, config, outbox, slack_client, clock, retry)
    lifecycle_subscribers = subscribers(config)
    handoff.set_lifecycle(
        lambda event, lead, actor, now, detail: build_lifecycle_items(
            event, lead, actor, now, lifecycle_subscribers, config.crm, detail
        )
    )
    outbox_worker = OutboxWorker(
        outbox,
        slack_client,
        handoff,
        settings.webhook_secret,
        clock,
        retry,
        extra_senders=extra_senders,
    )
    outbox_queue = QueueWorker("outbox", outbox_worker.drain, poll_seconds)
    handoff.set_kick(outbox_queue.kick)

    async def route_when_hot(lead_id: int) -> None:
        await handoff.announce_hot(lead_id)
        if settings.slack_enabled:
            await handoff.route_hot(lead_id)

    async def route_waiting_hot_leads() -> int:
        # Hot leads whose routing was interrupted (crash, Slack tokens added later).
        return await handoff.route_all_hot() if settings.slack_enabled else 0

    ingest = IngestService(deliveries, leads, scoring_policy(config), clock, route_when_hot)
    delivery_queue = QueueWorker("deliveries", ingest.process_due, poll_seconds)
    routing_sweep = QueueWorker("hot-leads", route_waiting_hot_leads, max(poll_seconds, 30.0))
    runtime = Runtime(
        ingest=ingest, handoff=handoff, workers=[delivery_queue, outbox_queue, routing_sweep]
    )
    app[RUNTIME] = runtime
    nudges = NudgeService(
        NudgeStore(),
        reps,
        leads,
        outbox,
        handoff,
        ingest,
        config,
        clock,
        on_hot=route_when_hot,
        kick_outbox=outbox_queue.kick,
    )
    digests = DigestService(
        ReportStore(), outbox, config, clock, report_timezone(config), outbox_queue.kick
    )
    runtime.digests = digests
    every = config.sweep_every if sweep_seconds is None else timedelta(seconds=sweep_seconds)
    jobs = sweep_jobs(nudges, every)
    if settings.slack_enabled:  # without Slack, digests would only pile up in the outbox
        jobs.append(Job("weekly-digests", digests.queue_if_due, every * 10))
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
    if bolt is not None and settings.slack_app_token:
        app.cleanup_ctx.append(socket_mode_ctx(bolt, settings.slack_app_token))

    register_routes(
        app,
        Handlers(
            health=HealthHandlers(check_database),
            webhooks=WebhookHandlers(
                ingest, settings.webhook_secret, clock, kick_worker=delivery_queue.kick
            ),
            slack_events=SlackEventsEndpoint(bolt),
            slack_actions=SlackActionHandlers(handoff, clock, nudges),
            slash_commands=LeadsCommandHandlers(
                ReportsService(ReportStore(), clock, report_timezone(config)),
                handoff,
            ),
        ),
        bolt,
    )
    return app


def lifecycle_senders(
    settings: Settings,
    config: HandoffConfig,
    outbox: OutboxStore,
    slack_client: AsyncWebClient | None,
    clock: Clock,
    retry: RetryPolicy | None,
) -> dict[str, Sender]:
    """Outbox senders for lifecycle events (every subscription) and HubSpot write-back."""
    secrets = subscription_secrets(config, settings)
    if config.marketing.webhook_url and settings.webhook_secret:
        secrets[MARKETING_SUBSCRIPTION] = settings.webhook_secret  # signed as it always was
    managers = config.reports.managers_channel
    crm = CrmStore()
    events = EventSender(
        secrets, crm, outbox, [managers] if managers else list(config.managers), clock, retry
    )
    senders: dict[str, Sender] = {EVENT: events.send}
    hubspot = config.crm.hubspot
    if hubspot is not None and hubspot_enabled(config, settings):
        client = HubSpotClient(settings.hubspot_api_url, settings.hubspot_access_token or "")
        writeback = HubSpotWriteback(
            client, crm, hubspot, SlackEmails(slack_client).email_of, clock, retry
        )
        senders[HUBSPOT] = writeback.send
    return senders


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
    web.run_app(app, host=settings.host, port=settings.port, shutdown_timeout=10)


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
        ingest = IngestService(deliveries, LeadStore(), scoring_policy(config), system_clock)
        processed = await ingest.process_due()
        still = await deliveries.count_by_status()
        return f"requeued {requeued}, processed {processed}, still failed {still['failed']}"
