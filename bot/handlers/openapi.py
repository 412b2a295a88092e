"""GET /openapi.json: the webhook API as OpenAPI 3.1, generated from the pydantic models that
validate the requests (bot.sources.generic) and shape the answers (below)."""

from __future__ import annotations

import copy
from collections.abc import Collection
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from bot.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER
from bot.sources.generic import REQUIRED_LEAD_FIELDS, EventPayload, LeadPayload

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/{model}"


class FieldMessage(BaseModel):
    field: str = Field(description="dotted path of the field, e.g. custom.note, or body")
    message: str


class AcceptedResponse(BaseModel):
    """Stored durably; it becomes a lead (or an event on one) within seconds."""

    status: str = Field(default="accepted", json_schema_extra={"const": "accepted"})
    delivery_id: int
    unknown_fields_kept: list[str] = Field(
        description="top-level keys we do not know, kept in the lead's custom data"
    )
    warnings: list[FieldMessage] = Field(
        description="fields that were normalised (e.g. NUL removed) or, for odd optional "
        "values, left empty with the raw value kept in custom"
    )


class DuplicateResponse(BaseModel):
    """The same delivery was received before (same id or Idempotency-Key); stored once."""

    status: str = Field(default="duplicate", json_schema_extra={"const": "duplicate"})
    delivery_id: int


class ErrorResponse(BaseModel):
    error: str
    fields: list[FieldMessage] | None = Field(
        default=None, description="with 400: every refused field and why"
    )
    retry_after_seconds: int | None = None


def _lenient(schema: dict[str, Any], required: Collection[str]) -> dict[str, Any]:
    """Optional lead fields keep the lead whatever they hold (the value moves to `custom`
    with a warning), so the document must not promise a refusal for them."""
    schema = copy.deepcopy(schema)
    for name, prop in schema.get("properties", {}).items():
        if name in required:
            continue
        preferred = {k: v for k, v in prop.items() if k not in ("title", "default")}
        schema["properties"][name] = {
            "title": prop.get("title", name),
            "description": "Preferred form first. Any other value keeps the lead: the field "
            "is left empty, the value is kept in custom, and the answer has a warning.",
            "anyOf": [preferred, {}],
        }
    return schema


def _json(model: type[BaseModel]) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": _json(ErrorResponse)}


def _webhook(summary: str, payload: type[BaseModel], description: str) -> dict[str, Any]:
    retry_after = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}}
    return {
        "post": {
            "summary": summary,
            "description": description,
            "security": [{"timestamp": [], "signature": []}],
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "maxLength": 200, "pattern": "^[ -~]*$"},
                    "description": "overrides the body's id as the deduplication key",
                }
            ],
            "requestBody": {"required": True, "content": _json(payload)},
            "responses": {
                "202": {"description": "accepted", "content": _json(AcceptedResponse)},
                "200": {"description": "duplicate", "content": _json(DuplicateResponse)},
                "400": _error("refused, naming each field"),
                "401": _error("signature missing, wrong or stale"),
                "413": _error("body over 1 MiB"),
                "415": _error("not application/json"),
                "503": {
                    "description": "database unavailable: nothing stored, retry later",
                    "headers": retry_after,
                    "content": _json(ErrorResponse),
                },
            },
        }
    }


def build_openapi(version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in (AcceptedResponse, DuplicateResponse, ErrorResponse):
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    schemas["LeadPayload"] = _lenient(
        LeadPayload.model_json_schema(ref_template=REF), REQUIRED_LEAD_FIELDS
    )
    schemas["EventPayload"] = EventPayload.model_json_schema(ref_template=REF)
    signing = (
        "HMAC-SHA256 over `v1:{timestamp}:{raw body}` with HANDOFF_WEBHOOK_SECRET, hex, as "
        f"`{SIGNATURE_HEADER}: v1=<hex>`; `{TIMESTAMP_HEADER}` is Unix seconds, at most 5 "
        "minutes off. See the README, section Webhooks."
    )
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Handoff webhooks",
            "version": version,
            "description": "Leads and engagement events in; scored, routed to Slack. "
            "A 2xx means the delivery is stored and will be processed; a 4xx names what was "
            "refused and nothing was stored; a 503 asks to retry later.",
        },
        "paths": {
            "/webhooks/leads": _webhook(
                "Create or update a lead",
                LeadPayload,
                "Only email is required. Known fields are normalised (country names and "
                "aliases to ISO codes, company size bands to numbers); unknown keys are kept.",
            ),
            "/webhooks/events": _webhook(
                "Record an engagement event",
                EventPayload,
                "An event on the lead with this email (created if new); its score is updated.",
            ),
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "timestamp": {"type": "apiKey", "in": "header", "name": TIMESTAMP_HEADER},
                "signature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": SIGNATURE_HEADER,
                    "description": signing,
                },
            },
        },
    }


class OpenApiHandlers:
    def __init__(self, version: str) -> None:
        self._document = build_openapi(version)

    def register(self, app: web.Application) -> None:
        app.router.add_get("/openapi.json", self.handle_openapi)

    async def handle_openapi(self, request: web.Request) -> web.Response:
        return web.json_response(self._document)
