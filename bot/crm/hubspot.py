"""HubSpot's CRM API (v3), the parts Handoff uses: reading a contact."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp


class HubSpotError(Exception):
    """HubSpot answered with an error, or could not be reached; ``status`` 0 when unreachable."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HubSpot {status or 'unreachable'}: {message}")
        self.status = status
        self.message = message

    @property
    def temporary(self) -> bool:
        """Worth retrying later: unreachable, rate-limited or HubSpot's own failure."""
        return self.status == 0 or self.status == 429 or self.status >= 500


class HubSpotClient:
    def __init__(self, base_url: str, access_token: str, timeout: float = 10.0) -> None:
        self._base_url = base_url.rstrip("/")
        self._access_token = access_token
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def get_contact(
        self, contact_id: str, properties: Sequence[str]
    ) -> dict[str, Any] | None:
        """The contact as HubSpot returns it (``{"id": ..., "properties": {...}}``), or None
        when HubSpot has no such contact (404). Other errors raise HubSpotError."""
        url = f"{self._base_url}/crm/v3/objects/contacts/{contact_id}"
        params = {"properties": ",".join(properties), "archived": "false"}
        headers = {"Authorization": f"Bearer {self._access_token}", "Accept": "application/json"}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.get(url, params=params, headers=headers) as response,
            ):
                if response.status == 404:
                    return None
                body = await response.json(content_type=None)
                if response.status != 200:
                    message = body.get("message") if isinstance(body, dict) else None
                    raise HubSpotError(response.status, str(message or body)[:500])
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise HubSpotError(0, f"{type(exc).__name__}: {exc}") from exc
        except ValueError as exc:  # not JSON
            raise HubSpotError(502, f"unreadable answer: {exc}") from exc
        if not isinstance(body, dict):
            raise HubSpotError(502, "expected a contact object")
        return body
