"""The fuzz tests drive the same real app as the flow tests."""

from __future__ import annotations

from tests.flows.conftest import start_app

__all__ = ["start_app"]
