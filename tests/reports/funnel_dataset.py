"""A hand-checked funnel fixture: leads and their audit trails, inserted through the models.

Period under test: 2026-03-01..2026-03-09 in UTC = [03-01 00:00, 03-10 00:00). Every expected
number in the funnel tests is worked out by hand from the comments below.

| lead | source  | channel | in (March) | first hot | first claim | contacted | end            |
| F1   | web     | EMEA    | 02 09:00   | +10 min   | +30 min     | +60 min   | won +2 d       |
| F2   | web     | EMEA    | 02 12:00   | +20 min   | +10 min     | +2 h      | (reassigned)   |
| F3   | web     | US      | 03 09:00   | +30 min   | +60 min     | —         | returned, won  |
| F4   | webinar | US      | 04 09:00   | +5 min    | —           | —         | returned       |
| F5   | webinar | US      | 05 09:00   | +40 min   | +20 min     | —         | disqualified   |
| F6   | webinar | —       | 06 09:00   | —         |             |           |                |
| F7   | web     | —       | 07 09:00   | —         |             |           |                |
| F8   | —       | EMEA    | 08 09:00   | +1 min    | +30 min     | +10 min   | lost           |
| F11  | webinar | —       | 01 00:00   | — (in at the period's first instant)  |                |
Outside the cohort: F9 (in February, won in March) and F10 (in at the period's end instant).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.storage.models import Lead, Transition

ANA, BOB = "U0ANA", "U0BOB"
EMEA, US = "C0EMEA", "C0US"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)


def at(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


class _Trail:
    def __init__(self, lead: Lead) -> None:
        self.lead = lead

    async def add(
        self, action: str, to_state: str, when: datetime, actor: str = "system"
    ) -> _Trail:
        await Transition.create(
            lead_id=self.lead.id,
            actor=actor,
            action=action,
            from_state=None,
            to_state=to_state,
            detail={},
            at=when,
        )
        return self


async def _lead(email: str, created: datetime, **values: object) -> _Trail:
    lead = await Lead.create(email=email, created_at=created, updated_at=created, **values)
    trail = _Trail(lead)
    return await trail.add("created", "nurturing", created)


async def insert_funnel_dataset() -> None:
    f1 = await _lead(
        "f1@acme.io", at(2, 9), source="web", route_channel=EMEA, state="won", claimed_by=ANA
    )
    await f1.add("scored", "hot", at(2, 9, 10))
    await f1.add("routed", "routed", at(2, 9, 15))
    await f1.add("claimed", "claimed", at(2, 9, 40), ANA)
    await f1.add("contacted", "contacted", at(2, 10, 40), ANA)
    await f1.add("won", "won", at(4, 10, 40), ANA)

    f2 = await _lead(
        "f2@acme.io", at(2, 12), source="web", route_channel=EMEA, state="contacted",
        claimed_by=BOB,
    )  # fmt: skip
    await f2.add("scored", "hot", at(2, 12, 20))
    await f2.add("claimed", "claimed", at(2, 12, 30), ANA)
    await f2.add("reassigned", "claimed", at(2, 13), "U0BOSS")  # not its first claim
    await f2.add("contacted", "contacted", at(2, 14, 30), BOB)

    f3 = await _lead(
        "f3@globex.com", at(3, 9), source="web", route_channel=US, state="won", claimed_by=BOB
    )
    await f3.add("scored", "hot", at(3, 9, 30))
    await f3.add("claimed", "claimed", at(3, 10, 30), ANA)
    await f3.add("returned", "nurturing", at(3, 12), ANA)
    await f3.add("scored", "hot", at(5, 9))  # hot again after the return: not its first
    await f3.add("claimed", "claimed", at(5, 9, 5), BOB)
    await f3.add("won", "won", at(6, 9, 5), BOB)  # won straight from claimed

    f4 = await _lead("f4@initech.com", at(4, 9), source="webinar", route_channel=US)
    await f4.add("scored", "hot", at(4, 9, 5))
    await f4.add("routed", "routed", at(4, 9, 6))
    await f4.add("returned", "nurturing", at(4, 10), BOB)  # returned before anyone claimed it

    f5 = await _lead(
        "f5@umbrella.com", at(5, 9), source="webinar", route_channel=US, state="disqualified",
        claimed_by=ANA,
    )  # fmt: skip
    await f5.add("scored", "hot", at(5, 9, 40))
    await f5.add("claimed", "claimed", at(5, 10), ANA)
    await f5.add("disqualified", "disqualified", at(5, 11), ANA)

    await _lead("f6@hooli.com", at(6, 9), source="webinar")
    await _lead("f7@stark.com", at(7, 9), source="web")

    f8 = await _lead("f8@wayne.com", at(8, 9), route_channel=EMEA, state="lost", claimed_by=ANA)
    await f8.add("scored", "hot", at(8, 9, 1))
    await f8.add("claimed", "claimed", at(8, 9, 31), ANA)
    await f8.add("contacted", "contacted", at(8, 9, 41), ANA)
    await f8.add("lost", "lost", at(9, 10), ANA)

    f9 = await _lead(
        "f9@old.com", at(25, 9, month=2), source="web", route_channel=EMEA, state="won",
        claimed_by=ANA,
    )  # fmt: skip
    await f9.add("scored", "hot", at(25, 10, month=2))
    await f9.add("claimed", "claimed", at(2, 9), ANA)
    await f9.add("won", "won", at(3, 9), ANA)

    f10 = await _lead("f10@edge.com", at(10, 0), source="web", route_channel=EMEA)
    await f10.add("scored", "hot", at(10, 1))

    await _lead("f11@first.com", at(1, 0), source="webinar")
