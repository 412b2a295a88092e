"""A Slack call that times out after Slack acted: the re-post finds the first message instead.

The fake Slack's "act then time out" mode posts the message and holds the answer past the
client's timeout, so the bot cannot know the post worked. Each test prints the duplicate rate
it measured, with and without the history scopes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from bot.storage.models import Lead, OutboxItem
from tests.fakes import FakeSlackApi
from tests.flows.conftest import StartApp
from tests.flows.test_handoff import HOT_LEAD, slack_config, start_slack_app
from tests.process.support import show_figures
from tests.support import LiveClock, post_signed, wait_until

LEADS = 8
CLIENT_TIMEOUT = 0.3  # the bot's Slack client gives up after this long
HOLD = 1.5  # the fake answers this late: always past the client's timeout


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


async def _route_leads_through_timeouts(
    start_app: StartApp, fake: FakeSlackApi, clock: LiveClock
) -> dict[int, int]:
    """Every first card post times out after Slack posted it; returns card posts per lead."""
    fake.act_then_time_out("chat.postMessage", hold=HOLD, count=LEADS)
    client = await start_slack_app(
        start_app, fake, slack_config(), slack_timeout_seconds=CLIENT_TIMEOUT
    )
    for n in range(LEADS):
        lead: dict[str, Any] = {**HOT_LEAD, "email": f"lead{n}@acme.io"}
        status, body = await post_signed(client, "/webhooks/leads", lead, clock=clock)
        assert status == 202, body
    await wait_until(
        lambda: _all_cards_saved(),
        within=30,
        what="every lead's card saved",
    )
    cards = Counter(
        call.args["metadata"]["event_payload"]["lead_id"]
        for call in fake.posts_with_metadata("handoff_card")
    )
    return dict(cards)


async def _all_cards_saved() -> bool:
    leads = await Lead.all()
    pending = await OutboxItem.filter(status="pending", method="chat.postMessage").count()
    return len(leads) == LEADS and all(lead.card_ts for lead in leads) and pending == 0


async def test_a_card_post_that_timed_out_after_slack_posted_is_not_posted_again(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    cards = await _route_leads_through_timeouts(start_app, fake_slack, clock)
    duplicates = sum(count - 1 for count in cards.values())
    show_figures(f"\nhistory readable: {LEADS} timed-out posts, {duplicates} duplicates")
    assert len(cards) == LEADS
    assert duplicates == 0
    assert fake_slack.calls_to("conversations.history")
    # The saved card is the one Slack posted first: updates go to it, not to a lost twin.
    posted = {(c.response["channel"], c.response["ts"]) for c in fake_slack.posts_with_metadata()}
    for lead in await Lead.all():
        assert (lead.card_channel, lead.card_ts) in posted


async def test_without_the_history_scope_a_timed_out_post_is_repeated_at_least_once(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    # The workspace installed the app before the history scopes were added.
    fake_slack.fail_next("conversations.history", error="missing_scope", count=LEADS * 4)
    cards = await _route_leads_through_timeouts(start_app, fake_slack, clock)
    duplicates = sum(count - 1 for count in cards.values())
    show_figures(f"\nno history scope: {LEADS} timed-out posts, {duplicates} duplicates")
    assert len(cards) == LEADS
    # Nothing is lost; every timed-out post is sent again, as at-least-once promises.
    assert duplicates == LEADS
