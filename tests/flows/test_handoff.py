"""The hand-off over real HTTP: webhook -> card -> claim -> DM -> not ready -> marketing."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import pytest

from bot.config import HandoffConfig
from bot.signatures import check_signature
from bot.storage.models import Lead, OutboxItem, Transition
from tests.conftest import make_config
from tests.fakes import FakeSlackApi
from tests.flows.conftest import AppClient, StartApp, WebhookReceiver
from tests.flows.slack_support import (
    SIGNING_SECRET,
    block_action,
    message_text,
    mrkdwn_texts,
    not_ready_values,
    send_to_slack_endpoint,
    view_submission,
)
from tests.support import WEBHOOK_SECRET, LiveClock, post_signed, wait_until

HOT_LEAD = {
    "email": "ana@acme.io",
    "first_name": "Ana",
    "last_name": "García",
    "title": "VP of Sales",
    "company": "Acme",
    "company_size": 250,
    "country": "ES",
    "phone": "+34 600 000 000",
    "source": "webform",
}


@pytest.fixture
def clock() -> LiveClock:
    return LiveClock()


def slack_config(webhook_url: str | None = None, **overrides: Any) -> HandoffConfig:
    return make_config(
        hot_threshold=30,
        marketing={"channel": "C0MKT", "webhook_url": webhook_url},
        managers=["U0BOSS"],
        **overrides,
    )


async def start_slack_app(
    start_app: StartApp, fake: FakeSlackApi, config: HandoffConfig, **overrides: Any
) -> AppClient:
    settings: dict[str, Any] = {
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fake.base_url,
        **overrides,
    }
    return await start_app(config, **settings)


async def ingest_hot_lead(client: AppClient, clock: LiveClock, fake: FakeSlackApi) -> Lead:
    status, body = await post_signed(client, "/webhooks/leads", HOT_LEAD, clock=clock)
    assert status == 202, body
    await fake.wait_for("chat.postMessage")
    lead = await wait_until(lambda: Lead.get_or_none(email="ana@acme.io", card_ts__isnull=False))
    assert isinstance(lead, Lead)
    return lead


async def click(client: AppClient, action_id: str, user: str, **kwargs: Any) -> int:
    status, _ = await send_to_slack_endpoint(client, block_action(action_id, user, **kwargs))
    return status


def card_message(fake: FakeSlackApi) -> dict[str, Any]:
    cards = fake.posted("C0DEFAULT")
    assert len(cards) == 1, cards
    return cards[0]


async def test_full_handoff_path(
    start_app: StartApp,
    fake_slack: FakeSlackApi,
    clock: LiveClock,
    webhook_receiver: WebhookReceiver,
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config(webhook_receiver.url))
    lead = await ingest_hot_lead(client, clock, fake_slack)

    # The card: who, why hot, and buttons; no contact details in the channel.
    card = card_message(fake_slack)
    text = message_text(card)
    assert "Ana García" in text and "VP of Sales" in text and "Acme" in text
    assert "lead_claim" in text and "lead_not_ready" in text
    assert "ana@acme.io" not in text and "600 000 000" not in text
    assert lead.state == "routed" and lead.route_channel == "C0DEFAULT"

    # First click wins; the card shows the owner; the owner gets the contact details by DM.
    assert await click(client, "lead_claim", "U0ANA", value=str(lead.id)) == 200
    dm = await wait_until(lambda: _first_posted(fake_slack, "U0ANA"), what="claim DM")
    assert "ana@acme.io" in message_text(dm) and "600 000 000" in message_text(dm)
    updates = await fake_slack.wait_for("chat.update")
    assert "Claimed by <@U0ANA>" in message_text(updates[-1].args)
    assert "lead_claim" not in message_text(card_message(fake_slack))

    # A later click is told who has it, where they clicked, and nothing changes.
    where = fake_slack.response_url("ben-claim")
    assert await click(client, "lead_claim", "U0BEN", value=str(lead.id), response_url=where) == 200
    told = await fake_slack.wait_for_response("ben-claim")
    assert told[0]["response_type"] == "ephemeral" and told[0]["replace_original"] is False
    assert "Already claimed by <@U0ANA>" in json.dumps(told[0])
    assert fake_slack.calls_to("chat.postEphemeral") == []  # no Web API call for the answer
    assert (await Lead.get(id=lead.id)).claimed_by == "U0ANA"

    # Where the click's response_url is dead, the answer comes as an ephemeral instead.
    assert await click(client, "lead_claim", "U0CAT", value=str(lead.id)) == 200
    ephemeral = await fake_slack.wait_for("chat.postEphemeral")
    assert ephemeral[0].args["user"] == "U0CAT" and ephemeral[0].args["channel"] == "C0SALES"
    assert "Already claimed by <@U0ANA>" in json.dumps(ephemeral[0].args)

    # Not ready opens the modal for the owner...
    assert await click(client, "lead_not_ready", "U0ANA", value=str(lead.id)) == 200
    opened = await fake_slack.wait_for("views.open")
    view = opened[0].args["view"]
    assert view["callback_id"] == "not_ready_submit" and view["private_metadata"] == str(lead.id)

    # ...and submitting it returns the lead to marketing.
    recontact = (clock().date() + timedelta(days=30)).isoformat()
    values = not_ready_values("budget", "Budget frozen until Q2", recontact)
    status, _ = await send_to_slack_endpoint(
        client, view_submission("not_ready_submit", "U0ANA", str(lead.id), values)
    )
    assert status == 200
    returned = await wait_until(lambda: _first_posted(fake_slack, "C0MKT"), what="marketing msg")
    assert "No budget" in message_text(returned) and "Budget frozen until Q2" in message_text(
        returned
    )
    await wait_until(lambda: _true(bool(webhook_receiver.received)), what="lead.returned webhook")
    hook = webhook_receiver.received[0]
    problem = check_signature(
        WEBHOOK_SECRET,
        hook.headers.get("X-Handoff-Timestamp"),
        hook.headers.get("X-Handoff-Signature"),
        hook.body,
        clock().timestamp(),
    )
    assert problem is None
    payload = json.loads(hook.body)
    assert payload["event"] == "lead.returned"
    assert payload["lead"]["email"] == "ana@acme.io"
    assert (payload["reason"], payload["note"]) == ("budget", "Budget frozen until Q2")
    assert payload["recontact_after"] == recontact and payload["returned_by"] == "U0ANA"

    stored = await Lead.get(id=lead.id)
    assert stored.state == "nurturing" and stored.claimed_by is None
    assert stored.cooldown_until is not None
    assert stored.cooldown_until - clock() > timedelta(days=13)
    await wait_until(
        lambda: _true("Returned to marketing" in message_text(card_message(fake_slack))),
        what="card shows the return",
    )
    actions = (
        await Transition.filter(lead_id=lead.id).order_by("id").values_list("action", flat=True)
    )
    assert [a for a in actions if a != "scored"] == ["created", "routed", "claimed", "returned"]


async def _first_posted(fake: FakeSlackApi, channel: str) -> dict[str, Any] | None:
    messages = fake.posted(channel)
    return messages[0] if messages else None


async def _true(value: bool) -> bool:
    return value


async def test_click_storm_gives_exactly_one_owner(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    users = [f"U{n:04d}" for n in range(50)]
    statuses = await asyncio.gather(
        *(
            click(
                client,
                "lead_claim",
                user,
                value=str(lead.id),
                response_url=fake_slack.response_url(f"claim-{user}"),
            )
            for user in users
        )
    )
    assert statuses == [200] * 50
    stored = await wait_until(
        lambda: Lead.get_or_none(id=lead.id, state="claimed"), what="the claim"
    )
    assert stored is not None and stored.claimed_by in users
    losers = set(users) - {stored.claimed_by}
    for user in losers:  # every loser is told who won, on their own click's response_url
        told = await fake_slack.wait_for_response(f"claim-{user}", within=20)
        assert f"Already claimed by <@{stored.claimed_by}>" in json.dumps(told)
    assert [key for key, _ in fake_slack.responses if key == f"claim-{stored.claimed_by}"] == []
    assert fake_slack.calls_to("chat.postEphemeral") == []
    assert await Transition.filter(lead_id=lead.id, action="claimed").count() == 1
    dms = await wait_until(lambda: _first_posted(fake_slack, str(stored.claimed_by)))
    assert dms is not None
    for user in users:
        if user != stored.claimed_by:
            assert fake_slack.posted(user) == []


async def test_slack_500_then_429_then_ok_posts_exactly_one_card(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    fake_slack.fail_next("chat.postMessage", status=500)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    client = await start_slack_app(start_app, fake_slack, slack_config())
    status, _ = await post_signed(client, "/webhooks/leads", HOT_LEAD, clock=clock)
    assert status == 202
    calls = await fake_slack.wait_for("chat.postMessage", count=3, timeout=10)
    assert [c.status for c in calls] == [500, 429, 200]
    await wait_until(lambda: Lead.get_or_none(email="ana@acme.io", card_ts__isnull=False))
    assert len(fake_slack.posted("C0DEFAULT")) == 1
    # The card's ts is saved just before the item is marked sent: wait for the mark too.
    item = await wait_until(
        lambda: OutboxItem.get_or_none(method="chat.postMessage", status="sent")
    )
    assert item is not None and item.attempts == 3


async def test_card_goes_out_after_restart(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    # First process: Slack unreachable; the lead is routed and its card waits in the outbox.
    first = await start_slack_app(
        start_app, fake_slack, slack_config(), slack_api_url="http://127.0.0.1:9/api/"
    )
    status, _ = await post_signed(first, "/webhooks/leads", HOT_LEAD, clock=clock)
    assert status == 202
    await wait_until(lambda: OutboxItem.filter(status="pending", attempts__gte=1).exists())
    await first.close()
    assert fake_slack.calls_to("chat.postMessage") == []

    # Second process, Slack back: the card goes out once.
    await start_slack_app(start_app, fake_slack, slack_config())
    await fake_slack.wait_for("chat.postMessage")
    await wait_until(lambda: Lead.get_or_none(email="ana@acme.io", card_ts__isnull=False))
    assert len(fake_slack.posted("C0DEFAULT")) == 1


async def test_bad_slack_signature_is_refused_and_changes_nothing(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    status, _ = await send_to_slack_endpoint(
        client, block_action("lead_claim", "U0EVE", value=str(lead.id)), secret="wrong-secret"
    )
    assert status == 401
    stale = int(clock().timestamp()) - 600
    status, _ = await send_to_slack_endpoint(
        client, block_action("lead_claim", "U0EVE", value=str(lead.id)), timestamp=stale
    )
    assert status == 401
    stored = await Lead.get(id=lead.id)
    assert (stored.state, stored.claimed_by) == ("routed", None)


async def test_only_owner_or_manager_may_act_on_a_claimed_lead(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    await click(client, "lead_claim", "U0ANA", value=str(lead.id))
    await wait_until(lambda: Lead.get_or_none(id=lead.id, claimed_by="U0ANA"))

    await click(client, "lead_release", "U0EVE", value=str(lead.id))
    refusal = await fake_slack.wait_for("chat.postEphemeral")
    assert refusal[0].args["user"] == "U0EVE"
    assert "only they or a manager" in json.dumps(refusal[0].args)
    await click(client, "lead_not_ready", "U0EVE", value=str(lead.id))
    await fake_slack.wait_for("chat.postEphemeral", count=2)
    assert fake_slack.calls_to("views.open") == []
    assert (await Lead.get(id=lead.id)).claimed_by == "U0ANA"

    # The owner records the first touch; their DM drops the Contacted button.
    dm = await wait_until(lambda: _first_posted(fake_slack, "U0ANA"), what="claim DM")
    assert "lead_contacted" in message_text(dm)
    await click(client, "lead_contacted", "U0ANA", value=str(lead.id), channel="U0ANA")
    await wait_until(lambda: Lead.get_or_none(id=lead.id, state="contacted"))
    await wait_until(
        lambda: _true("lead_contacted" not in message_text(fake_slack.posted("U0ANA")[0])),
        what="DM updated after Contacted",
    )
    # A manager may close the lead.
    await click(client, "lead_outcome", "U0BOSS", selected_value=f"{lead.id}:won")
    won = await wait_until(lambda: Lead.get_or_none(id=lead.id, state="won"))
    assert won.closed_at is not None and won.contacted_at is not None


async def test_release_reopens_the_card_for_claims(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    await click(client, "lead_claim", "U0ANA", value=str(lead.id))
    await wait_until(lambda: Lead.get_or_none(id=lead.id, claimed_by="U0ANA"))
    await click(client, "lead_release", "U0ANA", value=str(lead.id))
    await wait_until(lambda: Lead.get_or_none(id=lead.id, state="routed", claimed_by=None))
    await wait_until(
        lambda: _true("lead_claim" in message_text(card_message(fake_slack))),
        what="card open for claims again",
    )
    await click(client, "lead_claim", "U0BEN", value=str(lead.id))
    await wait_until(lambda: Lead.get_or_none(id=lead.id, claimed_by="U0BEN"))


async def _ana_at_her_limit_and_a_second_card(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> tuple[AppClient, Lead]:
    """A bot allowing one open claim per rep; U0ANA holds one, and a second card is out."""
    config = slack_config(claims={"max_open_claims": 1})
    client = await start_slack_app(start_app, fake_slack, config)
    first = await ingest_hot_lead(client, clock, fake_slack)
    await click(client, "lead_claim", "U0ANA", value=str(first.id))
    await wait_until(lambda: Lead.get_or_none(id=first.id, claimed_by="U0ANA"))
    status, _ = await post_signed(
        client, "/webhooks/leads", {**HOT_LEAD, "email": "bo@beta.io"}, clock=clock
    )
    assert status == 202
    second = await wait_until(lambda: Lead.get_or_none(email="bo@beta.io", card_ts__isnull=False))
    assert isinstance(second, Lead)
    return client, second


async def test_claim_limit_refuses_politely(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client, second = await _ana_at_her_limit_and_a_second_card(start_app, fake_slack, clock)
    await click(client, "lead_claim", "U0ANA", value=str(second.id))
    refusal = await fake_slack.wait_for("chat.postEphemeral")
    assert "limit 1" in json.dumps(refusal[0].args)
    assert (await Lead.get(id=second.id)).state == "routed"


async def test_a_rep_over_the_limit_does_not_block_a_teammate_clicking_at_once(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    """Clicks on one card wait for the claim in flight; when that claim was refused for the
    clicker (their limit), the waiting teammate's click still claims the lead."""
    client, second = await _ana_at_her_limit_and_a_second_card(start_app, fake_slack, clock)
    for round_ in range(3):  # either click may run first
        if round_:
            await Lead.filter(id=second.id).update(state="routed", claimed_by=None, claimed_at=None)
        urls = {u: fake_slack.response_url(f"limit-{round_}-{u}") for u in ("U0ANA", "U0BEN")}
        statuses = await asyncio.gather(
            *(
                click(client, "lead_claim", user, value=str(second.id), response_url=url)
                for user, url in urls.items()
            )
        )
        assert statuses == [200, 200]
        won = await wait_until(lambda: Lead.get_or_none(id=second.id, claimed_by="U0BEN"))
        assert won is not None and won.state == "claimed"
        told = await fake_slack.wait_for_response(f"limit-{round_}-U0ANA")
        text = json.dumps(told)
        assert "limit 1" in text or "Already claimed by <@U0BEN>" in text


