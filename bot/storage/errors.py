"""Storage failures the edges translate: an unreachable database becomes a 503."""

from __future__ import annotations

import asyncpg
from tortoise.exceptions import DBConnectionError

# Raised when the database cannot be reached or refuses connections (down, restarting, not
# accepting connections, out of connection slots). Callers ask the sender to retry instead of
# losing the request. SQL errors are bugs and are not in this list.
DATABASE_UNAVAILABLE: tuple[type[BaseException], ...] = (
    DBConnectionError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.ObjectNotInPrerequisiteStateError,  # database not accepting connections
    asyncpg.InterfaceError,
    ConnectionError,
    OSError,
)
