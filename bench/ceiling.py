"""The ceilings the bot is measured against, run as a process like the bot: a bare aiohttp
handler, the same handler plus one durable INSERT, and a conditional UPDATE (the claim).

Usage: python bench/ceiling.py PORT DATABASE_URL
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiosqlite
import asyncpg
from aiohttp import web

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS bench_ingest (id {serial}, body TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bench_claims (id INTEGER PRIMARY KEY, owner TEXT)",
)


def build(database_url: str) -> web.Application:
    app = web.Application()
    state: dict[str, Any] = {}
    postgres = database_url.startswith("postgres")

    async def db_ctx(_: web.Application) -> Any:
        if postgres:
            pool = await asyncpg.create_pool(database_url, min_size=5, max_size=5)
            async with pool.acquire() as conn:
                for sql in SCHEMA:
                    await conn.execute(sql.format(serial="BIGSERIAL PRIMARY KEY"))
                await conn.execute("TRUNCATE bench_claims")
                await conn.execute("INSERT INTO bench_claims (id) VALUES (1)")
            state["pool"] = pool
            yield
            await pool.close()
            return
        path = database_url.removeprefix("sqlite://")
        conn = await aiosqlite.connect(path)
        await conn.execute("PRAGMA journal_mode=WAL")
        for sql in SCHEMA:
            await conn.execute(sql.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT"))
        await conn.execute("DELETE FROM bench_claims")
        await conn.execute("INSERT INTO bench_claims (id) VALUES (1)")
        await conn.commit()
        state["sqlite"] = conn
        state["lock"] = asyncio.Lock()
        yield
        await conn.close()

    async def execute(sql_pg: str, sql_lite: str, *args: Any) -> None:
        if postgres:
            await state["pool"].execute(sql_pg, *args)
            return
        async with state["lock"]:  # one connection, as Tortoise's SQLite client
            await state["sqlite"].execute(sql_lite, args)
            await state["sqlite"].commit()

    async def bare(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"status": "accepted"}, status=202)

    async def insert(request: web.Request) -> web.Response:
        body = await request.read()
        await execute(
            "INSERT INTO bench_ingest (body) VALUES ($1)",
            "INSERT INTO bench_ingest (body) VALUES (?)",
            body.decode(),
        )
        return web.json_response({"status": "accepted"}, status=202)

    async def claim(request: web.Request) -> web.Response:
        await request.read()
        user = request.headers.get("X-Bench-User", "U0")
        await execute(
            "UPDATE bench_claims SET owner = $1 WHERE id = 1 AND owner IS NULL",
            "UPDATE bench_claims SET owner = ? WHERE id = 1 AND owner IS NULL",
            user,
        )
        return web.Response(status=200)

    async def health(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.cleanup_ctx.append(db_ctx)
    app.router.add_post("/bare", bare)
    app.router.add_post("/insert", insert)
    app.router.add_post("/claim", claim)
    app.router.add_get("/healthz", health)
    return app


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    web.run_app(
        build(sys.argv[2]), host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None
    )
