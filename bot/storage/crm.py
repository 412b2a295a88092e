"""What the CRM write-back and the lifecycle webhooks remember between calls.

HubSpot contacts matched to leads, reps' HubSpot owners (a cache that `handoff doctor` also
reads for unmatched reps), and the health of each subscriber endpoint. Every "only once" is one
conditional UPDATE.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q

from bot.storage.models import CrmContact, CrmOwner, WebhookEndpoint


@dataclass(frozen=True)
class OwnerMatch:
    user_id: str
    email: str | None
    owner_id: str | None  # None: no HubSpot owner has the rep's Slack email
    checked_at: datetime


@dataclass(frozen=True)
class EndpointHealth:
    name: str
    url: str
    failing_since: datetime | None
    marked_failing_at: datetime | None
    last_error: str | None
    last_success_at: datetime | None


def _health(row: WebhookEndpoint) -> EndpointHealth:
    return EndpointHealth(
        row.name,
        row.url,
        row.failing_since,
        row.marked_failing_at,
        row.last_error,
        row.last_success_at,
    )


class CrmStore:
    async def get_contact_id(self, lead_id: int) -> str | None:
        row = await CrmContact.get_or_none(lead_id=lead_id)
        return None if row is None else row.hubspot_id

    async def save_contact_id(self, lead_id: int, hubspot_id: str, now: datetime) -> None:
        updated = await CrmContact.filter(lead_id=lead_id).update(
            hubspot_id=hubspot_id, updated_at=now
        )
        if not updated:
            try:
                await CrmContact.create(lead_id=lead_id, hubspot_id=hubspot_id, updated_at=now)
            except IntegrityError:  # a concurrent worker matched it first: same contact
                await CrmContact.filter(lead_id=lead_id).update(hubspot_id=hubspot_id)

    async def claim_newest(self, lead_id: int, occurred_at: datetime, now: datetime) -> bool:
        """True when no newer move was written to the lead's contact; records this one."""
        won = await CrmContact.filter(
            Q(synced_at__isnull=True) | Q(synced_at__lte=occurred_at), lead_id=lead_id
        ).update(synced_at=occurred_at, updated_at=now)
        return won == 1

    async def get_owner(self, user_id: str, fresh_since: datetime) -> OwnerMatch | None:
        row = await CrmOwner.get_or_none(user_id=user_id, checked_at__gte=fresh_since)
        return (
            None
            if row is None
            else OwnerMatch(row.user_id, row.email, row.owner_id, row.checked_at)
        )

    async def save_owner(
        self, user_id: str, email: str | None, owner_id: str | None, now: datetime
    ) -> None:
        await CrmOwner.update_or_create(
            defaults={"email": email, "owner_id": owner_id, "checked_at": now}, user_id=user_id
        )

    async def list_unmatched_owners(self) -> list[OwnerMatch]:
        """Reps who claimed leads but have no HubSpot owner with their Slack email."""
        rows = await CrmOwner.filter(owner_id__isnull=True).order_by("user_id")
        return [OwnerMatch(r.user_id, r.email, r.owner_id, r.checked_at) for r in rows]

    # --- subscriber endpoints -----------------------------------------------------------------

    async def record_failure(
        self, name: str, url: str, error: str, now: datetime
    ) -> EndpointHealth:
        _, created = await _endpoint_row(name, url, now, failing=True)
        if not created:
            # The first failure since the last success starts the clock; later ones keep it.
            await WebhookEndpoint.filter(name=name, failing_since__isnull=True).update(
                failing_since=now
            )
        await WebhookEndpoint.filter(name=name).update(
            url=url, last_error=error[:2000], updated_at=now
        )
        return _health(await WebhookEndpoint.get(name=name))

    async def mark_failing(self, name: str, failing_for: timedelta, now: datetime) -> bool:
        """True exactly once per outage: for the caller that marks it failing."""
        marked = await WebhookEndpoint.filter(
            name=name, marked_failing_at__isnull=True, failing_since__lte=now - failing_for
        ).update(marked_failing_at=now, updated_at=now)
        return marked == 1

    async def record_success(self, name: str, url: str, now: datetime) -> EndpointHealth | None:
        """Clear the outage; returns its health as it was when it had been marked failing."""
        before, _ = await _endpoint_row(name, url, now, failing=False)
        recovered = await WebhookEndpoint.filter(name=name, marked_failing_at__isnull=False).update(
            failing_since=None, marked_failing_at=None, last_success_at=now, updated_at=now
        )
        if not recovered:
            await WebhookEndpoint.filter(name=name).update(
                failing_since=None, last_success_at=now, updated_at=now
            )
            return None
        return _health(before)

    async def list_endpoints(self) -> list[EndpointHealth]:
        return [_health(r) for r in await WebhookEndpoint.all().order_by("name")]


async def _endpoint_row(
    name: str, url: str, now: datetime, failing: bool
) -> tuple[WebhookEndpoint, bool]:
    row = await WebhookEndpoint.get_or_none(name=name)
    if row is not None:
        return row, False
    try:
        created = await WebhookEndpoint.create(
            name=name, url=url, failing_since=now if failing else None, updated_at=now
        )
    except IntegrityError:  # another worker created it first
        return await WebhookEndpoint.get(name=name), False
    return created, True
