"""A rep's email as Slack knows it (users.info; needs the users:read.email scope)."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class SlackEmails:
    def __init__(self, client: AsyncWebClient | None) -> None:
        self._client = client

    async def email_of(self, user_id: str) -> str | None:
        if self._client is None:
            return None
        try:
            response = await self._client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("cannot read the email of %s: %s", user_id, exc.response.get("error"))
            return None
        user = response.get("user") or {}
        email = (user.get("profile") or {}).get("email")
        return str(email).lower() if email else None
