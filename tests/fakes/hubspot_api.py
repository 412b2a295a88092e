"""A fake HubSpot CRM API on loopback: GET /crm/v3/objects/contacts/{id}, as HubSpot answers it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

ACCESS_TOKEN = "pat-na1-test-token"


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def _error(status: int, category: str, message: str) -> web.Response:
    # HubSpot's error shape.
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
    """Contacts by id, each ``{"id", "properties", "createdAt", "updatedAt", "archived"}`` or just
    its properties; ``failures`` are statuses answered first (e.g. [503]), then real answers."""

    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_token: str = ACCESS_TOKEN
    requests: list[Request] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/crm/v3/objects/contacts/{contact_id}", self._get_contact)
        return app

    def add_contact(self, contact_id: str, **properties: str) -> None:
        self.contacts[contact_id] = {
            "id": contact_id,
            "properties": {"hs_object_id": contact_id, **properties},
            "createdAt": "2026-12-01T10:00:00.000Z",
            "updatedAt": "2026-12-01T10:00:00.000Z",
            "archived": False,
        }

    async def _get_contact(self, request: web.Request) -> web.Response:
        self.requests.append(
            Request(request.method, request.path, dict(request.query), dict(request.headers))
        )
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(
                401,
                "INVALID_AUTHENTICATION",
                "Authentication credentials not found. This API supports OAuth 2.0 "
                "authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )
        if self.failures:
            status = self.failures.pop(0)
            category = "RATE_LIMITS" if status == 429 else "INTERNAL_ERROR"
            return _error(status, category, f"scripted failure {status}")
        contact = self.contacts.get(request.match_info["contact_id"])
        if contact is None:
            return _error(404, "OBJECT_NOT_FOUND", "resource not found")
        wanted = [p for p in request.query.get("properties", "").split(",") if p]
        properties = contact["properties"]
        if wanted:  # HubSpot returns only the properties asked for (and a few of its own)
            properties = {k: v for k, v in properties.items() if k in wanted or k == "hs_object_id"}
        return web.json_response({**contact, "properties": properties})


@pytest.fixture
async def fake_hubspot() -> AsyncIterator[FakeHubSpot]:
    fake = FakeHubSpot()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    fake.url = str(server.make_url("")).rstrip("/")
    try:
        yield fake
    finally:
        await server.close()
