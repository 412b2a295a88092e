"""Process-level tests: real `handoff serve` processes, killed and restarted, on real databases."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "process: starts real `handoff serve` processes (runs in CI, ~1 min each)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/process/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.process)
