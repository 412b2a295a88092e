"""Test doubles that speak real protocols on loopback; import ``fake_slack`` into a conftest.

The fake Slack Web API lives in bot/sandbox (the sandbox serves it to people too); this package
re-exports it, and keeps the old module paths importable for tests written against them.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator

import pytest

from bot.sandbox import block_kit, slack_api
from bot.sandbox.block_kit import validate_blocks, validate_message, validate_view
from bot.sandbox.slack_api import Call, FakeSlackApi, InvalidPayload, UploadedFile, run_fake_slack

sys.modules.setdefault("tests.fakes.block_kit", block_kit)
sys.modules.setdefault("tests.fakes.slack_api", slack_api)

__all__ = [
    "Call",
    "FakeSlackApi",
    "InvalidPayload",
    "UploadedFile",
    "fake_slack",
    "run_fake_slack",
    "validate_blocks",
    "validate_message",
    "validate_view",
]


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlackApi]:
    """A running fake Slack; the test fails if anything sent it an invalid message or view.

    Tests that send invalid payloads on purpose collect them with ``take_invalid_payloads()``.
    """
    async with run_fake_slack() as fake:
        yield fake
        problems = [(p.method, p.problems) for p in fake.invalid_payloads]
        assert not problems, f"Slack would have rejected these payloads: {problems}"
