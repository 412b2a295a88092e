"""Storage failures the edges translate: an unreachable database becomes a 503."""

from __future__ import annotations

from tortoise.exceptions import DBConnectionError

# Raised by the ORM when the database cannot be reached or refuses work; callers should ask the
# sender to retry instead of losing the request.
DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    DBConnectionError,
    ConnectionError,
    OSError,
)
