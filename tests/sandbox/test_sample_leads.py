"""The sandbox's generated leads are what they claim: hot ones reach the sandbox's threshold,
cold ones stay below it, scored by the real engine with the sandbox's configuration."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from bot.sandbox.run import sandbox_config
from bot.sandbox.sample_leads import Temperature, build_sample_lead
from bot.scoring import score_lead
from bot.sources.generic import parse_event, parse_lead

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize("temperature", ["hot", "cold"])
def test_generated_leads_score_as_their_temperature(temperature: Temperature) -> None:
    config = sandbox_config()
    rng = random.Random(14)
    for serial in range(1, 41):
        sample = build_sample_lead(temperature, rng, serial)
        lead = parse_lead(sample.lead).profile  # valid as the webhook would parse it
        events = [parse_event({"email": lead.email, **event}, NOW).event for event in sample.events]
        points = score_lead(lead, events, config.scoring, NOW).points
        if temperature == "hot":
            assert points >= config.hot_threshold, (sample.summary, points)
        else:
            assert points < config.hot_threshold, (sample.summary, points)


def test_generated_emails_are_distinct_within_a_run() -> None:
    rng = random.Random(1)
    emails = {build_sample_lead("hot", rng, serial).lead["email"] for serial in range(200)}
    assert len(emails) == 200
