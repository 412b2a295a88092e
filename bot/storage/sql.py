"""Raw SQL for both dialects: `:name` parameters compiled to `?` or `$n`, dialect snippets.

Only storage modules use this. Snippets are built from constants, never from input; values are
always bound.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient

_PARAM_RE = re.compile(r":([a-z_][a-z0-9_]*)")


class DialectSql:
    def __init__(self, conn: BaseDBAsyncClient | None = None) -> None:
        """On ``conn`` (a transaction's connection) or the default one."""
        self.conn = conn or Tortoise.get_connection("default")
        self.postgres = self.conn.capabilities.dialect == "postgres"

    def seconds(self, later: str, earlier: str) -> str:
        if self.postgres:
            return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"
        # Tortoise stores SQLite datetimes as ISO text; julianday() reads it.
        return f"((julianday({later}) - julianday({earlier})) * 86400.0)"

    def json_text(self, column: str, key: str) -> str:
        if self.postgres:
            return f"({column} ->> '{key}')"
        return f"json_extract({column}, '$.{key}')"

    def as_text(self, column: str) -> str:
        """A JSON or text column as text, for a substring search."""
        return f"CAST({column} AS TEXT)"

    def _value(self, value: Any) -> Any:
        if isinstance(value, datetime):
            utc = value.astimezone(UTC)
            # The same text Tortoise writes, so text comparison orders like time does.
            return utc if self.postgres else utc.isoformat(sep=" ")
        return value

    def compile(self, sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
        order: list[str] = []

        def placeholder(match: re.Match[str]) -> str:
            name = match[1]
            if not self.postgres:
                order.append(name)
                return "?"
            if name not in order:
                order.append(name)
            return f"${order.index(name) + 1}"

        compiled = _PARAM_RE.sub(placeholder, sql)
        return compiled, [self._value(params[name]) for name in order]

    async def fetch(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        compiled, values = self.compile(sql, params or {})
        rows: list[dict[str, Any]] = await self.conn.execute_query_dict(compiled, values)
        return rows
