"""From a vendor's fields to the generic lead body, and back from a bad lead field to the vendor's.

Every source (HubSpot, Typeform, website forms) builds the same dict that ``POST /webhooks/leads``
takes and runs it through the one generic validation, so every rule applies to every source.
Errors are then renamed to the field the sender knows (``answers[ref=work_email]``), not ours.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.sources.generic import FieldError, ParsedLead, PayloadError, parse_lead

# The generic lead's fields a source may fill; anything else goes to ``custom.<key>``.
LEAD_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "title",
    "company",
    "company_size",
    "industry",
    "country",
    "phone",
    "website",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
)
CUSTOM_PREFIX = "custom."
_CUSTOM_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$")
SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_:.-]{0,49}$")


def check_target(target: str) -> str:
    """A mapping target: a lead field or ``custom.<key>`` (for config validation)."""
    if target in LEAD_FIELDS:
        return target
    key = target.removeprefix(CUSTOM_PREFIX)
    if target.startswith(CUSTOM_PREFIX) and _CUSTOM_KEY.match(key):
        return target
    raise ValueError(f"expected one of {', '.join(LEAD_FIELDS)} or custom.<key>, got {target!r}")


@dataclass
class MappedLead:
    """A vendor payload turned into the generic lead body, remembering where each value came from.

    ``origins`` maps a generic field to the vendor's name for it, for error messages;
    ``unmapped`` lists vendor fields with no mapping, kept in ``custom`` under their own name.
    """

    data: dict[str, Any] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)
    unmapped: list[str] = field(default_factory=list)
    delivery_id: str | None = None
    hubspot_contact_id: str | None = None

    def put(self, target: str, value: Any, origin: str) -> None:
        """Set a lead field (or custom key); an empty value never overwrites a filled one."""
        if value is None or (isinstance(value, str) and not value.strip()):
            return
        if target.startswith(CUSTOM_PREFIX):
            custom = self.data.setdefault("custom", {})
            key = target.removeprefix(CUSTOM_PREFIX)
            custom[key] = value
            self.origins[f"custom.{key}"] = origin
            return
        self.data[target] = value
        self.origins[target] = origin

    def keep_unmapped(self, key: str, value: Any, origin: str) -> None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return
        self.put(CUSTOM_PREFIX + key, value, origin)
        self.unmapped.append(origin)


def _renamed(problem: Any, origins: Mapping[str, str]) -> Any:
    """An error or warning (a dataclass with ``field``) named by the vendor's field."""
    name = problem.field
    for generic, origin in origins.items():
        if name == generic or name.startswith(generic + "."):
            return dataclasses.replace(problem, field=origin + name.removeprefix(generic))
    return problem


def warnings_of(parsed: ParsedLead) -> tuple[Any, ...]:
    """The generic validation's warnings (odd optional fields kept), where it reports them."""
    return tuple(getattr(parsed, "warnings", ()))


def parse_mapped(mapped: MappedLead, source_name: str, *, missing_email_hint: str) -> ParsedLead:
    """Validate a mapped lead with the generic rules; name bad fields as the vendor does.

    The lead's ``source`` is the source's name unless the payload mapped one of its own.
    """
    if "email" not in mapped.data:
        raise PayloadError([FieldError("email", missing_email_hint)])
    try:
        parsed = parse_lead(mapped.data)
    except PayloadError as exc:
        raise PayloadError([_renamed(e, mapped.origins) for e in exc.errors]) from None
    profile = dataclasses.replace(
        parsed.profile,
        source=parsed.profile.source or source_name,
        hubspot_contact_id=mapped.hubspot_contact_id,
    )
    renamed: dict[str, Any] = {}
    if warnings_of(parsed):
        renamed["warnings"] = tuple(_renamed(w, mapped.origins) for w in warnings_of(parsed))
    return dataclasses.replace(
        parsed,
        profile=profile,
        delivery_id=mapped.delivery_id,
        unknown_fields=tuple(mapped.unmapped),
        **renamed,
    )
