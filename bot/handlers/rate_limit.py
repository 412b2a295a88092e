"""A per-key sliding-window rate limit, in memory (each replica counts its own requests)."""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta

MAX_KEYS = 10_000  # past this, keys whose window is empty are dropped


class SlidingWindowLimiter:
    def __init__(self, requests: int, per: timedelta) -> None:
        self._requests = requests
        self._per = per
        self._hits: dict[str, deque[datetime]] = {}

    def check(self, key: str, now: datetime) -> int | None:
        """Count one request; None when allowed, else the seconds until one more is."""
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] >= self._per:
            hits.popleft()
        if len(hits) >= self._requests:
            wait = (hits[0] + self._per - now).total_seconds()
            return max(1, math.ceil(wait))
        hits.append(now)
        if len(self._hits) > MAX_KEYS:
            self._forget_idle(now)
        return None

    def _forget_idle(self, now: datetime) -> None:
        for key in [k for k, v in self._hits.items() if not v or now - v[-1] >= self._per]:
            del self._hits[key]
