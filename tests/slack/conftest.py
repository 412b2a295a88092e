"""Fixtures for the Slack tests."""

from tests.fakes import fake_slack as fake_slack
