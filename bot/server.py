"""Composition root: builds every service from settings, config and a clock; runs the app."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import importlib.metadata
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, timedelta, tzinfo
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from aiohttp import web
from aiohttp.log import access_logger
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock, system_clock
from bot.config import (
    ConfigError,
    HandoffConfig,
    Settings,
    StartupError,
    hubspot_enabled,
    subscription_secrets,
)
from bot.crm.hubspot import HubSpotClient
from bot.crm.writeback import HUBSPOT, HubSpotWriteback
from bot.domain.leads import StoredLead
from bot.domain.lifecycle_events import MARKETING_SUBSCRIPTION
from bot.faults import Faults, parse_faults
from bot.handlers import Handlers, register_routes
from bot.handlers.health import HealthHandlers
from bot.handlers.metrics import MetricsHandlers
from bot.handlers.openapi import OpenApiHandlers
from bot.handlers.request_id import request_id_middleware
from bot.handlers.slack_actions import SlackActionHandlers
from bot.handlers.slack_events import ClaimFastPath, SlackEventsEndpoint
from bot.handlers.slash_commands import LeadsCommandHandlers
from bot.handlers.sources import SourceHandlers, SourceSecrets
from bot.handlers.webhooks import (
    MAX_BODY_BYTES,
    RETRY_AFTER_SECONDS,
    WebhookHandlers,
    json_error,
)
from bot.metrics import Metrics
from bot.outbox import OutboxWorker, RetryPolicy, Sender
from bot.scheduler import Job, Scheduler, sweep_jobs
from bot.services.access import Access
from bot.services.availability import AvailabilityService
from bot.services.cards import LeadCards
from bot.services.claims import ClaimsService
from bot.services.digests import DigestService
from bot.services.ingest import IngestService, ScoringPolicy
from bot.services.lifecycle import (
    LifecycleEvents,
    announce_hot,
    build_lifecycle_items,
    subscribers,
)
from bot.services.nudges import SlaSweepService
from bot.services.privacy import PrivacyService
from bot.services.repair import RepairService
from bot.services.reports import ReportsService
from bot.services.rescoring import RescoringService
from bot.services.returns import ReturnsService
from bot.services.routing import RoutingService
from bot.services.sources import SourceIntake
from bot.slack.answers import ClickAnswers
from bot.slack.app import build_bolt_app, build_web_client
from bot.slack.directory import ManagerGroup
from bot.slack.emails import SlackEmails
from bot.slack.observed import observe_listener_clients
from bot.storage.audit import install_transition_log
from bot.storage.crm import CrmStore
from bot.storage.database import (
    check_database,
    database_startup_problem,
    database_url_problem,
    open_database,
)
from bot.storage.deliveries import DeliveryStore
from bot.storage.errors import DATABASE_ERRORS, DATABASE_UNAVAILABLE
from bot.storage.leads import LeadStore
from bot.storage.metrics import MetricsStore
from bot.storage.nudges import NudgeStore
from bot.storage.outbox import OutboxStore
from bot.storage.privacy import PrivacyStore
from bot.storage.reports import ReportStore
from bot.storage.reps import RepStore
from bot.webhooks_out import EVENT, EventSender
from bot.workers import STOP_TIMEOUT_SECONDS, BackgroundTasks, QueueWorker, RequestLull

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")


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
        return json_error(
            503, "database unavailable, retry later", retry_after_seconds=RETRY_AFTER_SECONDS
        )
    except DATABASE_ERRORS:
        # Not a connection problem, so possibly a bug: logged with its traceback. The request
        # was not stored either way, so the sender is asked to retry, never told 500.
        log.exception("database error for %s %s", request.method, request.path)
        return json_error(
            503, "database error, retry later", retry_after_seconds=RETRY_AFTER_SECONDS
        )
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


def package_version() -> str:
    try:
        return importlib.metadata.version("handoff")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def configured_reps(config: HandoffConfig) -> frozenset[str]:
    """Every rep listed under a channel in handoff.yml: a rep before her first claim."""
    return frozenset(rep for channel in config.channels.values() for rep in channel.reps)


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
    lull = RequestLull()
    app = web.Application(
        client_max_size=MAX_BODY_BYTES,
        # Outermost first: the request id covers every line; metrics see the final status.
        middlewares=[
            lull.middleware,
            request_id_middleware,
            metrics.webhook_middleware,
            error_middleware,
        ],
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
    lifecycle_subscribers = subscribers(config)
    events = LifecycleEvents(
        lambda event, lead, actor, now, detail: build_lifecycle_items(
            event,
            lead,
            actor,
            now,
            lifecycle_subscribers,
            config.crm,
            detail,
            # A lead that came from HubSpot is written back to that very contact.
            hubspot_contact_id=lead.profile.hubspot_contact_id,
        )
    )
    outbox_worker = OutboxWorker(
        outbox,
        slack_client,
        cards,
        settings.webhook_secret,
        clock,
        retry,
        extra_senders=lifecycle_senders(settings, config, outbox, slack_client, clock, retry),
    )
    outbox_queue = QueueWorker("outbox", outbox_worker.drain_round, poll_seconds)
    kick = outbox_queue.kick
    cards.set_kick(kick)
    routing = RoutingService(
        leads,
        reps,
        config,
        clock,
        kick,
        # No account-owner offers for free-mail or disposable domains: nobody owns gmail.com.
        free_mail_domains=config.scoring.negative.free_mail.domain_set
        | config.scoring.negative.disposable.domain_set,
        events=events,
    )
    claims = ClaimsService(leads, access, config, clock, kick, events=events)
    returns = ReturnsService(leads, access, config, clock, kick, events=events)
    availability = AvailabilityService(reps, leads, outbox, claims, config, clock, kick_outbox=kick)

    async def route_when_hot(lead: StoredLead) -> None:
        if settings.slack_enabled:  # routing queues `lead.hot` in its own transaction
            await routing.route_hot(lead.id, lead)
        else:
            await announce_hot(leads, outbox, events, lead.id, clock())

    intake = source_intake(settings, config, deliveries, clock)
    ingest = IngestService(
        deliveries, leads, scoring_policy(config), clock, route_when_hot, decoder=intake
    )
    delivery_queue = QueueWorker(
        "deliveries", ingest.drain, poll_seconds, linger_seconds=DELIVERY_LINGER_SECONDS
    )
    intake.set_kick(delivery_queue.kick)
    runtime = Runtime(
        ingest=ingest, routing=routing, claims=claims, workers=[delivery_queue, outbox_queue]
    )
    app[RUNTIME] = runtime
    nudge_store = NudgeStore()
    sla = SlaSweepService(nudge_store, reps, claims, config, clock, kick_outbox=kick, events=events)
    rescoring = RescoringService(
        nudge_store, ingest, config, clock, on_hot=route_when_hot, kick_outbox=kick, events=events
    )
    # Also routes hot leads whose routing was interrupted (crash, Slack tokens added later).
    repair = RepairService(
        leads,
        routing,
        config,
        clock,
        slack_enabled=settings.slack_enabled,
        kick_outbox=kick,
        events=events,
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
        try:
            # Bounded like every other shutdown step: a stop must never hang on the database.
            async with asyncio.timeout(STOP_TIMEOUT_SECONDS):
                await outbox_worker.release_in_flight()
        except TimeoutError:
            log.error("in-flight outbox items not handed back; their leases run out instead")

    # Order matters: the ORM must be up before anything that queries it starts.
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(workers_ctx)

    async def scheduler_ctx(_: web.Application) -> AsyncIterator[None]:
        scheduler.start()
        yield
        await scheduler.stop()

    app.cleanup_ctx.append(scheduler_ctx)  # after the database: sweeps query it

    background = BackgroundTasks(lull)
    answers = ClickAnswers(slack_client)

    async def background_ctx(_: web.Application) -> AsyncIterator[None]:
        yield
        # Claims acknowledged before they ran finish before the database closes.
        await background.drain()
        await answers.close()

    app.cleanup_ctx.append(background_ctx)

    bolt = (
        build_bolt_app(slack_client, settings.slack_signing_secret)
        if slack_client is not None and settings.slack_signing_secret
        else None
    )
    if bolt is not None:
        bolt.middleware(observe_listener_clients(metrics.observe_slack_call))
    if bolt is not None and settings.slack_app_token:
        app.cleanup_ctx.append(socket_mode_ctx(bolt, settings.slack_app_token))

    slack_actions = SlackActionHandlers(claims, returns, availability, clock, answers)
    register_routes(
        app,
        Handlers(
            health=HealthHandlers(
                check_database,
                MetricsStore().read_outbox_health,
                clock,
                count_failed_deliveries=deliveries.count_failed,
            ),
            webhooks=WebhookHandlers(
                ingest,
                settings.webhook_secret,
                clock,
                kick_worker=delivery_queue.kick,
                tokens=config.sources.tokens,
            ),
            slack_events=SlackEventsEndpoint(
                bolt,
                ClaimFastPath(
                    settings.slack_signing_secret, slack_actions.claim_clicked, background
                )
                if bolt is not None and settings.slack_signing_secret
                else None,
            ),
            slack_actions=slack_actions,
            openapi=OpenApiHandlers(package_version()),
            slash_commands=LeadsCommandHandlers(
                ReportsService(
                    ReportStore(),
                    clock,
                    report_timezone(config),
                    configured_reps=configured_reps(config),
                ),
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
SOCKET_RETRY_MAX_SECONDS = 300.0


def socket_mode_ctx(
    bolt: AsyncApp,
    app_token: str,
    watchdog_seconds: float = SOCKET_WATCHDOG_SECONDS,
    retry_max_seconds: float = SOCKET_RETRY_MAX_SECONDS,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Socket Mode: Slack connects out to us, so no public URL is needed.

    Connecting happens in the background: a bad or revoked SLACK_APP_TOKEN, or Slack being
    unreachable, is logged and retried with backoff, and never keeps the HTTP server (webhook
    ingestion) from starting. slack-sdk's aiohttp client can also stay silently disconnected
    after network trouble (slack-sdk#1922, bolt-python#1529), so the same loop checks the
    session and reconnects.
    """

    async def ctx(_: web.Application) -> AsyncIterator[None]:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

        handler = AsyncSocketModeHandler(bolt, app_token)

        async def keep_connected() -> None:
            connected = False
            delay = 1.0
            while True:
                try:
                    if not connected:
                        # Ask for the socket URL ourselves: slack-sdk's connect() retries a
                        # refused token forever, with a traceback every 5 s, and never returns.
                        opened = await handler.client.web_client.apps_connections_open(
                            app_token=app_token
                        )
                        handler.client.wss_uri = str(opened["url"])
                        await handler.connect_async()  # type: ignore[no-untyped-call]
                        connected, delay = True, 1.0
                        log.info("connected to Slack in Socket Mode")
                    elif not await handler.client.is_connected():
                        log.warning("Socket Mode connection lost; reconnecting")
                        await handler.client.connect_to_new_endpoint(force=True)
                except Exception as exc:
                    log.error(
                        "Socket Mode: cannot connect to Slack (%s); check SLACK_APP_TOKEN. "
                        "Retrying in %.0f s; webhooks are still accepted",
                        _slack_failure(exc),
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, retry_max_seconds)
                    continue
                await asyncio.sleep(watchdog_seconds)

        task = asyncio.create_task(keep_connected(), name="socket-mode")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        try:
            await handler.close_async()  # type: ignore[no-untyped-call]
        except Exception:
            log.warning("Socket Mode did not close cleanly", exc_info=True)

    return ctx


