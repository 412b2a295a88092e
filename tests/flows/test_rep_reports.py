"""Who is a rep for `/leads report`: configured in a channel, known from assignments, or who
ever claimed. A configured rep sees her own numbers before her first claim."""

from __future__ import annotations

import pytest

from bot.storage.models import Lead, Rep, Transition
from tests.fakes import FakeSlackApi
from tests.flows.conftest import AppClient, StartApp
from tests.flows.slack_support import message_text, send_to_slack_endpoint, slash_command
from tests.flows.test_handoff import slack_config, start_slack_app
from tests.support import FakeClock

NEW_REP = "U0NEWREP"  # in channels.C0SALES.reps, has never claimed
REFUSED = "Reports are for sales managers and reps"


async def _report(client: AppClient, fake: FakeSlackApi, user: str, text: str, key: str) -> str:
    status, body = await send_to_slack_endpoint(
        client, slash_command(text, user, fake.response_url(key))
    )
    assert status == 200, body
    return message_text((await fake.wait_for_response(key))[0])


@pytest.fixture
async def client(start_app: StartApp, fake_slack: FakeSlackApi) -> AppClient:
    config = slack_config(channels={"C0SALES": {"reps": {NEW_REP: 1, "U0OTHER": 2}}})
    return await start_slack_app(start_app, fake_slack, config)


async def test_configured_rep_sees_her_own_report_before_her_first_claim(
    client: AppClient, fake_slack: FakeSlackApi
) -> None:
    text = await _report(client, fake_slack, NEW_REP, "report 7d", "r1")
    assert REFUSED not in text
    assert "*Leads in* 0" in text and "*claimed* 0" in text
    other = await _report(client, fake_slack, NEW_REP, "report <@U0OTHER>", "r2")
    assert "You can see your own numbers" in other  # still only her own


async def test_rep_who_once_claimed_or_was_assigned_is_a_rep(
    client: AppClient, fake_slack: FakeSlackApi, clock: FakeClock
) -> None:
    now = clock()
    lead = await Lead.create(email="x@acme.io", created_at=now, updated_at=now)
    # Claimed once, since released: the lead no longer names her.
    await Transition.create(
        lead=lead, actor="U0PAST", action="claimed", from_state="routed", to_state="claimed", at=now
    )
    await Rep.create(user_id="U0ASSIGNED", updated_at=now)
    for user, key in (("U0PAST", "p1"), ("U0ASSIGNED", "p2")):
        assert REFUSED not in await _report(client, fake_slack, user, "report", key)
    assert REFUSED in await _report(client, fake_slack, "U0STRANGER", "report", "p3")
