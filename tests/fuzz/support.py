"""Fuzzing helpers: a request budget, examples drawn from Hypothesis strategies, a tally."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

T = TypeVar("T")
LONG_FACTOR = 10


def budget(config: pytest.Config, requests: int) -> int:
    """The CI budget, or ten times it with --fuzz-long."""
    return requests * LONG_FACTOR if config.getoption("--fuzz-long") else requests


def draw(strategy: st.SearchStrategy[T], count: int) -> list[T]:
    """``count`` generated examples (fewer if the strategy runs dry). Generation only: the
    requests are sent afterwards on the test's event loop, which Hypothesis cannot drive."""
    found: list[T] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: T) -> None:
        found.append(example)

    collect()
    return found


@dataclass
class Tally:
    """Statuses seen and the requests that broke a rule, for the printed summary."""

    name: str
    statuses: Counter[int] = field(default_factory=Counter)
    broken: list[str] = field(default_factory=list)

    @property
    def sent(self) -> int:
        return sum(self.statuses.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def record(self, status: int, problem: str | None, describe: Callable[[], Any]) -> None:
        self.statuses[status] += 1
        if problem is not None and len(self.broken) < 20:
            self.broken.append(f"{problem}: {str(describe())[:500]}")

    def summary(self, **extra: int) -> str:
        by_class = Counter(f"{status // 100}xx" for status in self.statuses.elements())
        parts = [f"{self.sent} requests sent"]
        parts += [f"{cls} {by_class[cls]}" for cls in ("2xx", "4xx")]
        parts.append(f"5xx = {self.server_errors}")
        parts += [f"{key.replace('_', '-')} = {value}" for key, value in extra.items()]
        return f"fuzz {self.name}: " + ", ".join(parts)
