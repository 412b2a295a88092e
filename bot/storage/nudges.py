"""SLA nudges recorded exactly once, and the sweeps' claims on returned and stale-scored leads.

Exactly once: a nudge is one row, UNIQUE (lead_id, kind, cycle), inserted in the same transaction
as the outbox items that deliver it. Whoever inserts the row (one replica, one sweep) enqueues
the messages; everyone else gets an IntegrityError, the transaction rolls back and nothing is
queued. A crash before the commit leaves neither, so the next sweep tries again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.domain.leads import StoredLead
from bot.domain.lifecycle import MOVES, SCORABLE_STATES, SLA_TIMED_STATES, Move
from bot.domain.nudges import NudgeKind
from bot.storage.leads import to_stored_lead
from bot.storage.models import Lead, Nudge, OutboxItem
from bot.storage.outbox import NewItem, priority_of

SENT = "sent"
SKIPPED = "skipped"  # recorded so the timer is spent, but nothing was sent (e.g. rep paused)

_RECONTACT_FROM = [state.value for state in MOVES[Move.RECONTACT].from_states]
_KINDS = frozenset(kind.value for kind in NudgeKind)
_TIMED = ", ".join(f"'{state.value}'" for state in sorted(SLA_TIMED_STATES))
# Constants only, no input: list_candidates formats in the lifecycle's states and an int limit.
_OPEN_CANDIDATES_SQL = """
SELECT l.id FROM leads l
WHERE l.state IN ({timed}) AND l.contacted_at IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM nudges n
    WHERE n.lead_id = l.id AND n.cycle = l.cycle
      AND n.kind = CASE WHEN l.state = 'routed' THEN 'escalate_unclaimed'
                        ELSE 'escalate_uncontacted' END)
ORDER BY l.routed_at, l.id
LIMIT {limit}
"""


@dataclass(frozen=True)
class NudgeCandidate:
    """A lead whose SLA clock may be running, with the kinds already recorded this cycle."""

    lead: StoredLead
    sent: frozenset[NudgeKind]


@dataclass(frozen=True)
class RecordedNudge:
    lead_id: int
    kind: NudgeKind
    cycle: int
    status: str
    target: str | None


class NudgeStore:
    async def list_candidates(self, limit: int = 500) -> list[NudgeCandidate]:
        """Routed leads and claimed-but-uncontacted leads, oldest hand-off first, leaving out
        those whose last escalation for this hand-off was already sent: they have nothing more
        due, and must not crowd newer leads out of the ``limit``."""
        conn = Tortoise.get_connection("default")
        query = _OPEN_CANDIDATES_SQL.format(timed=_TIMED, limit=int(limit))
        found = await conn.execute_query_dict(query)
        ids = [int(row["id"]) for row in found]
        rows = await Lead.filter(id__in=ids).order_by("routed_at", "id") if ids else []
        sent: defaultdict[int, set[NudgeKind]] = defaultdict(set)
        cycles = {row.id: row.cycle for row in rows}
        if cycles:
            recorded = await Nudge.filter(lead_id__in=list(cycles))
            for nudge in recorded:
                if cycles.get(nudge.lead_id) == nudge.cycle and nudge.kind in _KINDS:
                    sent[nudge.lead_id].add(NudgeKind(nudge.kind))
        return [NudgeCandidate(to_stored_lead(row), frozenset(sent[row.id])) for row in rows]

    async def record(
        self,
        lead: StoredLead,
        kind: NudgeKind,
        target: str | None,
        items: Sequence[NewItem],
        now: datetime,
        *,
        status: str = SENT,
    ) -> bool:
        """Claim this nudge and queue its messages atomically; False if it was claimed before or
        the lead left the state and cycle it was planned for (nothing is queued then)."""
        try:
            async with in_transaction() as conn:
                # Lock the lead row (PostgreSQL; SQLite serialises transactions anyway) so a
                # claim or release cannot slip between this check and the commit.
                current = (
                    await Lead.filter(id=lead.id, state=lead.state.value, cycle=lead.cycle)
                    .select_for_update()
                    .using_db(conn)
                    .first()
                )
                if current is None:
                    return False
                await Nudge.create(
                    lead_id=lead.id,
                    kind=kind.value,
                    cycle=lead.cycle,
                    status=status,
                    target=target,
                    created_at=now,
                    using_db=conn,
                )
                for index, item in enumerate(items):
                    await OutboxItem.create(
                        kind=item.kind,
                        method=item.method,
                        payload=item.payload,
                        priority=priority_of(item),
                        lead_id=item.lead_id,
                        dedupe_key=f"nudge:{lead.id}:{lead.cycle}:{kind.value}:{index}",
                        next_attempt_at=now,
                        created_at=now,
                        using_db=conn,
                    )
        except IntegrityError:
            return False  # another sweep or replica recorded it first
        return True

    async def list_recorded(self, lead_id: int) -> list[RecordedNudge]:
        rows = await Nudge.filter(lead_id=lead_id).order_by("id")
        return [
            RecordedNudge(r.lead_id, NudgeKind(r.kind), r.cycle, r.status, r.target) for r in rows
        ]

    # --- returned leads and score decay ---------------------------------------------------------

    async def list_recontact_due(self, now: datetime, limit: int = 200) -> list[StoredLead]:
        rows = (
            await Lead.filter(state__in=_RECONTACT_FROM, recontact_after__lte=now)
            .order_by("recontact_after", "id")
            .limit(limit)
        )
        return [to_stored_lead(row) for row in rows]

    async def claim_recontact(
        self, lead: StoredLead, items: Sequence[NewItem], now: datetime
    ) -> bool:
        """Clear the return cooldown of a lead whose recontact date came, and queue the note to
        marketing, once: the conditional UPDATE on ``recontact_after`` picks one winner."""
        async with in_transaction() as conn:
            won = (
                await Lead.filter(
                    id=lead.id,
                    state__in=_RECONTACT_FROM,
                    recontact_after=lead.recontact_after,
                )
                .using_db(conn)
                .update(recontact_after=None, cooldown_until=None, updated_at=now)
            )
            if not won:
                return False
            for item in items:
                await OutboxItem.create(
                    kind=item.kind,
                    method=item.method,
                    payload=item.payload,
                    priority=priority_of(item),
                    lead_id=item.lead_id,
                    next_attempt_at=now,
                    created_at=now,
                    using_db=conn,
                )
        return True

    async def list_stale_scores(
        self, scored_before: datetime, limit: int = 1000
    ) -> list[tuple[int, datetime]]:
        """(lead id, scored_at) of nurturing and hot leads last scored before ``scored_before``."""
        rows = (
            await Lead.filter(
                state__in=[state.value for state in SCORABLE_STATES],
                scored_at__lt=scored_before,
            )
            .order_by("scored_at", "id")
            .limit(limit)
        )
        return [(row.id, row.scored_at) for row in rows if row.scored_at is not None]

    async def claim_rescore(self, lead_id: int, scored_at: datetime, now: datetime) -> bool:
        """Take a stale lead for rescoring (one replica wins the conditional UPDATE)."""
        won = await Lead.filter(id=lead_id, scored_at=scored_at).update(scored_at=now)
        return won == 1
