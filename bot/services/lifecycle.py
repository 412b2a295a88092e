"""The outbox items a lead's move causes outside Slack: lifecycle events and HubSpot write-back.

`build_lifecycle_items` is pure apart from reading the config it is given: the services call it
inside the move and store its items in the move's own transaction, so the event exists exactly
when the move does. One event item per subscribed endpoint (dedupe key = subscription + event
id, so a retried move queues nothing new) and at most one HubSpot item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.config import HandoffConfig
from bot.crm.writeback import HUBSPOT
from bot.domain.hubspot_mapping import CrmConfig
from bot.domain.leads import LeadState, StoredLead
from bot.domain.lifecycle import SYSTEM
from bot.domain.lifecycle_events import MARKETING_SUBSCRIPTION, build_event_body
from bot.slack.blocks import NOT_READY_REASONS
from bot.storage.crm import CrmStore, EndpointHealth, OwnerMatch
from bot.storage.leads import LeadStore
from bot.storage.outbox import NewItem, OutboxStore
from bot.webhooks_out import EVENT

# Lifecycle event -> the write-back move whose mapping it applies (see hubspot_mapping).
HUBSPOT_MOVES = {
    "lead.claimed": "claimed",
    "lead.contacted": "contacted",
    "lead.returned": "returned",
    "lead.won": "won",
    "lead.lost": "lost",
    "lead.disqualified": "disqualified",
}
# Events that hand the lead to a rep, who becomes the contact's owner.
OWNER_EVENTS = frozenset({"lead.claimed", "lead.reassigned"})


@dataclass(frozen=True)
class Subscriber:
    name: str
    url: str
    events: frozenset[str]


def subscribers(config: HandoffConfig) -> list[Subscriber]:
    """`webhooks:`, plus `marketing.webhook_url` as a subscription to `lead.returned`."""
    found = [Subscriber(s.name, s.url, frozenset(s.events)) for s in config.webhooks]
    if config.marketing.webhook_url:
        found.append(
            Subscriber(
                MARKETING_SUBSCRIPTION, config.marketing.webhook_url, frozenset({"lead.returned"})
            )
        )
    return found


def _return_note(lead: StoredLead, actor: str) -> str:
    reason = NOT_READY_REASONS.get(lead.return_reason or "", lead.return_reason or "Other")
    lines = [f"Returned to marketing by a sales rep (Slack {actor}) in Handoff: {reason}."]
    if lead.return_note:
        lines.append(f"Note: {lead.return_note}")
    if lead.recontact_after:
        lines.append(f"Recontact after {lead.recontact_after.date().isoformat()}.")
    return "\n".join(lines)


def _contact_properties(lead: StoredLead) -> dict[str, str]:
    profile = lead.profile
    values = {
        "firstname": profile.first_name,
        "lastname": profile.last_name,
        "company": profile.company,
        "jobtitle": profile.title,
        "phone": profile.phone,
        "website": profile.website,
    }
    return {name: value for name, value in values.items() if value}


def build_lifecycle_items(
    event_type: str,
    lead: StoredLead,
    actor: str,
    now: datetime,
    subscriptions: Sequence[Subscriber],
    crm_config: CrmConfig,
    detail: dict[str, Any] | None = None,
    hubspot_contact_id: str | None = None,
) -> list[NewItem]:
    """What ``event_type`` on ``lead`` (as it is after the move) sends out.

    ``hubspot_contact_id`` is the id kept from the HubSpot source, when the lead came from it.
    """
    body = build_event_body(event_type, lead, actor, now, detail, NOT_READY_REASONS)
    items = [
        # No lead_id: a subscriber that is down must not hold back the lead's Slack messages,
        # which the outbox keeps in order per lead.
        NewItem(
            EVENT,
            event_type,
            {"subscription": s.name, "url": s.url, "event_id": body["id"], "body": body},
            dedupe_key=f"event:{s.name}:{body['id']}",
        )
        for s in subscriptions
        if event_type in s.events
    ]
    hubspot = crm_config.hubspot
    move = HUBSPOT_MOVES.get(event_type)
    if hubspot is not None and hubspot.enabled and (move or event_type in OWNER_EVENTS):
        payload: dict[str, Any] = {
            "lead_id": lead.id,
            "email": lead.profile.email,
            "contact_id": hubspot_contact_id,
            "occurred_at": now.isoformat(),
            "event": event_type,
            "properties": hubspot.properties_for(move) if move else {},
            "owner_user": lead.claimed_by if event_type in OWNER_EVENTS else None,
            "note": _return_note(lead, actor) if event_type == "lead.returned" else None,
            "create": _contact_properties(lead),
        }
        items.append(
            NewItem(
                HUBSPOT,
                f"hubspot.{move or 'owner'}",
                payload,
                dedupe_key=f"hubspot:{body['id']}",
            )
        )
    return items


class CrmStatus:
    """What `handoff doctor` shows about the CRM and the subscriber endpoints."""

    def __init__(self, store: CrmStore) -> None:
        self._store = store

    async def list_unmatched_reps(self) -> list[OwnerMatch]:
        """Reps whose Slack email matches no HubSpot owner: their claims set no owner."""
        return await self._store.list_unmatched_owners()

    async def list_failing_endpoints(self) -> list[EndpointHealth]:
        return [e for e in await self._store.list_endpoints() if e.marked_failing_at is not None]


LifecycleBuilder = Callable[[str, StoredLead, str, datetime, dict[str, Any]], list[NewItem]]


class LifecycleEvents:
    """The lifecycle events and CRM write-back items one move causes, built from the lead as it
    will be after the move, so the services queue them in the move's own transaction."""

    def __init__(self, build: LifecycleBuilder | None = None) -> None:
        self._build = build

    @property
    def enabled(self) -> bool:
        return self._build is not None

    def items(
        self,
        event_type: str,
        lead: StoredLead,
        actor: str,
        at: datetime,
        detail: dict[str, Any] | None = None,
    ) -> list[NewItem]:
        if self._build is None:
            return []
        return self._build(event_type, lead, actor, at, detail or {})


NO_EVENTS = LifecycleEvents()


def hot_items(events: LifecycleEvents, lead: StoredLead) -> list[NewItem]:
    """`lead.hot` for a lead that is hot, keyed on `hot_at` (once per time it turned hot)."""
    if lead.state != LeadState.HOT or lead.hot_at is None:
        return []
    return events.items("lead.hot", lead, SYSTEM, lead.hot_at, {"score": lead.score})


async def announce_hot(
    leads: LeadStore, outbox: OutboxStore, events: LifecycleEvents, lead_id: int, now: datetime
) -> None:
    """`lead.hot` on its own, for a hot lead that is not routed (Slack is not configured);
    routing queues it in the routing move's transaction instead."""
    if not events.enabled:
        return
    lead = await leads.get(lead_id)
    if lead is None:
        return
    for item in hot_items(events, lead):
        await outbox.enqueue(item, now)
