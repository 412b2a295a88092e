"""Every stored lead transition is logged, whichever storage method wrote it.

A post-save listener on the audit table is the one place every state change passes through,
so the log line cannot be forgotten by a new storage move. (Bulk inserts skip listeners: a
move that uses ``bulk_create`` must call ``bot.logs.log_transition`` itself.)
"""

from __future__ import annotations

from typing import Any

from tortoise.signals import Signals

from bot.logs import log_transition
from bot.storage.models import Transition


async def _on_transition_saved(
    sender: type[Transition], instance: Transition, created: bool, *_: Any
) -> None:
    if created:
        log_transition(
            int(instance.lead_id),  # type: ignore[attr-defined]  # the FK column
            instance.from_state,
            instance.to_state,
            instance.actor,
            instance.action,
        )


def install_transition_log() -> None:
    """Idempotent: Tortoise keeps one copy of a listener."""
    Transition.register_listener(Signals.post_save, _on_transition_saved)
