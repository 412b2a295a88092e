"""Slack's per-channel posting limit: about one message a second per channel, short bursts allowed.

A token bucket per channel; the clock is passed in so the limit is tested without waiting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Monotonic = Callable[[], float]


@dataclass
class ChannelRateLimit:
    """``per_second`` messages a second per channel, after a burst of ``burst`` messages."""

    per_second: float = 1.0
    burst: int = 3
    clock: Monotonic = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)  # tokens, at

    def retry_after(self, channel: str) -> int | None:
        """Take one message's allowance; None when allowed, else whole seconds to wait."""
        now = self.clock()
        tokens, at = self._buckets.get(channel, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.per_second)
        if tokens >= 1.0:
            self._buckets[channel] = (tokens - 1.0, now)
            return None
        self._buckets[channel] = (tokens, now)
        return max(1, math.ceil((1.0 - tokens) / self.per_second))
