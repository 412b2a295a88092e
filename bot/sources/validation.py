"""What the database can hold, and how an odd optional field keeps its lead. Pure, no I/O.

Every source (generic, HubSpot, Typeform, forms) runs its JSON through these before anything is
stored, so input that one database accepts and the other refuses is refused (400, naming the
field) or normalised (with a warning) at the door, never accepted and then lost:

- PostgreSQL ``text``/``jsonb`` refuse NUL and lone surrogates; NUL is stripped (a person would
  not miss it), a lone surrogate is refused (the text is broken, there is nothing to repair);
- ``jsonb`` refuses NaN and Infinity, and Python refuses integers over 4,300 digits;
- deep nesting exhausts recursion in every JSON library on the way;
- ``int`` columns are 32 bit on PostgreSQL and 64 bit on SQLite (see ``bounded_int``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

MAX_DEPTH = 32  # objects/arrays inside each other; real forms and CRMs use a handful
MAX_NUMBER_CHARS = 100  # a JSON number longer than this is not a measurement of anything
INT32_MAX = 2**31 - 1
BIGINT_MAX = 2**63 - 1
# Timestamps outside this window cannot be converted to UTC safely in every library, and
# describe nothing a lead did.
EARLIEST_TIMESTAMP = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIMESTAMP = datetime(9000, 1, 1, tzinfo=UTC)

Model = TypeVar("Model", bound=BaseModel)


@dataclass(frozen=True)
class FieldError:
    """Why a field was refused; the whole delivery is answered 400."""

    field: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


@dataclass(frozen=True)
class FieldWarning:
    """What was done to a field that was kept (normalised, or moved to ``custom``)."""

    field: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class PayloadError(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class _BadNumber:
    """A JSON number we refuse, kept as a marker so the walk can name its field."""

    text: str
    reason: str


def _parse_int(text: str) -> int | _BadNumber:
    if len(text) > MAX_NUMBER_CHARS:
        return _BadNumber(text, f"number has more than {MAX_NUMBER_CHARS} digits")
    return int(text)


def _parse_float(text: str) -> float | _BadNumber:
    if len(text) > MAX_NUMBER_CHARS:
        return _BadNumber(text, f"number has more than {MAX_NUMBER_CHARS} characters")
    value = float(text)
    if not math.isfinite(value):
        return _BadNumber(text, "number is too large to store")
    return value


def _parse_constant(text: str) -> _BadNumber:
    return _BadNumber(text, f"{text} is not a number JSON allows")


def parse_json_body(body: bytes) -> Any:
    """The request body as JSON, or PayloadError. Numbers are bounded but not yet checked."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError([FieldError("body", "must be UTF-8 encoded JSON")]) from None
    try:
        return json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except RecursionError:
        raise PayloadError([FieldError("body", f"nested deeper than {MAX_DEPTH} levels")]) from None
    except json.JSONDecodeError as exc:
        raise PayloadError([FieldError("body", f"not valid JSON: {exc}")]) from None
    except ValueError as exc:  # e.g. an integer Python refuses to convert
        raise PayloadError([FieldError("body", f"not valid JSON: {exc}")]) from None


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]" if path else f"[{key}]"
    return f"{path}.{key}" if path else key


def clean_json(data: Any) -> tuple[Any, list[FieldWarning]]:
    """A copy of ``data`` every backend can store: NUL stripped from strings and keys (with a
    warning per field), anything else unstorable refused with PayloadError naming each field."""
    errors: list[FieldError] = []
    warnings: list[FieldWarning] = []

    def clean_text(text: str, path: str) -> str:
        if _has_lone_surrogate(text):
            errors.append(FieldError(path or "body", "contains invalid Unicode (a lone surrogate)"))
            return text
        if "\x00" in text:
            warnings.append(FieldWarning(path or "body", "NUL characters removed"))
            return text.replace("\x00", "")
        return text

    # Recursive, but only after the iterative depth check below has bounded the nesting.
    def walk(value: Any, path: str) -> Any:
        if isinstance(value, str):
            return clean_text(value, path)
        if isinstance(value, _BadNumber):
            errors.append(FieldError(path or "body", value.reason))
            return None
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                clean_key = clean_text(key, _join(path, key.replace("\x00", "")))
                out[clean_key] = walk(item, _join(path, clean_key))
            return out
        if isinstance(value, list):
            return [walk(item, _join(path, i)) for i, item in enumerate(value)]
        return value

    if _depth_exceeds(data, MAX_DEPTH):
        raise PayloadError([FieldError("body", f"nested deeper than {MAX_DEPTH} levels")])
    cleaned = walk(data, "")
    if errors:
        raise PayloadError(errors[:20])  # a flood of one mistake helps nobody
    return cleaned, warnings


def _depth_exceeds(data: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(value, dict):
            stack.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
    return False


def bounded_int(value: int, low: int, high: int) -> int:
    """``value`` if a column of that range can hold it; ValueError naming the range otherwise."""
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value


def storable_timestamp(value: datetime) -> datetime:
    """An aware timestamp as UTC, if it lies in a range every library converts safely."""
    if value.tzinfo is None:
        raise ValueError("needs a timezone, e.g. 2026-11-24T10:00:00Z")
    try:
        utc = value.astimezone(UTC)
    except (OverflowError, ValueError):
        utc = None
    if utc is None or not EARLIEST_TIMESTAMP <= utc < LATEST_TIMESTAMP:
        raise ValueError(
            f"must be between {EARLIEST_TIMESTAMP:%Y-%m-%d} and {LATEST_TIMESTAMP:%Y-%m-%d}"
        )
    return utc


def _error_field(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "body"


def field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(_error_field(err["loc"]), err["msg"].removeprefix("Value error, "))
        for err in exc.errors()
    ]


def validate_keeping_odd_fields(
    model: type[Model],
    data: Mapping[str, Any],
    required: Collection[str],
    park: Callable[[dict[str, Any], str, Any], str],
) -> tuple[Model, list[FieldWarning]]:
    """Validate ``data``; a bad field outside ``required`` does not refuse the delivery.

    The bad value is taken out of the payload and handed to ``park(data, name, raw)``, which
    keeps it somewhere harmless (the lead's ``custom``) and says where; validation runs again
    without it. A bad required field, or one that cannot be parked, is a PayloadError.
    """
    payload = dict(data)
    warnings: list[FieldWarning] = []
    for _ in range(3):  # a parked value is gone, so the second pass has no new bad fields
        try:
            return model.model_validate(payload), warnings
        except ValidationError as exc:
            errors = field_errors(exc)
            hard = [
                e
                for e, err in zip(errors, exc.errors(), strict=True)
                if not err["loc"] or err["loc"][0] in required or err["loc"][0] not in payload
            ]
            if hard:  # refused anyway: name every problem, the odd fields too
                raise PayloadError(errors) from None
            odd: dict[str, str] = {}
            for e, err in zip(errors, exc.errors(), strict=True):
                odd.setdefault(str(err["loc"][0]), e.message)
            for name, message in odd.items():
                raw = payload.pop(name)
                where = park(payload, name, raw)
                kept = f"{message}; left empty, the value is kept {where}"
                warnings.append(FieldWarning(name, kept))
    raise PayloadError([FieldError("body", "could not be validated")])