async def test_app_home_lists_the_reps_open_leads(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    await click(client, "lead_claim", "U0ANA", value=str(lead.id))
    published = await fake_slack.wait_for("views.publish")
    assert published[0].args["user_id"] == "U0ANA"
    home = json.dumps(fake_slack.home_views["U0ANA"], ensure_ascii=False)
    assert "Ana García" in home and "lead_contacted" in home


async def test_lead_text_is_escaped_and_bounded_in_the_card(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    nasty = {
        **HOT_LEAD,
        "first_name": "<!channel>",
        "last_name": "<https://evil.example|click me>",
        "company": "A&B " + "x" * 290,
        "title": "VP <@U0BOSS> " + "y" * 280,
    }
    status, _ = await post_signed(client, "/webhooks/leads", nasty, clock=clock)
    assert status == 202
    await fake_slack.wait_for("chat.postMessage")
    parsed = " ".join(mrkdwn_texts(card_message(fake_slack)))
    assert "<!channel>" not in parsed and "<https://evil.example" not in parsed
    assert "<@U0BOSS>" not in parsed
    assert "&lt;!channel&gt;" in parsed and "A&amp;B" in parsed
    # The fake validates every payload against Block Kit and Slack's limits (fixture teardown).


async def test_account_owner_is_offered_the_next_lead_from_their_company(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    first = await ingest_hot_lead(client, clock, fake_slack)
    await click(client, "lead_claim", "U0ANA", value=str(first.id))
    await wait_until(lambda: Lead.get_or_none(id=first.id, claimed_by="U0ANA"))
    colleague = {**HOT_LEAD, "email": "luis@acme.io", "first_name": "Luis"}
    await post_signed(client, "/webhooks/leads", colleague, clock=clock)
    second = await wait_until(lambda: Lead.get_or_none(email="luis@acme.io", card_ts__isnull=False))
    assert second.offered_to == "U0ANA"
    assert "acme.io owned by U0ANA" in (second.route_reason or "")

    async def offers() -> list[dict[str, Any]]:
        return [m for m in fake_slack.posted("U0ANA") if "Luis" in message_text(m)]

    offer = (await wait_until(offers, what="offer DM to the account owner"))[0]
    assert "lead_claim" in message_text(offer)
    assert len(await offers()) == 1
    assert "luis@acme.io" not in message_text(offer)  # still no contact details before a claim
    # Someone else claims it from the channel: the owner's copy is updated too, no live button.
    await click(client, "lead_claim", "U0BEN", value=str(second.id))

    async def offer_closed() -> bool:
        return all("lead_claim" not in message_text(m) for m in await offers())

    await wait_until(offer_closed, what="the offer DM shows the claim")


async def test_returned_lead_stays_with_marketing_until_a_strong_signal(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    values = not_ready_values("timing", None, None)
    await click(client, "lead_not_ready", "U0ANA", value=str(lead.id))
    await fake_slack.wait_for("views.open")
    await send_to_slack_endpoint(
        client, view_submission("not_ready_submit", "U0ANA", str(lead.id), values)
    )
    await wait_until(lambda: Lead.get_or_none(id=lead.id, state="nurturing"))

    page_view = {"email": "ana@acme.io", "type": "page_view", "properties": {"url": "/pricing"}}
    await post_signed(client, "/webhooks/events", page_view, clock=clock)
    await wait_until(lambda: Lead.get_or_none(id=lead.id, scored_at__gt=lead.scored_at))
    assert (await Lead.get(id=lead.id)).state == "nurturing"  # cooldown holds

    meeting = {"email": "ana@acme.io", "type": "meeting_booked"}
    await post_signed(client, "/webhooks/events", meeting, clock=clock)
    again = await wait_until(lambda: Lead.get_or_none(id=lead.id, state="routed", cycle=2))
    await wait_until(lambda: Lead.get_or_none(id=again.id, card_ts__isnull=False))
    assert len(fake_slack.posted("C0DEFAULT")) == 2  # a fresh card for the new hand-off


async def test_not_ready_modal_refuses_a_past_recontact_date(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    yesterday = (clock().date() - timedelta(days=1)).isoformat()
    status, body = await send_to_slack_endpoint(
        client,
        view_submission(
            "not_ready_submit", "U0ANA", str(lead.id), not_ready_values("budget", None, yesterday)
        ),
    )
    assert status == 200
    answer = json.loads(body)
    assert answer["response_action"] == "errors"
    assert "recontact_after" in answer["errors"]
    assert (await Lead.get(id=lead.id)).state == "routed"


async def test_card_refused_by_slack_can_be_sent_again_after_the_fix(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    # The bot was not invited to the channel: Slack refuses for good, the item is kept as failed.
    fake_slack.fail_next("chat.postMessage", error="not_in_channel")
    client = await start_slack_app(start_app, fake_slack, slack_config())
    await post_signed(client, "/webhooks/leads", HOT_LEAD, clock=clock)
    failed = await wait_until(lambda: OutboxItem.get_or_none(status="failed"))
    assert "not_in_channel" in (failed.last_error or "")
    assert fake_slack.posted("C0DEFAULT") == []
    # After inviting the bot, `handoff replay --outbox` queues it again (same store call).
    from bot.storage.outbox import OutboxStore

    assert await OutboxStore().requeue_failed(clock()) == 1
    await wait_until(lambda: Lead.get_or_none(email="ana@acme.io", card_ts__isnull=False))
    assert len(fake_slack.posted("C0DEFAULT")) == 1


async def test_a_paused_account_owner_is_not_offered_the_lead(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    from bot.storage.reps import RepStore

    client = await start_slack_app(start_app, fake_slack, slack_config())
    first = await ingest_hot_lead(client, clock, fake_slack)
    await click(client, "lead_claim", "U0ANA", value=str(first.id))
    await wait_until(lambda: Lead.get_or_none(id=first.id, claimed_by="U0ANA"))
    await RepStore().set_paused_until("U0ANA", clock() + timedelta(days=1), clock())
    colleague = {**HOT_LEAD, "email": "luis@acme.io", "first_name": "Luis"}
    await post_signed(client, "/webhooks/leads", colleague, clock=clock)
    second = await wait_until(lambda: Lead.get_or_none(email="luis@acme.io", card_ts__isnull=False))
    assert second.offered_to is None


async def test_manager_group_members_may_act_on_claimed_leads(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    fake_slack.usergroups["S0MGRS"] = ["U0GRP"]
    client = await start_slack_app(start_app, fake_slack, slack_config(manager_group="S0MGRS"))
    lead = await ingest_hot_lead(client, clock, fake_slack)
    await click(client, "lead_claim", "U0ANA", value=str(lead.id))
    await wait_until(lambda: Lead.get_or_none(id=lead.id, claimed_by="U0ANA"))
    await click(client, "lead_release", "U0GRP", value=str(lead.id))
    await wait_until(lambda: Lead.get_or_none(id=lead.id, state="routed", claimed_by=None))
    assert fake_slack.calls_to("chat.postEphemeral") == []  # no refusal


def _has_buttons(message: dict[str, Any]) -> bool:
    return any(block.get("type") == "actions" for block in message.get("blocks", []))


async def test_release_detaches_the_old_owners_dm_and_the_next_owner_gets_a_new_one(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    lead = await ingest_hot_lead(client, clock, fake_slack)
    await click(client, "lead_claim", "U0ANA", value=str(lead.id))
    alice_dm = await wait_until(lambda: _first_posted(fake_slack, "U0ANA"), what="Alice's DM")
    assert _has_buttons(alice_dm) and "lead_release" in message_text(alice_dm)

    await click(client, "lead_release", "U0ANA", value=str(lead.id), channel="U0ANA")
    await wait_until(lambda: Lead.get_or_none(id=lead.id, state="routed", claimed_by=None))
    await wait_until(
        lambda: _true("no longer yours" in message_text(fake_slack.posted("U0ANA")[0])),
        what="Alice's DM says the lead was released",
    )
    released = fake_slack.posted("U0ANA")[0]
    assert not _has_buttons(released) and "ana@acme.io" not in message_text(released)
    assert (await Lead.get(id=lead.id)).dm_ts is None

    await click(client, "lead_claim", "U0BEN", value=str(lead.id))
    ben_dm = await wait_until(lambda: _first_posted(fake_slack, "U0BEN"), what="Bob's DM")
    assert _has_buttons(ben_dm) and "ana@acme.io" in message_text(ben_dm)
    assert ben_dm["ts"] != alice_dm["ts"]
    await click(client, "lead_contacted", "U0BEN", value=str(lead.id), channel="U0BEN")
    await wait_until(
        lambda: _true("lead_contacted" not in message_text(fake_slack.posted("U0BEN")[0])),
        what="Bob's DM updated after Contacted",
    )
    await click(client, "lead_outcome", "U0BEN", selected_value=f"{lead.id}:won")
    await wait_until(lambda: Lead.get_or_none(id=lead.id, state="won"))
    await wait_until(
        lambda: _true(":trophy:" in json.dumps(fake_slack.posted("U0BEN")[0])),
        what="Bob's DM shows the outcome",
    )
    # Alice's DM was edited once, into the "released" note, and never again.
    alice_edits = [c for c in fake_slack.calls_to("chat.update") if c.args["channel"] == "U0ANA"]
    assert len(alice_edits) == 1
    assert fake_slack.posted("U0ANA") == [released]
    assert len(fake_slack.posted("U0ANA")) == 1 and len(fake_slack.posted("U0BEN")) == 1


async def test_a_channel_with_listed_reps_lets_only_them_and_managers_claim(
    start_app: StartApp, fake_slack: FakeSlackApi, clock: LiveClock
) -> None:
    config = slack_config(channels={"C0DEFAULT": {"reps": {"U0ANA": 1}}})
    client = await start_slack_app(start_app, fake_slack, config)
    lead = await ingest_hot_lead(client, clock, fake_slack)
    await click(client, "lead_claim", "U0EVE", value=str(lead.id))
    refusal = await fake_slack.wait_for("chat.postEphemeral")
    assert refusal[0].args["user"] == "U0EVE"
    assert "listed reps" in json.dumps(refusal[0].args)
    assert (await Lead.get(id=lead.id)).state == "routed"
    await click(client, "lead_claim", "U0BOSS", value=str(lead.id))  # a manager may
    await wait_until(lambda: Lead.get_or_none(id=lead.id, claimed_by="U0BOSS"))
    await click(client, "lead_release", "U0BOSS", value=str(lead.id))
    await wait_until(lambda: Lead.get_or_none(id=lead.id, state="routed", claimed_by=None))
    await click(client, "lead_claim", "U0ANA", value=str(lead.id))  # and a listed rep
    await wait_until(lambda: Lead.get_or_none(id=lead.id, claimed_by="U0ANA"))
