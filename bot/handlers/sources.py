"""Lead sources over HTTP: HubSpot, Typeform and website forms. Verify, parse, store, answer.

Nothing is stored for a request that fails its signature, token, origin, rate limit or spam
checks; what passes is stored raw by the intake service and processed by the ingest worker.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.clock import Clock
from bot.config import SourcesConfig, WebForm
from bot.handlers.rate_limit import SlidingWindowLimiter
from bot.handlers.webhooks import MAX_BODY_BYTES, json_error
from bot.services.sources import SourceAccepted, SourceIntake
from bot.signatures import (
    TYPEFORM_HEADER,
    check_hubspot_signature,
    check_typeform_signature,
    match_form_token,
)
from bot.sources.forms import MAX_FIELDS, TOKEN_FIELD, FormFields, collect, spam_reason
from bot.sources.generic import PayloadError

log = logging.getLogger(__name__)

FORM_TOKEN_HEADER = "X-Handoff-Token"  # noqa: S105 - a header name
FORM_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
PREFLIGHT_MAX_AGE = "600"


@dataclass(frozen=True)
class SourceSecrets:
    hubspot_client_secret: str | None
    typeform_secret: str | None
    public_url: str | None  # the base URL senders call, when a proxy sits in front


def _invalid(exc: PayloadError) -> web.Response:
    return json_error(400, "invalid payload", fields=[e.as_json() for e in exc.errors])


def _answer(accepted: SourceAccepted, status: int) -> web.Response:
    """The generic endpoints' answer shape; a batch lists each delivery."""
    if not accepted.deliveries:
        return web.json_response({"status": "ignored", "ignored": list(accepted.ignored)})
    body: dict[str, Any] = {
        "status": "duplicate" if accepted.duplicate else "accepted",
        "unknown_fields_kept": list(accepted.unknown_fields),
        "warnings": [w.as_json() for w in accepted.warnings],
    }
    if len(accepted.deliveries) == 1 and accepted.deliveries[0].vendor_id is None:
        body["delivery_id"] = accepted.deliveries[0].delivery_id
    else:
        body["deliveries"] = [
            {"event_id": d.vendor_id, "delivery_id": d.delivery_id, "duplicate": d.duplicate}
            for d in accepted.deliveries
        ]
    if accepted.ignored:
        body["ignored"] = list(accepted.ignored)
    return web.json_response(body, status=200 if accepted.duplicate else status)


