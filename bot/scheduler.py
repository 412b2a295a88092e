"""When each sweep runs: an APScheduler 3 `AsyncIOScheduler` inside `handoff serve`.

Each job calls one service method that is an idempotent database sweep, so correctness never
depends on the scheduler: exactly-once lives in storage (a UNIQUE nudge row inserted together with
its outbox items, compare-and-set updates), and the scheduler only decides how often we look.

Misfires and downtime. Jobs live in APScheduler's in-memory job store (never a shared persistent
store: with several replicas that duplicates or loses runs). So:

- A process that was down knows nothing of the runs it missed. On start every job runs once at
  once, then every interval. The first sweep finds every overdue nudge in the database and sends
  each one once: the planner returns each overdue kind once, in order (nudge before escalation),
  and the nudge row makes a second sweep a no-op. Nothing fires "once per missed run".
- Inside a running process a run is late when the event loop was blocked or the previous run is
  still going. `coalesce=True` folds any number of late runs into one; `max_instances=1` never
  overlaps a job with itself (the extra run is skipped, logged at debug); a run later than
  `misfire_grace_time` (30 s, APScheduler's default is 1 s) is skipped and logged, and the next
  interval picks the work up, because the work is in the database, not in the run.
- `jitter` spreads the replicas' sweeps so they do not all hit the database at the same instant;
  when they do overlap, the UNIQUE insert picks one winner per nudge.
- Shutdown stops new runs, waits a few seconds for running sweeps, then cancels the rest (a
  cancelled sweep rolls back its open transaction; its unsent nudges go out on the next sweep).

Errors in a job reach one listener, which logs them with their traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, timedelta
from typing import Any

from apscheduler.events import (
    EVENT_JOB_ERROR,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
    JobExecutionEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.clock import Clock, system_clock
from bot.services.nudges import SlaSweepService
from bot.services.repair import RepairService
from bot.services.rescoring import RescoringService

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 30
STOP_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Job:
    """One periodic sweep: ``run`` returns how much it did (for the debug log)."""

    name: str
    run: Callable[[], Awaitable[int]]
    every: timedelta
    jitter: timedelta = timedelta(0)


class Scheduler:
    def __init__(
        self,
        jobs: Sequence[Job],
        *,
        misfire_grace_seconds: int = MISFIRE_GRACE_SECONDS,
        clock: Clock = system_clock,
    ) -> None:
        self._jobs = list(jobs)
        self._clock = clock
        self._grace = misfire_grace_seconds
        self._running: set[asyncio.Task[Any]] = set()
        self.runs: dict[str, int] = {job.name: 0 for job in self._jobs}
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": misfire_grace_seconds,
            },
        )
        self._scheduler.add_listener(
            self._on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES
        )

    def start(self) -> None:
        """Start inside the running event loop; every job runs once now, then on its interval."""
        now = self._clock()
        for job in self._jobs:
            self._scheduler.add_job(
                self._wrap(job),
                IntervalTrigger(
                    seconds=job.every.total_seconds(),
                    jitter=job.jitter.total_seconds() or None,
                    timezone=UTC,
                ),
                id=job.name,
                name=job.name,
                next_run_time=now,
                replace_existing=True,
            )
        self._scheduler.start()

    async def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:  # noqa: ASYNC109
        if not self._scheduler.running:
            return
        self._scheduler.pause()  # no new runs while the running ones finish
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)
        self._scheduler.shutdown(wait=False)  # cancels what is still running
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)
        await asyncio.sleep(0)  # APScheduler applies the shutdown on the next loop turn

    def _wrap(self, job: Job) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            task = asyncio.current_task()
            if task is not None:
                self._running.add(task)
            try:
                did = await job.run()
                self.runs[job.name] += 1
                if did:
                    log.debug("job %s did %s", job.name, did)
            finally:
                if task is not None:
                    self._running.discard(task)

        return run

    def _on_event(self, event: JobEvent) -> None:
        if isinstance(event, JobExecutionEvent) and event.exception is not None:
            if isinstance(event.exception, asyncio.CancelledError):
                log.info("job %s cancelled at shutdown", event.job_id)
                return
            log.error("job %s failed", event.job_id, exc_info=event.exception)
        elif event.code == EVENT_JOB_MISSED:
            log.warning(
                "job %s missed its run (more than %s s late); the next run catches up",
                event.job_id,
                self._grace,
            )
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            log.debug("job %s still running; this run is skipped", event.job_id)


def sweep_jobs(
    sla: SlaSweepService,
    rescoring: RescoringService,
    every: timedelta,
    repair: RepairService | None = None,
) -> list[Job]:
    """The SLA sweep and recontact sweep every ``every``; score decay ten times less often; the
    repair sweep (which also routes waiting hot leads) at least every 30 s."""
    jitter = min(every / 5, timedelta(seconds=5))
    jobs = [
        Job("sla-nudges", sla.sweep, every, jitter),
        Job("recontacts", rescoring.sweep_recontacts, every, jitter),
        Job("score-decay", rescoring.sweep_scores, every * 10, jitter),
    ]
    if repair is not None:
        jobs.append(Job("repair", repair.sweep, min(every, timedelta(seconds=30)), jitter))
    return jobs
