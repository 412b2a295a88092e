"""Vendor bodies from tests/payloads/, as the vendors document them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PAYLOADS = Path(__file__).resolve().parent.parent / "payloads"


def load(name: str) -> Any:
    return json.loads((PAYLOADS / name).read_text(encoding="utf-8"))


def raw(name: str) -> bytes:
    """The file's bytes, for signing exactly what is sent."""
    return (PAYLOADS / name).read_bytes().strip()
