"""What a lead's move writes to its HubSpot contact: `crm.hubspot:` in handoff.yml. Pure.

Defaults follow HubSpot's standard property values: `hs_lead_status` (NEW, OPEN, IN_PROGRESS,
OPEN_DEAL, UNQUALIFIED, ATTEMPTED_TO_CONTACT, CONNECTED, BAD_TIMING) and `lifecyclestage`
(subscriber, lead, marketingqualifiedlead, salesqualifiedlead, opportunity, customer,
evangelist, other). A mapping given in the file replaces the default of that move; a property
set to null is left alone.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain.durations import Duration

WritebackMove = Literal["claimed", "contacted", "returned", "won", "lost", "disqualified"]
WRITEBACK_MOVES: tuple[str, ...] = WritebackMove.__args__  # type: ignore[attr-defined]

# HubSpot only moves a lifecycle stage forward; going back means clearing it first.
LIFECYCLE_ORDER = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
LEAD_STATUS = "hs_lead_status"
LIFECYCLE_STAGE = "lifecyclestage"
OWNER = "hubspot_owner_id"


class ContactProperties(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lead_status: str | None = None
    lifecycle_stage: str | None = None

    def as_properties(self) -> dict[str, str]:
        values = {LEAD_STATUS: self.lead_status, LIFECYCLE_STAGE: self.lifecycle_stage}
        return {name: value for name, value in values.items() if value is not None}


DEFAULT_MAPPING: dict[str, ContactProperties] = {
    "claimed": ContactProperties(lead_status="IN_PROGRESS", lifecycle_stage="salesqualifiedlead"),
    "contacted": ContactProperties(lead_status="CONNECTED", lifecycle_stage="opportunity"),
    "returned": ContactProperties(
        lead_status="BAD_TIMING", lifecycle_stage="marketingqualifiedlead"
    ),
    "won": ContactProperties(lifecycle_stage="customer"),
    "lost": ContactProperties(lead_status="UNQUALIFIED"),
    "disqualified": ContactProperties(lead_status="UNQUALIFIED", lifecycle_stage="other"),
}


class HubSpotConfig(BaseModel):
    """Write-back to HubSpot. Needs HUBSPOT_ACCESS_TOKEN (a private app token with the
    crm.objects.contacts.read/write and crm.objects.owners.read scopes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    set_owner: bool = Field(default=True, description="claimer becomes the contact owner")
    create_missing_contacts: bool = True
    owner_cache: Duration = Field(default=timedelta(hours=6), description="owner lookups kept")
    mapping: dict[str, ContactProperties] = Field(default_factory=lambda: dict(DEFAULT_MAPPING))

    @field_validator("mapping")
    @classmethod
    def _fill_defaults(cls, value: dict[str, ContactProperties]) -> dict[str, ContactProperties]:
        unknown = sorted(set(value) - set(WRITEBACK_MOVES))
        if unknown:
            raise ValueError(f"unknown move(s) {unknown}; expected some of {list(WRITEBACK_MOVES)}")
        return {**DEFAULT_MAPPING, **value}

    def properties_for(self, move: str) -> dict[str, str]:
        entry = self.mapping.get(move)
        return {} if entry is None else entry.as_properties()


class CrmConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hubspot: HubSpotConfig | None = None


def moves_lifecycle_back(current: str | None, target: str) -> bool:
    """Whether setting ``target`` would move the lifecycle stage backwards, which HubSpot
    ignores unless the stage is cleared first. Custom stages are not ordered here."""
    if not current or current not in LIFECYCLE_ORDER or target not in LIFECYCLE_ORDER:
        return False
    return LIFECYCLE_ORDER.index(target) < LIFECYCLE_ORDER.index(current)
