"""Process-level tests: real `handoff serve` processes, killed and restarted, on real databases."""

from __future__ import annotations

import pytest
from _pytest.terminal import TerminalReporter

from tests.process.support import FIGURE_MARK, FIGURES


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "process: starts real `handoff serve` processes (runs in CI, ~1 min each)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/process/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.process)
            # About a minute each on an idle machine; a loaded one makes them slower, so the
            # suite-wide 120 s per test would fail them for the machine's sake.
            item.add_marker(pytest.mark.timeout(300))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # Runs where the summary is written (the xdist controller too); the output came along.
    if report.when != "call":
        return
    for title, content in report.sections:
        if title.startswith("Captured stdout"):
            lines = content.splitlines()
            FIGURES.extend(x.removeprefix(FIGURE_MARK) for x in lines if x.startswith(FIGURE_MARK))


def pytest_terminal_summary(terminalreporter: TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("process-level figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
