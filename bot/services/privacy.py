"""Retention sweeps and erasure requests (`handoff forget`, `/leads forget`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.clock import Clock
from bot.domain.erasure import is_erased_email
from bot.domain.report_query import unescape_links
from bot.slack import blocks
from bot.storage.privacy import Erasure, PrivacyStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForgetAnswer:
    ok: bool
    message: str
    erasure: Erasure | None = None


class PrivacyService:
    def __init__(
        self,
        store: PrivacyStore,
        clock: Clock,
        retention: timedelta,
        kick_outbox: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._retention = retention
        self._kick = kick_outbox

    async def prune(self) -> int:
        """Blank raw bodies and drop Slack event receipts older than the retention period."""
        pruned = await self._store.prune_raw_data(self._clock() - self._retention)
        if pruned.bodies or pruned.receipts:
            log.info(
                "retention: blanked %s raw body(ies), dropped %s Slack event receipt(s)",
                pruned.bodies,
                pruned.receipts,
            )
        return pruned.bodies + pruned.receipts

    async def forget(self, email: str, actor: str) -> ForgetAnswer:
        email = unescape_links(email).strip().lower()
        if "@" not in email or " " in email or is_erased_email(email):
            return ForgetAnswer(False, f"not an email address: {email!r}")
        erasure = await self._store.erase_person(
            email, actor, self._clock(), blocks.build_erased_message
        )
        if erasure.lead_id is None and not erasure.deliveries and not erasure.outbox_items:
            return ForgetAnswer(True, "No personal data stored for that email.", erasure)
        if self._kick is not None and erasure.messages_updated:
            self._kick()
        # The log line names the lead, never the email.
        log.info("erased personal data of lead %s at the request of %s", erasure.lead_id, actor)
        lead = f"lead #{erasure.lead_id}" if erasure.lead_id is not None else "no lead"
        return ForgetAnswer(
            True,
            f"Erased: {lead}, {erasure.deliveries} raw delivery(ies), "
            f"{erasure.outbox_items} queued message(s); "
            f"{erasure.messages_updated} Slack message(s) being marked erased.",
            erasure,
        )

    async def forget_from_command(self, user_id: str, is_manager: bool, text: str) -> str:
        """`/leads forget <email>`: managers only."""
        if not is_manager:
            return "Only a manager can erase a person's data."
        email = text.split(None, 1)[1] if len(text.split(None, 1)) == 2 else ""
        if not email.strip():
            return "Usage: `/leads forget <email>`"
        answer = await self.forget(email, user_id)
        return answer.message
