"""A test-only fault hook: fail the database or kill the process right after a named step.

Off in production: it acts only when ``HANDOFF_FAULTS`` (read by `bot.config.Settings`) names
points, e.g. ``HANDOFF_FAULTS=claim.audited:exit,route.queued:db:ana@acme.io``. Each entry is
``<move>.<step>[:exit|:db[:<lead email>]]``; with an email it fires only for that lead. The steps
of every lifecycle move in `bot.storage.leads` (route, claim, release, return, ...) are

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
from dataclasses import dataclass

log = logging.getLogger(__name__)

EXIT = "exit"
DB = "db"
STEPS = ("updated", "audited", "queued", "committed")
EXIT_CODE = 70


class InjectedDatabaseFault(ConnectionError):
    """Raised at a ``db`` fault point: the edges treat it as the database being unavailable."""


@dataclass(frozen=True)
class FaultPoint:
    point: str  # <move>.<step>
    mode: str  # EXIT or DB
    lead_email: str | None = None  # only for this lead; any lead when None


def parse_faults(spec: str | None) -> list[FaultPoint]:
    """``"claim.audited:exit,route.queued:db:ana@acme.io"`` -> fault points (exit by default)."""
    points: list[FaultPoint] = []
    for part in (spec or "").split(","):
        point, _, rest = part.strip().partition(":")
        if not point:
            continue
        mode, _, email = rest.partition(":")
        mode = mode or EXIT
        if mode not in (EXIT, DB) or "." not in point or point.rsplit(".", 1)[1] not in STEPS:
            raise ValueError(
                f"HANDOFF_FAULTS: {part.strip()!r} is not <move>.<step>[:exit|:db[:email]] "
                f"with a step in {', '.join(STEPS)}"
            )
        points.append(FaultPoint(point, mode, email.lower() or None))
    return points


class Faults:
    """Armed fault points; none by default (production)."""

    def __init__(self, points: Iterable[FaultPoint] = ()) -> None:
        self._armed = list(points)

    @property
    def armed(self) -> list[str]:
        return [
            f"{p.point}:{p.mode}" + (f":{p.lead_email}" if p.lead_email else "")
            for p in self._armed
        ]

    def at(self, point: str, lead_email: str | None = None) -> None:
        """Called by storage right after each step; fires (once) an armed point that matches."""
        if not self._armed:
            return
        for armed in self._armed:
            if armed.point == point and armed.lead_email in (None, lead_email):
                self._armed.remove(armed)
                break
        else:
            return
        if armed.mode == EXIT:
            log.warning("fault injected: exiting at %s", point)
            logging.shutdown()
            os._exit(EXIT_CODE)
        log.warning("fault injected: database failure at %s", point)
        raise InjectedDatabaseFault(f"injected database fault at {point}")
