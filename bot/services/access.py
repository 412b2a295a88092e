"""Who is a manager or a channel's rep, and how a lifecycle refusal is told to the user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.config import HandoffConfig
from bot.domain.channels import channel_context
from bot.domain.leads import StoredLead
from bot.domain.lifecycle import Actor, Move, Refusal, RefusalKind, refusal
from bot.slack import blocks

_MANAGERS_MAY = frozenset(
    {RefusalKind.NOT_OWNER, RefusalKind.NOT_MANAGER, RefusalKind.NOT_CHANNEL_REP}
)


@dataclass(frozen=True)
class Outcome:
    """What the clicking user is told. ``ok`` False means nothing changed."""

    ok: bool
    message: str | None = None


class Access:
    def __init__(self, config: HandoffConfig) -> None:
        self._config = config
        self._manager_group: Callable[[], Awaitable[frozenset[str]]] | None = None

    def set_manager_group(self, members: Callable[[], Awaitable[frozenset[str]]]) -> None:
        self._manager_group = members

    def is_manager(self, user_id: str, channel: str | None = None) -> bool:
        """Global managers manage everything; a channel's manager manages that channel (and,
        asked without a channel, counts as a manager)."""
        if channel is None:
            return user_id in self._config.managers or any(
                c.manager == user_id for c in self._config.channels.values()
            )
        return user_id in channel_context(self._config, channel).managers

    async def is_any_manager(self, user_id: str, channel: str | None = None) -> bool:
        """`is_manager`, or a member of the `manager_group` Slack user group."""
        if self.is_manager(user_id, channel):
            return True
        return self._manager_group is not None and user_id in await self._manager_group()

    async def actor(self, user_id: str, lead: StoredLead) -> Actor:
        return Actor(user_id, await self.is_any_manager(user_id, lead.route_channel))

    async def refusal(self, move: Move, lead: StoredLead, user_id: str) -> Refusal | None:
        """The lifecycle's answer for this user, with the channel's reps for claims. Whether
        the user is a manager (maybe a Slack call for the user group) is asked only when the
        answer depends on it."""
        reps = channel_context(self._config, lead.route_channel).reps
        found = refusal(move, lead.state, lead.claimed_by, Actor(user_id), reps)
        if found is None or found.kind not in _MANAGERS_MAY:
            return found
        return refusal(move, lead.state, lead.claimed_by, await self.actor(user_id, lead), reps)


def explain(found: Refusal) -> str:
    """A refusal as the polite sentence the user sees."""
    owner = blocks.mention(found.owner or "")
    if found.kind is RefusalKind.ALREADY_CLAIMED:
        return f"Already claimed by {owner}."
    if found.kind is RefusalKind.NOT_OWNER:
        if found.move is Move.RETURN:
            return f"Only {owner} or a manager can return this lead."
        return f"This lead is claimed by {owner}; only they or a manager can act on it."
    if found.kind is RefusalKind.NOT_CHANNEL_REP:
        return "This channel's leads are for its listed reps; ask its manager if you should be one."
    if found.kind is RefusalKind.NOT_MANAGER:
        return "Only a manager can reassign leads."
    if found.kind is RefusalKind.UNKNOWN_OUTCOME:
        return "Unknown outcome."
    if found.move is Move.CLAIM:
        return f"This lead is {found.state.value}; it cannot be claimed."
    if found.move is Move.RETURN:
        return "This lead is no longer open."
    if found.move is Move.SNOOZE:
        return "Only a claimed lead can be snoozed."
    if found.move is Move.REASSIGN:
        return f"This lead is {found.state.value}; it cannot be reassigned."
    return f"This lead is {found.state.value}; nothing changed."
