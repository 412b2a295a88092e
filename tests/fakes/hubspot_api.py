"""A fake HubSpot CRM API on loopback: GET /crm/v3/objects/contacts/{id}, as HubSpot answers it.

Names follow the fuller fake of the CRM write-back work (issue 11), which is a superset of this.
Errors have HubSpot's shape ``{"status": "error", "message", "correlationId", "category"}``;
``rate_limit_next()`` answers 429 with HubSpot's rate-limit headers.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "pat-test-hubspot"
NOW = "2026-12-01T10:00:00.000Z"


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any


def _error(status: int, message: str, category: str) -> web.Response:
    return web.json_response(
        {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        },
        status=status,
    )


@dataclass
class FakeHubSpot:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"id", "properties"}
    requests: list[Request] = field(default_factory=list)
    base_url: str = ""
    token: str = TOKEN
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    _rate_limited: list[dict[str, Any]] = field(default_factory=list)

    def add_contact(self, email: str, **properties: str) -> str:
        contact_id = str(next(self._ids))
        self.contacts[contact_id] = {
            "id": contact_id,
            "properties": {"email": email, "hs_object_id": contact_id, **properties},
            "createdAt": NOW,
            "updatedAt": NOW,
            "archived": False,
        }
        return contact_id

    def rate_limit_next(
        self, count: int = 1, *, policy: str = "TEN_SECONDLY_ROLLING", interval_ms: int = 200
    ) -> None:
        self._rate_limited.extend([{"policy": policy, "interval_ms": interval_ms}] * count)

    def calls(self, method: str, path_start: str) -> list[Request]:
        return [r for r in self.requests if r.method == method and r.path.startswith(path_start)]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/crm/v3/objects/contacts/{id}", self._get_contact)
        return app

    async def _get_contact(self, request: web.Request) -> web.Response:
        self.requests.append(Request(request.method, request.path, dict(request.query), None))
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at "
                "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        if self._rate_limited:
            limit = self._rate_limited.pop(0)
            return web.json_response(
                {
                    "status": "error",
                    "message": f"You have reached your {limit['policy'].lower()} limit.",
                    "errorType": "RATE_LIMIT",
                    "correlationId": str(uuid.uuid4()),
                    "policyName": limit["policy"],
                },
                status=429,
                headers={
                    "X-HubSpot-RateLimit-Max": "100",
                    "X-HubSpot-RateLimit-Remaining": "0",
                    "X-HubSpot-RateLimit-Interval-Milliseconds": str(limit["interval_ms"]),
                },
            )
        contact = self.contacts.get(request.match_info["id"])
        if contact is None:
            return _error(404, "resource not found", "OBJECT_NOT_FOUND")
        # HubSpot answers the properties asked for (null when unset) and hs_object_id.
        wanted = [p for p in request.query.get("properties", "").split(",") if p]
        names = set(wanted or ["email", "firstname", "lastname"]) | {"hs_object_id"}
        properties = {name: contact["properties"].get(name) for name in names}
        return web.json_response({**contact, "properties": properties})


@pytest.fixture
async def fake_hubspot() -> AsyncIterator[FakeHubSpot]:
    fake = FakeHubSpot()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.base_url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()
