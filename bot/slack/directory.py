"""Who is in the managers' Slack user group, read from Slack and cached for a few minutes."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.clock import Clock

log = logging.getLogger(__name__)


class ManagerGroup:
    """Members of `manager_group`. ``usergroups.users.list`` is rate-limited, so answers are
    kept for ``ttl``; when Slack fails, the last known members stand (none at first)."""

    def __init__(
        self,
        client: AsyncWebClient,
        group_id: str,
        clock: Clock,
        ttl: timedelta = timedelta(minutes=5),
    ) -> None:
        self._client = client
        self._group_id = group_id
        self._clock = clock
        self._ttl = ttl
        self._members: frozenset[str] = frozenset()
        self._read_at: datetime | None = None

    async def members(self) -> frozenset[str]:
        now = self._clock()
        if self._read_at is not None and now - self._read_at < self._ttl:
            return self._members
        try:
            response = await self._client.usergroups_users_list(usergroup=self._group_id)
        except SlackApiError as exc:
            log.warning(
                "cannot read manager group %s: %s", self._group_id, exc.response.get("error")
            )
            return self._members
        self._members = frozenset(str(user) for user in response.get("users") or [])
        self._read_at = now
        return self._members
