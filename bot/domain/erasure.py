"""What "erase a person" means for stored values: pure functions, no storage.

A person's data is recognised by the values they gave us (email, its local part, names,
phone). Any string that contains one of them is replaced whole by ``ERASED``: a sentence that
quotes a name is not safe with only the name cut out of it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

ERASED = "[erased]"
ERASED_EMAIL_DOMAIN = "erased.invalid"  # RFC 2606: can never be a real address
_NON_DIGITS = re.compile(r"\D")


def erased_email(lead_id: int) -> str:
    """The placeholder kept in the (unique, required) email column of an erased lead."""
    return f"erased-{lead_id}@{ERASED_EMAIL_DOMAIN}"


def is_erased_email(email: str) -> bool:
    return email.endswith("@" + ERASED_EMAIL_DOMAIN)


@dataclass(frozen=True)
class PersonalData:
    """The values that identify one person, folded for a case-insensitive search."""

    texts: tuple[str, ...]
    phone_digits: str | None

    @classmethod
    def of(
        cls,
        email: str,
        names: Iterable[str | None] = (),
        phone: str | None = None,
    ) -> PersonalData:
        local = email.split("@", 1)[0]
        texts = {email.casefold()}
        if len(local) >= 3:
            texts.add(local.casefold())
        for name in names:
            if name and len(name.strip()) >= 2:
                texts.add(name.strip().casefold())
        digits = _NON_DIGITS.sub("", phone or "")
        if phone and len(phone.strip()) >= 5:
            texts.add(phone.strip().casefold())
        return cls(
            tuple(sorted(texts, key=len, reverse=True)), digits if len(digits) >= 7 else None
        )

    def found_in(self, text: str) -> bool:
        folded = text.casefold()
        if any(t in folded for t in self.texts):
            return True
        return self.phone_digits is not None and self.phone_digits in _NON_DIGITS.sub("", text)

    def scrub(self, value: Any) -> Any:
        """``value`` (any JSON) with every string that quotes the person replaced."""
        if isinstance(value, str):
            return ERASED if self.found_in(value) else value
        if isinstance(value, list):
            return [self.scrub(v) for v in value]
        if isinstance(value, dict):
            return {
                (ERASED if isinstance(k, str) and self.found_in(k) else k): self.scrub(v)
                for k, v in value.items()
            }
        return value

    def scrub_key(self, key: str) -> str:
        """An idempotency key that quotes the person becomes its hash: duplicates still match."""
        if not self.found_in(key):
            return key
        return "erased:" + hashlib.sha256(key.encode()).hexdigest()