async def _read_body(request: web.Request) -> bytes | web.Response:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return json_error(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return json_error(413, f"body larger than {MAX_BODY_BYTES} bytes")


def _wants_redirect(request: web.Request) -> bool:
    """A browser submitting the form itself (not fetch/XHR), so it should land on a page."""
    if request.headers.get("Sec-Fetch-Mode") == "navigate":
        return True
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept


class SourceHandlers:
    def __init__(
        self,
        intake: SourceIntake,
        config: SourcesConfig,
        secrets: SourceSecrets,
        clock: Clock,
    ) -> None:
        self._intake = intake
        self._config = config
        self._secrets = secrets
        self._clock = clock
        self._limits = {
            form_id: SlidingWindowLimiter(form.rate_limit.requests, form.rate_limit.per)
            for form_id, form in config.forms.items()
        }

    def register(self, app: web.Application) -> None:
        app.router.add_post("/webhooks/hubspot", self.handle_hubspot)
        app.router.add_post("/webhooks/typeform", self.handle_typeform)
        app.router.add_post("/webhooks/forms/{form_id}", self.handle_form)
        app.router.add_route("OPTIONS", "/webhooks/forms/{form_id}", self.handle_form_preflight)

    # --- HubSpot ---------------------------------------------------------------------------

    def _signed_uri(self, request: web.Request) -> str:
        # HubSpot signs the URL it called; behind a proxy that is the public one, not ours.
        base = self._secrets.public_url or f"{request.scheme}://{request.host}"
        return base + request.raw_path

    async def handle_hubspot(self, request: web.Request) -> web.Response:
        secret = self._secrets.hubspot_client_secret
        if not secret:
            return json_error(404, "the HubSpot source is off: set HUBSPOT_CLIENT_SECRET")
        body = await _read_body(request)
        if isinstance(body, web.Response):
            return body
        problem = check_hubspot_signature(
            secret,
            request.headers,
            request.method,
            self._signed_uri(request),
            body,
            self._clock().timestamp(),
        )
        if problem is not None:
            return json_error(401, problem.reason)
        try:
            accepted = await self._intake.accept_hubspot(body)
        except PayloadError as exc:
            return _invalid(exc)
        return _answer(accepted, 200)

    # --- Typeform --------------------------------------------------------------------------

    async def handle_typeform(self, request: web.Request) -> web.Response:
        secret = self._secrets.typeform_secret
        if not secret:
            return json_error(404, "the Typeform source is off: set TYPEFORM_SECRET")
        body = await _read_body(request)
        if isinstance(body, web.Response):
            return body
        problem = check_typeform_signature(secret, request.headers.get(TYPEFORM_HEADER), body)
        if problem is not None:
            return json_error(401, problem.reason)
        try:
            accepted = await self._intake.accept_typeform(body)
        except PayloadError as exc:
            return _invalid(exc)
        return _answer(accepted, 200)

    # --- website forms ---------------------------------------------------------------------

    def _cors(self, form: WebForm, request: web.Request) -> dict[str, str] | None:
        """CORS headers for an allowed origin; None when the origin is refused."""
        origin = request.headers.get("Origin")
        if origin is None or not form.allowed_origins:
            return {}
        if origin not in form.allowed_origins:
            return None
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def _client_ip(self, request: web.Request) -> str:
        forwarded = request.headers.get("X-Forwarded-For")
        if self._config.trust_forwarded_for and forwarded:
            return forwarded.split(",")[-1].strip()
        return request.remote or "unknown"

    async def handle_form_preflight(self, request: web.Request) -> web.Response:
        form = self._config.forms.get(request.match_info["form_id"])
        if form is None:
            return json_error(404, "unknown form")
        cors = self._cors(form, request)
        if not cors:
            return json_error(403, "origin not allowed for this form")
        return web.Response(
            status=204,
            headers={
                **cors,
                "Access-Control-Allow-Methods": "POST, OPTIONS",
                "Access-Control-Allow-Headers": f"Content-Type, {FORM_TOKEN_HEADER}",
                "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
            },
        )

    async def handle_form(self, request: web.Request) -> web.Response:
        form_id = request.match_info["form_id"]
        form = self._config.forms.get(form_id)
        if form is None:
            return json_error(404, f"unknown form {form_id!r}: add it under sources.forms")
        cors = self._cors(form, request)
        if cors is None:
            return json_error(403, "origin not allowed for this form")
        response = await self._form(request, form_id, form)
        response.headers.update(cors)
        return response

    async def _form(self, request: web.Request, form_id: str, form: WebForm) -> web.Response:
        now = self._clock()
        retry_after = self._limits[form_id].check(self._client_ip(request), now)
        if retry_after is not None:
            return _too_many(retry_after)
        token = request.query.get(TOKEN_FIELD) or request.headers.get(FORM_TOKEN_HEADER)
        if not match_form_token(form.token, token):
            return json_error(401, "missing or wrong form token (?token= or X-Handoff-Token)")
        pairs = await _form_pairs(request)
        if isinstance(pairs, web.Response):
            return pairs
        spam = spam_reason(pairs, form.honeypot, form.timestamp_field, form.min_fill_time, now)
        if spam is not None:
            # Answered like a success so a bot learns nothing; nothing is stored.
            log.info("form %s: discarded a submission from %s: %s", form_id, request.remote, spam)
            return self._success(request, form, None)
        control = {TOKEN_FIELD, *(f for f in (form.honeypot, form.timestamp_field) if f)}
        fields: FormFields = collect(pairs, control)
        try:
            accepted = await self._intake.accept_form(form_id, fields)
        except PayloadError as exc:
            return _invalid(exc)
        return self._success(request, form, accepted)

    def _success(
        self, request: web.Request, form: WebForm, accepted: SourceAccepted | None
    ) -> web.Response:
        if form.redirect_url and _wants_redirect(request):
            return web.Response(status=303, headers={"Location": form.redirect_url})
        if accepted is None:
            return web.json_response({"status": "accepted"}, status=202)
        return _answer(accepted, 202)


def _too_many(retry_after: int) -> web.Response:
    response = json_error(429, "too many submissions from this address, try again later")
    response.headers["Retry-After"] = str(retry_after)
    return response


async def _form_pairs(request: web.Request) -> list[tuple[str, str]] | web.Response:
    """The posted name/value pairs of an HTML form (urlencoded or multipart) or a JSON object."""
    if request.content_type in FORM_CONTENT_TYPES:
        try:
            posted = await request.post()
        except web.HTTPRequestEntityTooLarge:
            return json_error(413, f"body larger than {MAX_BODY_BYTES} bytes")
        except ValueError as exc:
            return json_error(400, f"unreadable form body: {exc}")
        # File inputs are not lead data and are not kept.
        pairs = [(k, v) for k, v in posted.items() if isinstance(v, str)]
    elif request.content_type == "application/json":
        body = await _read_body(request)
        if isinstance(body, web.Response):
            return body
        from_json = _json_pairs(body)
        if from_json is None:
            return json_error(400, "expected a JSON object of field names to values")
        pairs = from_json
    else:
        return json_error(
            415,
            f"expected {' or '.join(FORM_CONTENT_TYPES)} (or application/json), "
            f"got {request.content_type!r}",
        )
    if len(pairs) > MAX_FIELDS:
        return json_error(400, f"more than {MAX_FIELDS} fields")
    return pairs


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _json_pairs(body: bytes) -> list[tuple[str, str]] | None:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    pairs: list[tuple[str, str]] = []
    for key, value in data.items():
        values = value if isinstance(value, list) else [value]
        pairs += [(str(key), _text(v)) for v in values]
    return pairs
