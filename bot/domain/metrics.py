"""What the metrics endpoint and /healthz report, as plain values (read by storage)."""

from __future__ import annotations

from dataclasses import dataclass, field

OUTCOME_STATES = ("won", "lost", "disqualified")


@dataclass(frozen=True)
class Distribution:
    """Cumulative counts per upper bound (seconds), plus the total count and sum."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    total: float


@dataclass(frozen=True)
class MetricsSnapshot:
    leads_by_state: dict[str, int] = field(default_factory=dict)
    deliveries: dict[tuple[str, str, str], int] = field(default_factory=dict)  # kind,source,status
    scored: int = 0
    transitions: dict[tuple[str, str], int] = field(default_factory=dict)  # (action, to_state)
    routed_by_channel: dict[str, int] = field(default_factory=dict)
    returns_by_reason: dict[str, int] = field(default_factory=dict)
    nudges_by_kind: dict[str, int] = field(default_factory=dict)
    outbox: dict[tuple[str, str], int] = field(default_factory=dict)  # (kind, status)
    oldest_pending_age: dict[str, float] = field(default_factory=dict)  # kind -> seconds
    time_to_claim: Distribution = Distribution((), 0, 0.0)
    time_to_first_touch: Distribution = Distribution((), 0, 0.0)

    @property
    def claims(self) -> int:
        return sum(n for (action, _), n in self.transitions.items() if action == "claimed")

    @property
    def hot(self) -> int:
        return sum(n for (_, to), n in self.transitions.items() if to == "hot")

    @property
    def outcomes(self) -> dict[str, int]:
        found = {state: 0 for state in OUTCOME_STATES}
        for (action, to), n in self.transitions.items():
            if to in found and action != "created":
                found[to] += n
        return found


@dataclass(frozen=True)
class OutboxHealth:
    oldest_pending_age_seconds: float | None
    failed: int
