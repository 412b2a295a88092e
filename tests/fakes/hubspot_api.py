"""A fake HubSpot CRM v3 API on loopback: the endpoints Handoff uses, with HubSpot's answers.

Contacts (read, search by email, create, update), owners (list by email) and notes with
associations. Errors have HubSpot's shape `{"status": "error", "message", "correlationId",
"category"}`; unknown properties and invalid enumeration options are refused like HubSpot
refuses them; a lifecycle stage never moves backwards unless cleared first (HubSpot ignores
such an update); `rate_limit_next()` answers 429 with HubSpot's rate-limit headers.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

TOKEN = "pat-test-hubspot"
LIFECYCLE_ORDER = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
CONTACT_PROPERTIES = frozenset(
    {
        "email",
        "firstname",
        "lastname",
        "company",
        "jobtitle",
        "phone",
        "website",
        "country",
        "hs_lead_status",
        "lifecyclestage",
        "hubspot_owner_id",
    }
)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 0  # what the fake answered


@dataclass
class FakeHubSpot:
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> {"id", "properties"}
    owners: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    base_url: str = ""
    token: str = TOKEN
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    _rate_limited: list[dict[str, Any]] = field(default_factory=list)

    # --- set-up helpers -----------------------------------------------------------------------

    def add_contact(self, email: str, **properties: str) -> str:
        contact_id = str(next(self._ids))
        now = _now()
        self.contacts[contact_id] = {
            "id": contact_id,
            "properties": {
                "email": email,
                "hs_object_id": contact_id,
                "createdate": now,
                "lastmodifieddate": now,
                **properties,
            },
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }
        return contact_id

    def add_owner(self, email: str, first_name: str = "Rep", last_name: str = "Owner") -> str:
        owner_id = str(next(self._ids) + 40_000_000)
        self.owners.append(
            {
                "id": owner_id,
                "email": email,
                "type": "PERSON",
                "firstName": first_name,
                "lastName": last_name,
                "userId": int(owner_id) + 1,
                "userIdIncludingInactive": int(owner_id) + 1,
                "createdAt": _now(),
                "updatedAt": _now(),
                "archived": False,
            }
        )
        return owner_id

    def rate_limit_next(
        self, count: int = 1, *, policy: str = "TEN_SECONDLY_ROLLING", interval_ms: int = 200
    ) -> None:
        self._rate_limited.extend([{"policy": policy, "interval_ms": interval_ms}] * count)

    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        for contact in self.contacts.values():
            if contact["properties"].get("email") == email:
                return contact
        return None

    def notes_for(self, contact_id: str) -> list[dict[str, Any]]:
        return [
            note
            for note in self.notes.values()
            if any(a["to"]["id"] == contact_id for a in note["associations"])
        ]

    def calls(self, method: str, path_start: str, answered: int | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.method == method
            and r.path.startswith(path_start)
            and (answered is None or r.status == answered)
        ]

    # --- the API ------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._gate])
        app.router.add_get("/crm/v3/objects/contacts/{id}", self._get_contact)
        app.router.add_patch("/crm/v3/objects/contacts/{id}", self._update_contact)
        app.router.add_post("/crm/v3/objects/contacts/search", self._search_contacts)
        app.router.add_post("/crm/v3/objects/contacts", self._create_contact)
        app.router.add_post("/crm/v3/objects/notes", self._create_note)
        app.router.add_get("/crm/v3/owners", self._list_owners)
        app.router.add_get("/crm/v3/owners/", self._list_owners)
        return app

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        raw = await request.read()
        body = json.loads(raw) if raw else None
        logged = Request(request.method, request.path, dict(request.query), body)
        self.requests.append(logged)
        response = await self._answer(request, handler)
        logged.status = response.status
        return response

    async def _answer(self, request: web.Request, handler: Any) -> web.StreamResponse:
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
                    "X-HubSpot-RateLimit-Daily": "250000",
                    "X-HubSpot-RateLimit-Daily-Remaining": "249000",
                },
            )
        result: web.StreamResponse = await handler(request)
        return result

    def _view(self, contact: dict[str, Any], wanted: list[str]) -> dict[str, Any]:
        defaults = ["email", "firstname", "lastname", "createdate", "lastmodifieddate"]
        names = set(wanted or defaults) | {"hs_object_id"}
        props = {k: v for k, v in contact["properties"].items() if k in names}
        props.update({n: None for n in names if n not in props})
        return {**contact, "properties": props}

    async def _get_contact(self, request: web.Request) -> web.Response:
        contact = self.contacts.get(request.match_info["id"])
        if contact is None:
            return _not_found()
        wanted = [p for p in request.query.get("properties", "").split(",") if p]
        return web.json_response(self._view(contact, wanted))

    async def _search_contacts(self, request: web.Request) -> web.Response:
        body = await request.json()
        matches = []
        for group in body.get("filterGroups") or []:
            for contact in self.contacts.values():
                if all(_matches(contact, f) for f in group.get("filters") or []):
                    matches.append(contact)
        limit = int(body.get("limit") or 10)
        wanted = list(body.get("properties") or [])
        return web.json_response(
            {"total": len(matches), "results": [self._view(c, wanted) for c in matches[:limit]]}
        )

    def _invalid(self, properties: dict[str, Any]) -> web.Response | None:
        problems = []
        for name, value in properties.items():
            if name not in CONTACT_PROPERTIES:
                problems.append(
                    {
                        "isValid": False,
                        "message": f'Property "{name}" does not exist',
                        "error": "PROPERTY_DOESNT_EXIST",
                        "name": name,
                        "localizedErrorMessage": f'Property "{name}" does not exist',
                    }
                )
            elif (
                (name == "hs_lead_status" and value not in ("", *LEAD_STATUSES))
                or (name == "lifecyclestage" and value not in ("", *LIFECYCLE_ORDER))
            ) or (
                name == "hubspot_owner_id"
                and value
                and not any(o["id"] == value for o in self.owners)
            ):
                problems.append(_bad_option(name, value))
        if not problems:
            return None
        return _error(
            400,
            f"Property values were not valid: {json.dumps(problems)}",
            "VALIDATION_ERROR",
        )

    async def _create_contact(self, request: web.Request) -> web.Response:
        properties = dict((await request.json()).get("properties") or {})
        email = properties.get("email")
        existing = self.contact_by_email(email) if email else None
        if existing is not None:
            return _error(409, f"Contact already exists. Existing ID: {existing['id']}", "CONFLICT")
        refused = self._invalid(properties)
        if refused is not None:
            return refused
        others = {k: v for k, v in properties.items() if k != "email"}
        contact_id = self.add_contact(str(email or ""), **others)
        return web.json_response(self.contacts[contact_id], status=201)

    async def _update_contact(self, request: web.Request) -> web.Response:
        contact = self.contacts.get(request.match_info["id"])
        if contact is None:
            return _not_found()
        properties = dict((await request.json()).get("properties") or {})
        refused = self._invalid(properties)
        if refused is not None:
            return refused
        current = contact["properties"]
        stage = properties.get("lifecyclestage")
        old = current.get("lifecyclestage")
        if (
            stage in LIFECYCLE_ORDER
            and old in LIFECYCLE_ORDER
            and LIFECYCLE_ORDER.index(stage) < LIFECYCLE_ORDER.index(old)
        ):
            properties.pop("lifecyclestage")  # HubSpot ignores a backwards move
        current.update(properties)
        current["lastmodifieddate"] = contact["updatedAt"] = _now()
        return web.json_response(contact)

    async def _create_note(self, request: web.Request) -> web.Response:
        body = await request.json()
        properties = dict(body.get("properties") or {})
        if "hs_timestamp" not in properties:
            return _error(400, "hs_timestamp is required", "VALIDATION_ERROR")
        associations = list(body.get("associations") or [])
        for association in associations:
            target = str(association["to"]["id"])
            types = association.get("types") or []
            if target not in self.contacts or not any(
                t.get("associationTypeId") == 202 for t in types
            ):
                return _error(
                    400, f"Could not associate note with contact {target}", "VALIDATION_ERROR"
                )
        note_id = str(next(self._ids) + 90_000_000)
        self.notes[note_id] = {
            "id": note_id,
            "properties": properties,
            "associations": associations,
        }
        return web.json_response({"id": note_id, "properties": properties}, status=201)

    async def _list_owners(self, request: web.Request) -> web.Response:
        email = request.query.get("email")
        owners = [o for o in self.owners if email is None or o["email"] == email]
        return web.json_response({"results": owners})


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _matches(contact: dict[str, Any], spec: dict[str, Any]) -> bool:
    value = contact["properties"].get(spec.get("propertyName"))
    if spec.get("operator") == "EQ":
        return bool(value is not None and str(value).lower() == str(spec.get("value")).lower())
    return False


def _bad_option(name: str, value: Any) -> dict[str, Any]:
    return {
        "isValid": False,
        "message": f"{value} was not one of the allowed options",
        "error": "INVALID_OPTION",
        "name": name,
    }


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


def _not_found() -> web.Response:
    return _error(404, "resource not found", "OBJECT_NOT_FOUND")


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
