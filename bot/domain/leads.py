"""Lead data as the domain sees it: plain, immutable values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class LeadState(StrEnum):
    NURTURING = "nurturing"  # below the hot threshold, or returned by sales
    HOT = "hot"  # over the threshold, waiting to be routed
    ROUTED = "routed"  # card posted (or queued) in a rep channel, open for claims
    CLAIMED = "claimed"  # owned by one rep, not yet contacted
    CONTACTED = "contacted"  # first touch recorded
    WON = "won"
    LOST = "lost"
    DISQUALIFIED = "disqualified"


@dataclass(frozen=True)
class LeadProfile:
    """What we know about a person; every field but email is optional."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    company: str | None = None
    company_size: int | None = None
    industry: str | None = None
    country: str | None = None  # ISO 3166-1 alpha-2, upper case
    phone: str | None = None
    website: str | None = None
    source: str | None = None
    utm: dict[str, str] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    hubspot_contact_id: str | None = None  # the HubSpot contact it came from, for write-back

    @property
    def email_domain(self) -> str:
        return self.email.rpartition("@")[2].lower()

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True)
class EngagementEvent:
    """Something a lead did: opened an email, viewed a page, booked a meeting."""

    type: str
    occurred_at: datetime  # timezone-aware UTC
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredLead:
    """A lead as stored: its profile, where it stands, and who holds it."""

    id: int
    profile: LeadProfile
    state: LeadState
    score: int
    grade: str
    reasons: tuple[tuple[int, str, str], ...]  # (points, text, group), as last scored
    created_at: datetime
    updated_at: datetime
    hot_at: datetime | None = None
    cooldown_until: datetime | None = None
    recontact_after: datetime | None = None
    routed_at: datetime | None = None
    route_channel: str | None = None
    route_rule: str | None = None
    route_reason: str | None = None
    offered_to: str | None = None
    card_channel: str | None = None
    card_ts: str | None = None
    dm_channel: str | None = None
    dm_ts: str | None = None
    offer_channel: str | None = None
    offer_ts: str | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    contacted_at: datetime | None = None
    snoozed_until: datetime | None = None
    closed_at: datetime | None = None
    returned_at: datetime | None = None
    return_reason: str | None = None
    return_note: str | None = None
    returned_by: str | None = None
    cycle: int = 0  # how many times the lead was handed to sales
