"""Website form posts (HTML forms, WordPress/Webflow plugins) -> the generic lead; spam checks.

Fields are mapped by ``sources.forms.<form_id>.fields``; a field named like a lead field maps
itself, ignoring case, spaces and dashes ("First Name" -> first_name, "E-mail" does not). Checkbox
groups (one name, several values) are joined with ", ". Pure: ``now`` is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.sources.mapping import LEAD_FIELDS, MappedLead

TOKEN_FIELD = "token"  # noqa: S105 - the name of the query/form field, not a secret
MAX_FIELDS = 200
MISSING_EMAIL = (
    "no form field maps to email: name the input `email`, or map it under "
    "sources.forms.<form_id>.fields"
)
FormFields = dict[str, str | list[str]]


def _normalised(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


def _joined(value: str | list[str]) -> str:
    return value if isinstance(value, str) else ", ".join(v for v in value if v.strip())


def collect(pairs: Collection[tuple[str, str]], control: Collection[str]) -> FormFields:
    """Form pairs as posted -> one value per name (a list when a name repeats), control fields
    (token, honeypot, timestamp) left out so they are never stored with the lead."""
    fields: FormFields = {}
    for raw_name, raw_value in pairs:
        # No browser sends NUL; the databases cannot hold it (PostgreSQL refuses it in text).
        name, value = raw_name.replace("\x00", "").strip(), raw_value.replace("\x00", "")
        if not name or name in control:
            continue
        if name in fields:
            previous = fields[name]
            fields[name] = [*([previous] if isinstance(previous, str) else previous), value]
        else:
            fields[name] = value
    return fields


def map_form(fields: Mapping[str, Any], field_map: Mapping[str, str]) -> MappedLead:
    mapped = MappedLead()
    by_lead_name = {name: name for name in LEAD_FIELDS}
    for name, value in fields.items():
        text = _joined(value) if isinstance(value, str | list) else str(value)
        target = field_map.get(name) or by_lead_name.get(_normalised(name))
        if target is not None:
            mapped.put(target, text, name)
        else:
            mapped.keep_unmapped(name, text, name)
    return mapped


def _rendered_at(text: str) -> datetime | None:
    """Unix seconds or milliseconds, as a page script puts them in a hidden input."""
    text = text.strip()
    if not text.isdigit() or len(text) > 16:
        return None
    value = int(text)
    seconds = value / 1000 if value > 10**11 else value
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def spam_reason(
    pairs: Collection[tuple[str, str]],
    honeypot: str | None,
    timestamp_field: str | None,
    min_fill_time: timedelta,
    now: datetime,
) -> str | None:
    """Why a post looks like a bot's, or None. People leave the hidden honeypot empty and take
    more than a few seconds; a form without the timestamp field is not held to a fill time."""
    values = dict(pairs)
    if honeypot and values.get(honeypot, "").strip():
        return "honeypot field filled in"
    if timestamp_field and timestamp_field in values:
        rendered = _rendered_at(values[timestamp_field])
        if rendered is not None and now - rendered < min_fill_time:
            seconds = max((now - rendered).total_seconds(), 0.0)
            return f"submitted {seconds:.1f} s after the form loaded"
    return None
