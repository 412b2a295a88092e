"""A test-only fault hook: fail the database or kill the process right after a named step.

Off in production: it acts only when ``HANDOFF_FAULTS`` (read by `bot.config.Settings`) names
points, e.g. ``HANDOFF_FAULTS=claim.audited:exit,route.queued:db``. A point is
``<move>.<step>``; the steps of every lifecycle move in `bot.storage.leads` are

- ``updated``: the state UPDATE ran (inside the transaction),
- ``audited``: its Transition row was inserted,
- ``queued``: its outbox rows were inserted (the commit is next),
- ``committed``: the transaction committed (nothing told the outbox worker yet).

``exit`` ends the process at once (``os._exit``: no cleanup, like SIGKILL); ``db`` raises a
connection error as a dropped database connection would. Each point fires once per process.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

log = logging.getLogger(__name__)

EXIT = "exit"
DB = "db"
STEPS = ("updated", "audited", "queued", "committed")
EXIT_CODE = 70


class InjectedDatabaseFault(ConnectionError):
    """Raised at a ``db`` fault point: the edges treat it as the database being unavailable."""


def parse_faults(spec: str | None) -> dict[str, str]:
    """``"claim.audited:exit,route.queued:db"`` -> {point: mode}; the mode defaults to exit."""
    points: dict[str, str] = {}
    for part in (spec or "").split(","):
        point, _, mode = part.strip().partition(":")
        if not point:
            continue
        mode = mode or EXIT
        if mode not in (EXIT, DB) or "." not in point or point.rsplit(".", 1)[1] not in STEPS:
            raise ValueError(
                f"HANDOFF_FAULTS: {part.strip()!r} is not <move>.<step>[:exit|:db] "
                f"with a step in {', '.join(STEPS)}"
            )
        points[point] = mode
    return points


class Faults:
    def __init__(self, points: dict[str, str] | None = None) -> None:
        self._armed = dict(points or {})

    @property
    def armed(self) -> Iterable[str]:
        return tuple(self._armed)

    def at(self, point: str) -> None:
        mode = self._armed.pop(point, None)
        if mode is None:
            return
        if mode == EXIT:
            log.warning("fault injected: exiting at %s", point)
            logging.shutdown()
            os._exit(EXIT_CODE)
        log.warning("fault injected: database failure at %s", point)
        raise InjectedDatabaseFault(f"injected database fault at {point}")