def _slack_failure(exc: Exception) -> str:
    if isinstance(exc, SlackApiError):
        return f"Slack answered {exc.response.get('error') or exc.response.status_code}"
    return f"{type(exc).__name__}: {exc}"


def _check_port_free(settings: Settings) -> None:
    with socket.socket(socket.AF_INET6 if ":" in settings.host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
        try:
            probe.bind((settings.host, settings.port))
        except OSError as exc:
            problem = startup_problem(exc, settings)
            if problem is None:
                raise
            raise StartupError(problem) from exc


def startup_problem(exc: BaseException, settings: Settings) -> str | None:
    """One line for the operator when the server cannot start; None if it is not one we know."""
    if isinstance(exc, OSError) and exc.errno in (
        errno.EADDRINUSE,
        errno.EADDRNOTAVAIL,
        errno.EACCES,
    ):
        reason = (exc.strerror or str(exc)).rpartition(": ")[2]
        return (
            f"cannot listen on {settings.host}:{settings.port}: {reason} "
            "(set PORT or HOST, or stop what is using it)"
        )
    problem = database_startup_problem(exc, settings.database_url)
    return None if problem is None else f"DATABASE_URL: {problem}"


def run_startup_step(settings: Settings, step: Coroutine[Any, Any, T]) -> T:
    """Run a one-off database command (migrate, replay); failures we know become one line."""
    problem = database_url_problem(settings.database_url)
    if problem is not None:
        step.close()
        raise StartupError(f"DATABASE_URL: {problem}")
    try:
        return asyncio.run(step)
    except Exception as exc:
        known = startup_problem(exc, settings)
        if known is None:
            raise
        raise StartupError(known) from exc


async def freeze_startup_heap(_: web.Application) -> None:
    """Take what start-up built (modules, models, migration states: ~90k objects) out of the
    garbage collector's view. A full collection scanned all of it, 50-150 ms during which
    no request was answered: the slowest acks of a click storm were waiting on it."""
    gc.collect()
    gc.freeze()


def serve(settings: Settings, config: HandoffConfig) -> None:
    """Run until stopped. Raises StartupError (one line, for the operator) when it cannot."""
    problem = database_url_problem(settings.database_url)
    if problem is not None:
        raise StartupError(f"DATABASE_URL: {problem}")
    _check_port_free(settings)  # before migrating and starting workers, not after
    app = build_app(settings, config)
    app.on_startup.append(freeze_startup_heap)  # after every start-up step: runs last
    if not settings.slack_enabled:
        log.warning(
            "SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET not set: ingesting and scoring only, "
            "no Slack cards"
        )
    try:
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            shutdown_timeout=10,
            access_log=access_logger if settings.access_log else None,
        )
    except Exception as exc:
        problem = startup_problem(exc, settings)
        if problem is None:
            raise
        raise StartupError(problem) from exc


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
