"""A small HubSpot CRM v3 client: contacts, owners and notes, with HubSpot's errors as values.

Only the calls Handoff makes. Errors keep HubSpot's own message (`{"status": "error",
"message": ..., "category": ...}`) so a failed outbox item says what HubSpot said. A 429 becomes
`HubSpotRateLimited` with how long to wait: `Retry-After` when given, else the rate-limit
window (`X-HubSpot-RateLimit-Interval-Milliseconds`), else a minute for the daily limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp

NOTE_TO_CONTACT = 202  # HubSpot-defined association type id: note -> contact
DAILY_LIMIT_WAIT_SECONDS = 3600.0


class HubSpotError(Exception):
    """HubSpot refused a call; `status` is the HTTP status, `category` HubSpot's category."""

    def __init__(self, status: int, message: str, category: str | None = None) -> None:
        super().__init__(f"HubSpot {status} {category or ''}: {message}".replace("  ", " "))
        self.status = status
        self.message = message
        self.category = category

    @property
    def transient(self) -> bool:
        return self.status >= 500


class HubSpotRateLimited(HubSpotError):
    def __init__(self, message: str, wait_seconds: float, policy: str | None) -> None:
        super().__init__(429, message, "RATE_LIMIT")
        self.wait_seconds = wait_seconds
        self.policy = policy


class HubSpotUnavailable(Exception):
    """No answer at all (connection refused, timeout): worth retrying."""


def rate_limit_wait(headers: Any, body: dict[str, Any]) -> float:
    retry_after = headers.get("Retry-After")
    if retry_after:
        try:
            return max(float(retry_after), 0.0)
        except ValueError:
            pass
    if str(body.get("policyName", "")).upper() == "DAILY":
        return DAILY_LIMIT_WAIT_SECONDS
    interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    if interval and interval.isdigit():
        return int(interval) / 1000
    return 10.0


class HubSpotClient:
    def __init__(self, base_url: str, access_token: str, timeout: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = access_token
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        allow_404: bool = False,
    ) -> dict[str, Any] | None:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.request(
                    method, self._base_url + path, json=json, params=params, headers=headers
                ) as response,
            ):
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = {"message": (await response.text())[:500]}
                response_headers = response.headers
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise HubSpotUnavailable(
                f"HubSpot {method} {path}: {type(exc).__name__}: {exc}"
            ) from None
        if not isinstance(body, dict):
            body = {}
        if status == 404 and allow_404:
            return None
        if status == 429:
            raise HubSpotRateLimited(
                str(body.get("message") or "rate limited"),
                rate_limit_wait(response_headers, body),
                body.get("policyName"),
            )
        if status >= 400:
            raise HubSpotError(
                status, str(body.get("message") or f"HTTP {status}"), body.get("category")
            )
        return body

    async def get_contact(
        self, contact_id: str, properties: Sequence[str]
    ) -> dict[str, Any] | None:
        """The contact (`{"id": ..., "properties": {...}}`), or None when it does not exist."""
        params = {"properties": ",".join(properties)} if properties else None
        return await self._call(
            "GET", f"/crm/v3/objects/contacts/{contact_id}", params=params, allow_404=True
        )

    async def find_contact_by_email(
        self, email: str, properties: Sequence[str] = ()
    ) -> dict[str, Any] | None:
        body = {
            "filterGroups": [
                {"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}
            ],
            "properties": ["email", *properties],
            "limit": 1,
        }
        found = await self._call("POST", "/crm/v3/objects/contacts/search", json=body)
        results = (found or {}).get("results") or []
        return dict(results[0]) if results else None

    async def create_contact(self, properties: dict[str, str]) -> dict[str, Any]:
        created = await self._call(
            "POST", "/crm/v3/objects/contacts", json={"properties": properties}
        )
        return created or {}

    async def update_contact(self, contact_id: str, properties: dict[str, str]) -> dict[str, Any]:
        updated = await self._call(
            "PATCH", f"/crm/v3/objects/contacts/{contact_id}", json={"properties": properties}
        )
        return updated or {}

    async def create_note(self, contact_id: str, body: str, timestamp_ms: int) -> dict[str, Any]:
        """A note on the contact's timeline."""
        note = {
            "properties": {"hs_note_body": body, "hs_timestamp": str(timestamp_ms)},
            "associations": [
                {
                    "to": {"id": contact_id},
                    "types": [
                        {
                            "associationCategory": "HUBSPOT_DEFINED",
                            "associationTypeId": NOTE_TO_CONTACT,
                        }
                    ],
                }
            ],
        }
        created = await self._call("POST", "/crm/v3/objects/notes", json=note)
        return created or {}

    async def find_owner_by_email(self, email: str) -> dict[str, Any] | None:
        found = await self._call("GET", "/crm/v3/owners", params={"email": email, "limit": "1"})
        results = (found or {}).get("results") or []
        return dict(results[0]) if results else None
