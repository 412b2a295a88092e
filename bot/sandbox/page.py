"""The sandbox page and its JSON API, served by the stand-in next to its Web API.

The page reads ``/sandbox/state``, is told of changes by server-sent events, and asks the
stand-in to click, submit, type commands and send leads; the stand-in does these as Slack (or a
marketing system) would, signed, against the real bot.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
from pathlib import Path
from typing import Any, cast

from aiohttp import web

from bot.sandbox.interactions import BotAnswer, BotLink
from bot.sandbox.workspace import PEOPLE

STATIC = Path(__file__).parent / "static"
LINK = web.AppKey("sandbox_link", BotLink)
KEEPALIVE_SECONDS = 15.0


def add_page_routes(app: web.Application, link: BotLink) -> None:
    app[LINK] = link
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/sandbox/state", _state)
    app.router.add_get("/sandbox/events", _events)
    app.router.add_get("/sandbox/files/{file_id}", _file)
    app.router.add_post("/sandbox/click", _click)
    app.router.add_post("/sandbox/submit", _submit)
    app.router.add_post("/sandbox/close", _close)
    app.router.add_post("/sandbox/command", _command)
    app.router.add_post("/sandbox/home", _home)
    app.router.add_post("/sandbox/sample-lead", _sample_lead)


async def _index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "index.html")


async def _state(request: web.Request) -> web.Response:
    return web.json_response(request.app[LINK].workspace.snapshot())


async def _events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one ``revision`` event per change; the page then re-reads state."""
    workspace = request.app[LINK].workspace
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    queue = workspace.listen()
    try:
        await response.write(f"event: revision\ndata: {workspace.revision}\n\n".encode())
        while True:
            try:
                async with asyncio.timeout(KEEPALIVE_SECONDS):
                    revision = await queue.get()
            except TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            while not queue.empty():  # a burst of changes is one re-read
                revision = queue.get_nowait()
            await response.write(f"event: revision\ndata: {revision}\n\n".encode())
    except ConnectionResetError:
        pass  # the page was closed or reloaded
    finally:
        workspace.unlisten(queue)
    return response


async def _file(request: web.Request) -> web.Response:
    upload = request.app[LINK].workspace.fake.files.get(request.match_info["file_id"])
    if upload is None or upload.content is None:
        raise web.HTTPNotFound(text="file not found")
    kind = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
    if kind.startswith("text/"):
        kind += "; charset=utf-8"
    return web.Response(
        body=upload.content,
        headers={
            "Content-Type": kind,
            "Content-Disposition": f'inline; filename="{upload.filename}"',
        },
    )


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except json.JSONDecodeError:
        raise web.HTTPBadRequest(text="expected a JSON body") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    user = body.get("user")
    if user not in {p.id for p in PEOPLE}:
        raise web.HTTPBadRequest(text=f"unknown sandbox person {user!r}")
    return cast(dict[str, Any], body)


def _answered(answer: BotAnswer) -> web.Response:
    return web.json_response({"status": answer.status, "body": answer.body})


async def _click(request: web.Request) -> web.Response:
    body = await _body(request)
    link = request.app[LINK]
    action = body.get("action")
    if not isinstance(action, dict):
        raise web.HTTPBadRequest(text="expected an action")
    if body.get("view_id"):
        return _answered(await link.click_in_view(body["user"], str(body["view_id"]), action))
    answer = await link.click_in_message(
        body["user"], str(body["channel"]), str(body["ts"]), action
    )
    return _answered(answer)


async def _submit(request: web.Request) -> web.Response:
    body = await _body(request)
    answer = await request.app[LINK].submit_view(
        body["user"], str(body["view_id"]), dict(body.get("values") or {})
    )
    return _answered(answer)


async def _close(request: web.Request) -> web.Response:
    body = await _body(request)
    request.app[LINK].workspace.close_modal(str(body["view_id"]))
    return web.json_response({"ok": True})


async def _command(request: web.Request) -> web.Response:
    body = await _body(request)
    line = str(body.get("text", "")).strip()
    if not line.startswith("/"):
        raise web.HTTPBadRequest(text="a command starts with /, e.g. /leads report 7d")
    answer = await request.app[LINK].slash_command(body["user"], str(body["channel"]), line)
    return _answered(answer)


async def _home(request: web.Request) -> web.Response:
    body = await _body(request)
    return _answered(await request.app[LINK].open_home(body["user"]))


async def _sample_lead(request: web.Request) -> web.Response:
    body = await _body(request)
    temperature = body.get("temperature")
    if temperature not in ("hot", "cold"):
        raise web.HTTPBadRequest(text="temperature is hot or cold")
    summary = await request.app[LINK].send_sample_lead(temperature, body["user"])
    return web.json_response({"summary": summary})
