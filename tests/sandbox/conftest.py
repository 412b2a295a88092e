"""The sandbox's browser: Debian's chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS: list[Path] = []
SCREENSHOTS_PROPERTY = "screenshots"


@pytest.fixture
async def browser_page() -> AsyncIterator[Any]:
    """A fresh headless page; skipped where chromium is missing, except under CI=true."""
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed: scripts/bootstrap installs it")
        pytest.skip("chromium is not installed (scripts/bootstrap installs it as root)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # No sandbox: CI containers run as root, where chromium's own sandbox refuses to start.
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(10_000)
            yield page
        finally:
            await browser.close()


@pytest.fixture
def screenshot_dir(request: pytest.FixtureRequest) -> Path:
    """test-output/<test name>/ (or under $HANDOFF_TEST_OUTPUT), emptied first."""
    root = Path(os.environ.get("HANDOFF_TEST_OUTPUT", "test-output"))
    folder = (root / request.node.name).resolve()
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    # Carried with the test's report, so the summary below sees it from xdist workers too.
    request.node.user_properties.append((SCREENSHOTS_PROPERTY, str(folder)))
    return folder


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        SCREENSHOTS.extend(Path(v) for k, v in report.user_properties if k == SCREENSHOTS_PROPERTY)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for folder in SCREENSHOTS:
        shots = sorted(p.name for p in folder.glob("*.png"))
        if shots:
            terminalreporter.write_line(f"browser screenshots in {folder}: {', '.join(shots)}")
