"""Test doubles that speak real protocols on loopback; import ``fake_slack`` into a conftest."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.block_kit import validate_blocks, validate_message, validate_view
from tests.fakes.slack_api import Call, FakeSlackApi, InvalidPayload, UploadedFile, run_fake_slack

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
