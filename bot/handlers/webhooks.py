"""Inbound webhooks: verify, parse, hand to the ingest service, answer at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiohttp import web

from bot.clock import Clock
from bot.handlers.openapi import AcceptedResponse, DuplicateResponse, FieldMessage
from bot.services.ingest import EVENT, LEAD, IngestService
from bot.services.sources import token_source
from bot.signatures import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    check_signature,
    match_bearer_token,
)
from bot.sources.generic import PayloadError

MAX_BODY_BYTES = 1024 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


RETRY_AFTER_SECONDS = 5


def json_error(status: int, message: str, **extra: object) -> web.Response:
    """An error body; a 503 also says when to come back (senders back off on it)."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    return web.json_response({"error": message, **extra}, status=status, headers=headers)


def _key_problem(key: str) -> str | None:
    if len(key) > MAX_KEY_LENGTH:
        return f"at most {MAX_KEY_LENGTH} characters"
    # Header bytes that are not ASCII arrive as surrogate escapes no database can store.
    if not (key.isascii() and key.isprintable()):
        return "printable ASCII only"
    return None


class WebhookHandlers:
    def __init__(
        self,
        ingest: IngestService,
        secret: str,
        clock: Clock,
        kick_worker: Callable[[], None] | None = None,
        tokens: Mapping[str, str] | None = None,
    ) -> None:
        self._ingest = ingest
        self._secret = secret
        self._clock = clock
        self._kick = kick_worker
        self._tokens = tokens or {}  # name -> bearer token, for tools that cannot sign (Zapier)

    def register(self, app: web.Application) -> None:
        app.router.add_post("/webhooks/leads", self.handle_lead)
        app.router.add_post("/webhooks/events", self.handle_event)

    async def handle_lead(self, request: web.Request) -> web.Response:
        return await self._handle(request, LEAD)

    async def handle_event(self, request: web.Request) -> web.Response:
        return await self._handle(request, EVENT)

    async def _handle(self, request: web.Request, kind: str) -> web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
            return json_error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        try:
            body = await request.read()  # a chunked body has no Content-Length to check first
        except web.HTTPRequestEntityTooLarge:
            return json_error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        source = "generic"
        authorization = request.headers.get("Authorization")
        if authorization is not None and self._tokens:
            name = match_bearer_token(self._tokens, authorization)
            if name is None:
                return json_error(401, "bearer token not listed under sources.tokens")
            source = token_source(name)
        else:
            problem = check_signature(
                self._secret,
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                body,
                self._clock().timestamp(),
            )
            if problem is not None:
                return json_error(401, problem.reason)
        if request.content_type != "application/json":
            return json_error(
                415, f"expected Content-Type application/json, got {request.content_type!r}"
            )
        key = request.headers.get(IDEMPOTENCY_HEADER) or None
        key_problem = None if key is None else _key_problem(key)
        if key_problem is not None:
            return json_error(
                400,
                "invalid payload",
                fields=[{"field": f"header {IDEMPOTENCY_HEADER}", "message": key_problem}],
            )
        try:
            accepted = await self._ingest.accept(kind, source, body, key)
        except PayloadError as exc:
            return json_error(400, "invalid payload", fields=[e.as_json() for e in exc.errors])
        if accepted.duplicate:
            duplicate = DuplicateResponse(delivery_id=accepted.delivery_id)
            return web.json_response(duplicate.model_dump(), status=200)
        if self._kick is not None:
            self._kick()
        answer = AcceptedResponse(
            delivery_id=accepted.delivery_id,
            unknown_fields_kept=list(accepted.unknown_fields),
            warnings=[FieldMessage(**w.as_json()) for w in accepted.warnings],
        )
        return web.json_response(answer.model_dump(), status=202)
