"""The fake Slack Web API, driven by slack_sdk's real async client over loopback."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.leads import LeadProfile, LeadState
from bot.scoring.result import Reason, Score
from bot.slack.blocks import (
    LeadCard,
    build_app_home,
    build_lead_card,
    build_not_ready_modal,
)
from tests.fakes import FakeSlackApi, run_fake_slack

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
CARD = LeadCard(
    lead_id=7,
    profile=LeadProfile(email="a@b.example", first_name="Ada", company="Acme"),
    score=Score(80, "A", (Reason(25, "title", "fit"),)),
    latest_event=None,
    arrived_at=NOW,
    state=LeadState.ROUTED,
)
BAD_BLOCKS = [
    {
        "type": "actions",
        "elements": [
            {"type": "button", "action_id": "x", "text": {"type": "plain_text", "text": "A"}},
            {"type": "button", "action_id": "x", "text": {"type": "plain_text", "text": "B"}},
        ],
    }
]


@pytest.fixture
def client(fake_slack: FakeSlackApi) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=fake_slack.base_url)


async def test_auth_test_answers_like_slack(client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["ok"] is True
    assert {"url", "team", "user", "team_id", "user_id", "bot_id"} <= response.data.keys()


async def test_unknown_token_is_invalid_auth(fake_slack: FakeSlackApi) -> None:
    stranger = AsyncWebClient(token="xoxb-stolen", base_url=fake_slack.base_url)
    with pytest.raises(SlackApiError) as raised:
        await stranger.auth_test()
    assert raised.value.response["error"] == "invalid_auth"


async def test_posted_card_is_recorded_with_its_blocks_and_token(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    card = build_lead_card(CARD, NOW)
    first = await client.chat_postMessage(channel="C1", **card)
    second = await client.chat_postMessage(channel="C1", text="second")

    assert first["channel"] == "C1"
    assert float(first["ts"]) < float(second["ts"])
    assert first["message"]["blocks"] == card["blocks"]
    (call, _) = fake_slack.calls_to("chat.postMessage")
    assert call.ok
    assert call.args["blocks"] == card["blocks"]
    assert call.headers["Authorization"] == "Bearer xoxb-test"
    assert [m["text"] for m in fake_slack.posted("C1")] == [card["text"], "second"]


async def test_update_replaces_the_stored_message(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C1", text="open")
    await client.chat_update(channel="C1", ts=posted["ts"], text="claimed", blocks=[])
    assert [m["text"] for m in fake_slack.posted("C1")] == ["claimed"]


async def test_invalid_blocks_are_rejected_and_recorded(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C1", text="x", blocks=BAD_BLOCKS)
    assert raised.value.response["error"] == "invalid_blocks"
    (invalid,) = fake_slack.take_invalid_payloads()
    assert invalid.method == "chat.postMessage"
    assert any("duplicate action_id" in problem for problem in invalid.problems)
    assert fake_slack.posted() == []


@pytest.mark.parametrize(
    "blocks",
    [
        [{"type": "sektion", "text": {"type": "mrkdwn", "text": "typo"}}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}],
        [{"type": "section", "txet": {"type": "mrkdwn", "text": "misspelt key"}}],
        [{"type": "divider", "block_id": "same"}, {"type": "divider", "block_id": "same"}],
        [{"type": "divider"}] * 51,
        "not json",
    ],
    ids=["unknown-type", "long-text", "empty-text", "unknown-key", "dup-block-id", "51", "junk"],
)
async def test_each_kind_of_invalid_message_is_caught(
    fake_slack: FakeSlackApi, client: AsyncWebClient, blocks: object
) -> None:
    with pytest.raises(SlackApiError):
        await client.chat_postMessage(channel="C1", text="x", blocks=blocks)  # type: ignore[arg-type]
    assert len(fake_slack.take_invalid_payloads()) == 1


async def test_form_encoded_blocks_are_decoded_and_validated(fake_slack: FakeSlackApi) -> None:
    card = build_lead_card(CARD, NOW)
    async with aiohttp.ClientSession() as session:
        form = {"channel": "C1", "text": "x", "blocks": json.dumps(card["blocks"])}
        headers = {"Authorization": "Bearer xoxb-test"}
        async with session.post(
            fake_slack.base_url + "chat.postMessage", data=form, headers=headers
        ) as good:
            assert (await good.json())["ok"] is True
        form["blocks"] = json.dumps(BAD_BLOCKS)
        async with session.post(
            fake_slack.base_url + "chat.postMessage", data=form, headers=headers
        ) as bad:
            assert (await bad.json())["error"] == "invalid_blocks"
    assert fake_slack.calls_to("chat.postMessage")[0].args["blocks"] == card["blocks"]
    assert len(fake_slack.take_invalid_payloads()) == 1


async def test_views_are_validated_and_stored(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    opened = await client.views_open(trigger_id="t1", view=build_not_ready_modal(7, "Ada"))
    assert opened["view"]["id"].startswith("V")
    assert opened["view"]["private_metadata"] == "7"
    await client.views_publish(user_id="U1", view=build_app_home([CARD], NOW, None))
    assert fake_slack.home_views["U1"]["type"] == "home"

    too_big = {"type": "home", "blocks": [{"type": "divider"}] * 101}
    with pytest.raises(SlackApiError):
        await client.views_publish(user_id="U1", view=too_big)
    modal_without_submit = {**build_not_ready_modal(7, "Ada")}
    del modal_without_submit["submit"]
    with pytest.raises(SlackApiError):
        await client.views_open(trigger_id="t2", view=modal_without_submit)
    assert [p.method for p in fake_slack.take_invalid_payloads()] == [
        "views.publish",
        "views.open",
    ]


async def test_scripted_500_then_429_then_ok(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.fail_next("chat.postMessage", 500)
    fake_slack.fail_next("chat.postMessage", 429, retry_after=7)

    with pytest.raises(SlackApiError) as server_error:
        await client.chat_postMessage(channel="C1", text="hi")
    assert server_error.value.response.status_code == 500
    with pytest.raises(SlackApiError) as rate_limited:
        await client.chat_postMessage(channel="C1", text="hi")
    assert rate_limited.value.response.status_code == 429
    assert rate_limited.value.response.headers["Retry-After"] == "7"
    assert rate_limited.value.response["error"] == "ratelimited"
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"] is True
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [500, 429, 200]


async def test_sdk_retry_handlers_ride_through_scripted_failures(
    fake_slack: FakeSlackApi,
) -> None:
    # The handlers share one attempt counter, so each must allow both retries.
    client = AsyncWebClient(
        token="xoxb-test",
        base_url=fake_slack.base_url,
        retry_handlers=[
            AsyncServerErrorRetryHandler(
                max_retry_count=2, interval_calculator=FixedValueRetryIntervalCalculator(0)
            ),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )
    fake_slack.fail_next("chat.postMessage", 500)
    fake_slack.fail_next("chat.postMessage", 429, retry_after=0)
    assert (await client.chat_postMessage(channel="C1", text="hi"))["ok"] is True
    assert len(fake_slack.calls_to("chat.postMessage")) == 3


async def test_scripted_api_error(fake_slack: FakeSlackApi, client: AsyncWebClient) -> None:
    fake_slack.fail_next("chat.postMessage", error="channel_not_found", count=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            await client.chat_postMessage(channel="C404", text="hi")
        assert raised.value.response.status_code == 200
        assert raised.value.response["error"] == "channel_not_found"
    assert (await client.chat_postMessage(channel="C404", text="hi"))["ok"] is True


async def test_files_upload_v2_bytes_are_kept(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    response = await client.files_upload_v2(
        content=b"a,b\n1,2", filename="x.csv", channel="C1", initial_comment="Weekly report"
    )
    assert response["file"]["name"] == "x.csv"
    (upload,) = fake_slack.files.values()
    assert upload.content == b"a,b\n1,2"
    assert upload.completed
    assert upload.channel == "C1"
    assert upload.initial_comment == "Weekly report"
    assert upload.filename == "x.csv"


async def test_directory_methods_answer_with_slack_shapes(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    fake_slack.add_user("U1", name="ada", real_name="Ada Lovelace", tz="Europe/London")
    fake_slack.usergroups["S1"] = ["U1", "U2"]

    user = (await client.users_info(user="U1"))["user"]
    assert (user["real_name"], user["tz"], user["deleted"]) == (
        "Ada Lovelace",
        "Europe/London",
        False,
    )
    assert (await client.users_info(user="U2"))["user"]["tz"] == "UTC"
    assert (await client.usergroups_users_list(usergroup="S1"))["users"] == ["U1", "U2"]
    dm = await client.conversations_open(users="U1")
    assert dm["channel"]["id"] == fake_slack.dm_channel("U1")
    ephemeral = await client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert ephemeral["message_ts"]
    assert (await client.api_call("reactions.add", json={"name": "eyes"}))["ok"] is True


async def test_wait_for_wakes_when_the_call_arrives(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    waiter = asyncio.create_task(fake_slack.wait_for("chat.postMessage", count=2))
    await client.chat_postMessage(channel="C1", text="one")
    assert not waiter.done()
    await client.chat_postMessage(channel="C1", text="two")
    calls = await waiter
    assert [c.args["text"] for c in calls] == ["one", "two"]


async def test_wait_for_names_what_it_saw_on_timeout(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    await client.auth_test()
    with pytest.raises(AssertionError, match=r"chat\.update.*auth\.test"):
        await fake_slack.wait_for("chat.update", timeout=0.05)


async def test_run_fake_slack_serves_on_loopback() -> None:
    async with run_fake_slack() as fake:
        assert fake.base_url.startswith("http://127.0.0.1:")
        assert fake.base_url.endswith("/api/")


async def test_history_returns_metadata_only_when_asked_newest_first_in_pages(
    client: AsyncWebClient,
) -> None:
    metadata = {"event_type": "handoff_card", "event_payload": {"outbox_item": 1}}
    first = await client.chat_postMessage(channel="C1", text="one", metadata=metadata)
    second = await client.chat_postMessage(channel="C1", text="two")
    await client.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])
    plain = await client.conversations_history(channel="C1")
    assert [m["text"] for m in plain["messages"]] == ["two", "one"]  # no thread replies
    assert all("metadata" not in m for m in plain["messages"])
    page = await client.conversations_history(channel="C1", limit=1, include_all_metadata=True)
    assert [m["ts"] for m in page["messages"]] == [second["ts"]] and page["has_more"] is True
    cursor = page["response_metadata"]["next_cursor"]
    rest = await client.conversations_history(
        channel="C1", limit=1, cursor=cursor, include_all_metadata=True
    )
    assert rest["messages"][0]["metadata"] == metadata and rest["has_more"] is False
    later = await client.conversations_history(channel="C1", oldest=second["ts"])
    assert later["messages"] == []  # oldest is exclusive, as in Slack
    replies = await client.conversations_replies(channel="C1", ts=first["ts"])
    assert [m["text"] for m in replies["messages"]] == ["one", "reply"]


async def test_a_dm_posted_to_a_user_id_is_in_the_dm_channels_history(
    fake_slack: FakeSlackApi, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel="U0ANA", text="your lead")
    opened = await client.conversations_open(users="U0ANA")
    history = await client.conversations_history(channel=opened["channel"]["id"])
    assert [m["text"] for m in history["messages"]] == ["your lead"]


async def test_act_then_time_out_does_the_work_but_answers_too_late(
    fake_slack: FakeSlackApi,
) -> None:
    impatient = AsyncWebClient(token="xoxb-test", base_url=fake_slack.base_url, timeout=1)
    fake_slack.act_then_time_out("chat.postMessage", hold=3)
    with pytest.raises((TimeoutError, aiohttp.ClientError)):
        await impatient.chat_postMessage(channel="C1", text="did it post?")
    assert [m["text"] for m in fake_slack.posted("C1")] == ["did it post?"]
    answered = await impatient.chat_postMessage(channel="C1", text="next one")  # one only
    assert answered["ok"] is True


async def test_a_slow_slack_answers_every_call_late(fake_slack: FakeSlackApi) -> None:
    client = AsyncWebClient(token="xoxb-test", base_url=fake_slack.base_url)
    fake_slack.answer_late(0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await client.auth_test()
    assert loop.time() - started >= 0.3
