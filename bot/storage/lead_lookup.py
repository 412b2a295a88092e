"""Finding a lead by an id another system gave it (HubSpot's contact id)."""

from __future__ import annotations

from bot.storage.models import Lead


class LeadLookup:
    async def email_for_hubspot_contact(self, contact_id: str) -> str | None:
        row = await Lead.filter(hubspot_contact_id=contact_id).only("id", "email").first()
        return None if row is None else row.email
