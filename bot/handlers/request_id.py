"""Middleware: every log line of a request carries its id; the response echoes it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.logs import bind_request_id, unbind_request_id

REQUEST_ID_HEADER = "X-Request-Id"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id, token = bind_request_id(request.headers.get(REQUEST_ID_HEADER))
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers[REQUEST_ID_HEADER] = request_id
        raise
    finally:
        unbind_request_id(token)
    if not response.prepared:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response
