"""A small, hand-checked dataset for report tests, inserted through the Tortoise models.

Period under test: 2026-03-01..2026-03-09 in UTC = [03-01 00:00, 03-10 00:00).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.storage.models import Lead, Nudge, Rep, Transition

ANA, BOB, CAROL = "U0ANA", "U0BOB", "U0CAROL"  # CAROL is a listed rep who never claimed
EMEA, US = "C0EMEA", "C0US"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


async def _lead(email: str, created_at: datetime, **values: Any) -> Lead:
    return await Lead.create(email=email, created_at=created_at, updated_at=created_at, **values)


async def _transition(lead: Lead, actor: str, action: str, when: datetime, **detail: Any) -> None:
    await Transition.create(
        lead_id=lead.id,
        actor=actor,
        action=action,
        from_state=None,
        to_state="x",
        detail=detail,
        at=when,
    )


async def insert_dataset() -> dict[str, Lead]:
    leads: dict[str, Lead] = {}
    # L1 web/EMEA: claimed by ANA 2 min after routing, first touch after 30 min, won.
    leads["l1"] = await _lead(
        "maria.garcia@acme.io", at(2, 9), first_name="Maria", last_name="Garcia",
        company="Acme", source="web", campaign="=cmd|calc", state="won", grade="A", score=91,
        hot_at=at(2, 9, 5), routed_at=at(2, 10), route_channel=EMEA, claimed_by=ANA,
        claimed_at=at(2, 10, 2), contacted_at=at(2, 10, 30), closed_at=at(5, 10),
    )  # fmt: skip
    # L2 web/EMEA: claimed by ANA after 4 min, first touch after 60 min.
    leads["l2"] = await _lead(
        "john.smith@globex.com", at(3, 9), first_name="John", last_name="Smith",
        source="web", state="contacted", grade="A", hot_at=at(3, 9), routed_at=at(3, 10),
        route_channel=EMEA, claimed_by=ANA, claimed_at=at(3, 10, 4), contacted_at=at(3, 11),
    )  # fmt: skip
    # L3 webinar/US: claimed by BOB after 10 min, never contacted (stale).
    leads["l3"] = await _lead(
        "li.wei@initech.com", at(4, 9), first_name="Li", last_name="Wei", source="webinar",
        state="claimed", grade="B", hot_at=at(4, 9), routed_at=at(4, 10), route_channel=US,
        claimed_by=BOB, claimed_at=at(4, 10, 10),
    )  # fmt: skip
    # L4 webinar/US: routed, never claimed (stale, no owner).
    leads["l4"] = await _lead(
        "-rm@umbrella.com", at(4, 12), source="webinar", state="routed", grade="C",
        hot_at=at(4, 12), routed_at=at(4, 13), route_channel=US,
    )  # fmt: skip
    # L5 web: never hot.
    leads["l5"] = await _lead("nurture@hooli.com", at(5, 8), source="web", grade="D")
    # L6 webinar/EMEA: returned twice (BOB, then ANA after re-routing); now nurturing.
    leads["l6"] = await _lead(
        "twice@stark.com", at(6, 8), first_name="Tony", source="webinar",
        campaign="spring-webinar", state="nurturing", grade="B", hot_at=at(6, 8, 10),
        routed_at=at(7, 9), route_channel=EMEA, returned_at=at(8, 10), return_reason="budget",
        return_note="Q3 budget", returned_by=ANA, cycle=2,
    )  # fmt: skip
    # L7 web/US: came in and was claimed in February, lost inside the period.
    leads["l7"] = await _lead(
        "old@wayne.com", at(20, 9, month=2), source="web", state="lost", grade="B",
        hot_at=at(20, 9, month=2), routed_at=at(21, 9, month=2), route_channel=US,
        claimed_by=ANA, claimed_at=at(21, 9, 5, month=2), contacted_at=at(22, 9, month=2),
        closed_at=at(4, 10),
    )  # fmt: skip
    # L8 web/US: routed inside the period, claimed by ANA just after it ends (stale).
    leads["l8"] = await _lead(
        "late@cyberdyne.com", at(9, 23), source="web", state="claimed", grade="A",
        hot_at=at(9, 23), routed_at=at(9, 23, 30), route_channel=US, claimed_by=ANA,
        claimed_at=at(10, 0, 30),
    )  # fmt: skip
    # L9 webinar: in exactly at the period start, disqualified.
    leads["l9"] = await _lead(
        "student@uni.edu", at(1, 0), source="webinar", state="disqualified", grade="D",
        closed_at=at(2, 0),
    )  # fmt: skip
    # L10 web: in exactly at the period end (excluded).
    leads["l10"] = await _lead("edge@soylent.com", at(10, 0), source="web", grade="D")

    l1, l3, l4, l6, l7, l8 = (leads[k] for k in ("l1", "l3", "l4", "l6", "l7", "l8"))
    await _transition(l1, "system", "created", at(2, 9))
    await _transition(l1, "system", "routed", at(2, 10), channel=EMEA)
    await _transition(l1, ANA, "claimed", at(2, 10, 2))
    await _transition(l6, BOB, "returned", at(6, 12), reason="timing", note="call in May")
    await _transition(l6, ANA, "returned", at(8, 10), reason="budget", note="Q3 budget")
    await _transition(l7, ANA, "returned", at(25, 9, month=2), reason="wrong_fit")  # before

    async def nudge(lead: Lead, kind: str, when: datetime) -> None:
        await Nudge.create(lead_id=lead.id, kind=kind, cycle=1, target=US, created_at=when)

    await nudge(l4, "nudge_unclaimed", at(4, 13, 30))  # a reminder, not a breach
    await nudge(l4, "escalate_unclaimed", at(4, 14))
    await nudge(l3, "escalate_uncontacted", at(5, 10, 10))
    await nudge(l8, "escalate_unclaimed", at(10, 1))  # after the period
    await Rep.create(user_id=CAROL, updated_at=NOW)
    return leads
