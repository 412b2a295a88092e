"""Prometheus metrics: what this process saw, plus business numbers read from the database.

Two kinds, on purpose:

- Process-local counters and histograms for things only the process sees: webhook requests and
  their ack latency, Slack Web API calls and errors. With ``PROMETHEUS_MULTIPROC_DIR`` set
  (several worker processes behind one port) they live in prometheus-client's shared files and
  a scrape aggregates every process.
- Business numbers (leads by state, deliveries, scores, transitions, claims, returns, outcomes,
  nudges, outbox depth and age, time to claim and to first touch) are read from the durable
  tables at scrape time. Every replica reports the same whole-database numbers, nothing is lost
  at a restart and nothing is counted twice when a replica retries: query them with ``max``
  across instances, not ``sum``. The two timing histograms are computed over every lead's current
  routed/claimed/contacted times (as `/leads report` counts them), so a released and re-claimed
  lead counts once, with its latest hand-off.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.multiprocess import MultiProcessCollector

from bot.domain.metrics import Distribution, MetricsSnapshot

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Seconds: from a few seconds (a rep at the desk) to a day (the next business morning).
HANDOFF_BUCKETS: tuple[float, ...] = (
    10.0,
    30.0,
    60.0,
    120.0,
    300.0,
    600.0,
    900.0,
    1800.0,
    3600.0,
    7200.0,
    14400.0,
    28800.0,
    86400.0,
)
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_OUTCOMES = {
    200: "duplicate",
    202: "accepted",
    400: "invalid",
    401: "unauthorized",
    404: "not_found",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def webhook_outcome(status: int) -> str:
    if status in _OUTCOMES:
        return _OUTCOMES[status]
    return "error" if status >= 500 else str(status)


def webhook_source(request: web.Request) -> str:
    """The source a webhook route serves: our generic endpoints, or the vendor's path segment.

    Taken from the matched route (never the raw path), so labels stay a small, fixed set.
    """
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else ""
    if not canonical.startswith("/webhooks/"):
        return "unmatched"
    first = canonical.removeprefix("/webhooks/").split("/", 1)[0]
    return "generic" if first in {"leads", "events"} else first


class Metrics:
    """The process-local metrics and the text exposition of everything."""

    def __init__(self, multiprocess_dir: str | None = None) -> None:
        self._multiprocess_dir = multiprocess_dir
        # In multiprocess mode values go to shared files, not to a registry of ours.
        self._registry = None if multiprocess_dir else CollectorRegistry()
        self.webhook_requests = Counter(
            "handoff_webhook_requests",
            "Inbound webhook requests by source and outcome (accepted, duplicate, invalid, ...)",
            ["source", "outcome"],
            registry=self._registry,
        )
        self.webhook_ack_seconds = Histogram(
            "handoff_webhook_ack_seconds",
            "Time from receiving a webhook to answering it",
            ["source"],
            buckets=ACK_BUCKETS,
            registry=self._registry,
        )
        self.slack_calls = Counter(
            "handoff_slack_api_calls",
            "Slack Web API calls by method",
            ["method"],
            registry=self._registry,
        )
        self.slack_errors = Counter(
            "handoff_slack_api_errors",
            "Slack Web API calls that failed, by method and error",
            ["method", "error"],
            registry=self._registry,
        )

    def observe_slack_call(self, method: str, error: str | None) -> None:
        self.slack_calls.labels(method).inc()
        if error is not None:
            self.slack_errors.labels(method, error).inc()

    def observe_webhook(self, source: str, status: int, seconds: float) -> None:
        self.webhook_requests.labels(source, webhook_outcome(status)).inc()
        self.webhook_ack_seconds.labels(source).observe(seconds)

    def render(self, snapshot: MetricsSnapshot) -> bytes:
        local = CollectorRegistry()
        if self._multiprocess_dir:
            MultiProcessCollector(local, path=self._multiprocess_dir)  # type: ignore[no-untyped-call]
            process_text = generate_latest(local)
        else:
            assert self._registry is not None  # noqa: S101 - set whenever not multiprocess
            process_text = generate_latest(self._registry)
        database = CollectorRegistry()
        database.register(_SnapshotCollector(snapshot))
        return process_text + generate_latest(database)

    @web.middleware
    async def webhook_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        """Counts every webhook answer and its latency, whatever handler or error produced it."""
        if not request.path.startswith("/webhooks/"):
            return await handler(request)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            self.observe_webhook(webhook_source(request), status, time.perf_counter() - started)


Key = tuple[str, ...]


class _SnapshotCollector:
    def __init__(self, snapshot: MetricsSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        return snapshot_families(self._snapshot)


def _counter(
    name: str, doc: str, labels: Sequence[str], values: dict[tuple[str, ...], int]
) -> Metric:
    family = CounterMetricFamily(name, doc, labels=list(labels))
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _gauge(
    name: str, doc: str, labels: Sequence[str], values: dict[tuple[str, ...], float]
) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def _histogram(name: str, doc: str, dist: Distribution) -> Metric:
    family = HistogramMetricFamily(name, doc)
    buckets: list[tuple[str, float]] = [(repr(le), float(n)) for le, n in dist.buckets]
    buckets.append(("+Inf", float(dist.count)))
    family.add_metric([], buckets, dist.total)
    return family


def snapshot_families(s: MetricsSnapshot) -> list[Metric]:
    return [
        _gauge(
            "handoff_leads",
            "Leads by current state",
            ["state"],
            {(k,): v for k, v in s.leads_by_state.items()},
        ),
        _gauge(
            "handoff_deliveries",
            "Stored inbound deliveries by kind, source and status (failed = processing failed)",
            ["kind", "source", "status"],
            {k: v for k, v in s.deliveries.items()},
        ),
        _counter("handoff_leads_scored", "Scores recorded", [], {(): s.scored}),
        _counter("handoff_leads_hot", "Leads that became hot", [], {(): s.hot}),
        _counter(
            "handoff_lead_transitions",
            "Lead state changes by action and new state",
            ["action", "to_state"],
            {k: v for k, v in s.transitions.items()},
        ),
        _counter(
            "handoff_leads_routed",
            "Hand-offs to a Slack channel",
            ["channel"],
            {(k,): v for k, v in s.routed_by_channel.items()},
        ),
        _counter("handoff_claims", "Leads claimed by a rep", [], {(): s.claims}),
        _counter(
            "handoff_returns",
            "Leads returned to marketing, by reason",
            ["reason"],
            {(k,): v for k, v in s.returns_by_reason.items()},
        ),
        _counter(
            "handoff_outcomes",
            "Leads closed, by outcome",
            ["outcome"],
            {(k,): v for k, v in s.outcomes.items()},
        ),
        _counter(
            "handoff_nudges",
            "Nudges and escalations sent, by kind",
            ["kind"],
            {(k,): v for k, v in s.nudges_by_kind.items()},
        ),
        _gauge(
            "handoff_outbox_items",
            "Outbox items by kind and status (pending = depth)",
            ["kind", "status"],
            {k: v for k, v in s.outbox.items()},
        ),
        _gauge(
            "handoff_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending outbox item, by kind",
            ["kind"],
            {(k,): v for k, v in s.oldest_pending_age.items()},
        ),
        _histogram(
            "handoff_time_to_claim_seconds",
            "Seconds from routing to claim, per lead",
            s.time_to_claim,
        ),
        _histogram(
            "handoff_time_to_first_touch_seconds",
            "Seconds from routing to first contact, per lead",
            s.time_to_first_touch,
        ),
    ]


SnapshotReader = Callable[[datetime, Sequence[float]], Awaitable[MetricsSnapshot]]
