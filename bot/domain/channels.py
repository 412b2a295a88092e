"""One lookup for everything a lead's channel decides: hours, zone, managers, reps, SLA policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.domain.nudges import effective_policy
from bot.domain.sla import BusinessHours

if TYPE_CHECKING:
    # Type-only: the domain must not import config (config imports the domain) at run time.
    from bot.config import HandoffConfig, SlaPolicy


@dataclass(frozen=True)
class ChannelContext:
    channel: str | None
    configured: bool  # the channel has its own entry under `channels:`
    hours: BusinessHours  # always open when none are configured
    zone: ZoneInfo  # the hours' zone, UTC without hours
    managers: frozenset[str]  # who manages leads here: global managers and the channel's
    escalate_to: tuple[str, ...]  # whom escalations name: the channel's manager, else global
    reps: Mapping[str, int]  # rep user ID -> weight; empty means anyone may claim
    sla: SlaPolicy


def channel_context(config: HandoffConfig, channel: str | None) -> ChannelContext:
    entry = config.channels.get(channel or "")
    hours = (entry.business_hours if entry else None) or config.business_hours
    manager = entry.manager if entry else None
    return ChannelContext(
        channel=channel,
        configured=entry is not None,
        hours=hours or BusinessHours.always(),
        zone=hours.zone if hours is not None else ZoneInfo("UTC"),
        managers=frozenset(config.managers) | ({manager} if manager else set()),
        escalate_to=(manager,) if manager else tuple(config.managers),
        reps=dict(entry.reps) if entry else {},
        sla=effective_policy(config.sla, entry.sla if entry else None),
    )
