"""Storage failures the edges translate: an unreachable database becomes a 503."""

from __future__ import annotations

import sqlite3

import asyncpg
from tortoise.exceptions import BaseORMException, DBConnectionError

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

# Every failure a database or its driver can raise. At the HTTP edge all of them answer 503 with
# Retry-After, never 500: the request was not stored, and a sender retrying later is right.
DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    *DATABASE_UNAVAILABLE,
    BaseORMException,  # OperationalError, IntegrityError, TransactionManagementError, ...
    asyncpg.PostgresError,
    asyncpg.InternalClientError,  # e.g. a protocol state the driver did not expect
    sqlite3.Error,
)
