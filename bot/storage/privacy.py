"""Retention (prune raw inbound data) and erasure (forget one person everywhere it is stored).

Erasure keeps the rows and blanks what identifies the person, so every count and report still
adds up: the lead keeps its state, score, grade, company, source, campaign and timestamps;
events, score snapshots, transitions, deliveries and outbox items keep existing. One new
transition (``action="erased"``, empty detail) records that an erasure happened, not what.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from bot.domain.erasure import ERASED, PersonalData, erased_email
from bot.storage.models import (
    Delivery,
    Event,
    Lead,
    OutboxItem,
    ScoreSnapshot,
    SlackEventReceipt,
    Transition,
)
from bot.storage.sql import DialectSql

PRUNED_BODY = ""
ERASED_BODY = ""
CANCELLED = "cancelled"  # an outbox item that must not be sent any more (its person is erased)
# Profile fields that identify a person. Company, size, industry, country, source and campaign
# describe the account and the funnel; they stay so reports by them still add up.
PERSONAL_FIELDS = ("first_name", "last_name", "title", "phone")


@dataclass(frozen=True)
class Pruned:
    bodies: int
    receipts: int


@dataclass(frozen=True)
class Erasure:
    lead_id: int | None  # None when no lead had that email
    deliveries: int
    outbox_items: int
    messages_updated: int


# (channel, ts, lead id) of a Slack message about the lead -> chat.update arguments
ErasedMessage = Callable[[str, str, int], dict[str, Any]]


class PrivacyStore:
    async def prune_raw_data(self, before: datetime) -> Pruned:
        """Blank raw bodies of deliveries done before ``before``; drop old Slack event receipts.

        Pending or in-flight deliveries keep their body: they are still to be processed.
        """
        bodies = (
            await Delivery.filter(received_at__lt=before, status__in=["processed", "failed"])
            .exclude(body=PRUNED_BODY)
            .update(body=PRUNED_BODY)
        )
        receipts = await SlackEventReceipt.filter(received_at__lt=before).delete()
        return Pruned(bodies, receipts)

    async def erase_person(
        self, email: str, actor: str, now: datetime, erased_message: ErasedMessage
    ) -> Erasure:
        email = email.strip().lower()
        row = await Lead.get_or_none(email=email)
        person = PersonalData.of(
            email,
            [] if row is None else [row.first_name, row.last_name, _full_name(row)],
            None if row is None else row.phone,
        )
        async with in_transaction():
            deliveries = await self._erase_deliveries(person, email, row)
            if row is None:
                outbox = await self._erase_outbox(person, email, None)
                return Erasure(None, deliveries, outbox, 0)
            outbox = await self._erase_outbox(person, email, row.id)
            await self._erase_lead(row, person)
            for event in await Event.filter(lead_id=row.id):
                await Event.filter(id=event.id).update(properties=person.scrub(event.properties))
            for snap in await ScoreSnapshot.filter(lead_id=row.id):
                await ScoreSnapshot.filter(id=snap.id).update(reasons=person.scrub(snap.reasons))
            for tr in await Transition.filter(lead_id=row.id):
                detail = (
                    {key: ERASED for key in tr.detail}  # old and new values of the profile
                    if tr.action == "profile_updated"
                    else person.scrub(tr.detail)
                )
                await Transition.filter(id=tr.id).update(detail=detail)
            messages = [
                (channel, ts)
                for channel, ts in (
                    (row.card_channel, row.card_ts),
                    (row.dm_channel, row.dm_ts),
                    (row.offer_channel, row.offer_ts),
                )
                if channel and ts
            ]
            for channel, ts in messages:
                await OutboxItem.create(
                    kind="slack",
                    method="chat.update",
                    payload=erased_message(channel, ts, row.id),
                    lead_id=row.id,
                    next_attempt_at=now,
                    created_at=now,
                )
            await Transition.create(
                lead_id=row.id,
                actor=actor,
                action="erased",
                from_state=row.state,
                to_state=row.state,
                detail={},
                at=now,
            )
            return Erasure(row.id, deliveries, outbox, len(messages))

    async def _erase_lead(self, row: Lead, person: PersonalData) -> None:
        updates: dict[str, Any] = {name: None for name in PERSONAL_FIELDS}
        updates.update(
            email=erased_email(row.id),
            custom={},
            utm=person.scrub(row.utm),
            score_reasons=person.scrub(row.score_reasons),
            route_reason=person.scrub(row.route_reason),
            return_note=None if row.return_note is None else person.scrub(row.return_note),
            website=person.scrub(row.website),
            company=person.scrub(row.company),
        )
        await Lead.filter(id=row.id).update(**updates)

    async def _erase_deliveries(self, person: PersonalData, email: str, row: Lead | None) -> int:
        sql = DialectSql()
        found = await sql.fetch(
            "SELECT id FROM deliveries WHERE lead_id = :lead_id OR LOWER(body) LIKE :pattern",
            {"lead_id": -1 if row is None else row.id, "pattern": _like(email)},
        )
        for item in found:
            delivery = await Delivery.get(id=item["id"])
            await Delivery.filter(id=delivery.id).update(
                body=ERASED_BODY,
                idempotency_key=person.scrub_key(delivery.idempotency_key),
                error=None if delivery.error is None else person.scrub(delivery.error),
            )
        return len(found)

    async def _erase_outbox(self, person: PersonalData, email: str, lead_id: int | None) -> int:
        sql = DialectSql()
        found = await sql.fetch(
            "SELECT id FROM outbox WHERE lead_id = :lead_id "  # noqa: S608
            f"OR LOWER({sql.as_text('payload')}) LIKE :pattern "
            f"OR LOWER({sql.as_text('result')}) LIKE :pattern",
            {"lead_id": -1 if lead_id is None else lead_id, "pattern": _like(email)},
        )
        for item in found:
            out = await OutboxItem.get(id=item["id"])
            await OutboxItem.filter(id=out.id).update(
                payload=person.scrub(out.payload),
                result=None if out.result is None else person.scrub(out.result),
                last_error=None if out.last_error is None else person.scrub(out.last_error),
                dedupe_key=None if out.dedupe_key is None else person.scrub_key(out.dedupe_key),
                # What was still to be sent about this person is not sent any more.
                status=CANCELLED if out.status == "pending" else out.status,
            )
        return len(found)


def _full_name(row: Lead) -> str | None:
    name = " ".join(part for part in (row.first_name, row.last_name) if part)
    return name or None


def _like(email: str) -> str:
    # "_" and "%" in an address only widen the match; the scrub then checks each string exactly.
    return f"%{email}%"
