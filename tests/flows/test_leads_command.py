"""/leads end to end: signed slash commands, answers through response_url, files to Slack.

The dataset is `tests/reports/dataset.py`; every expected number below is worked out by hand
from it for "now" = 2026-03-10 12:00 UTC, so `7d` = [03-03 12:00, 03-10 12:00).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import pytest

from tests.fakes import FakeSlackApi
from tests.flows.conftest import AppClient, StartApp
from tests.flows.slack_support import message_text, send_to_slack_endpoint, slash_command
from tests.flows.test_handoff import slack_config, start_slack_app
from tests.reports.dataset import ANA, BOB, NOW, insert_dataset
from tests.support import LiveClock

BOSS = "U0BOSS"  # a manager in slack_config()


@pytest.fixture
def clock() -> LiveClock:
    live = LiveClock()
    live.offset = NOW - datetime.now(UTC)  # the app's "now" is the dataset's
    return live


async def leads(client: AppClient, fake: FakeSlackApi, user: str, text: str, key: str) -> str:
    status, body = await send_to_slack_endpoint(
        client, slash_command(text, user, fake.response_url(key))
    )
    assert status == 200, body
    answers = await fake.wait_for_response(key)
    return message_text(answers[0]) + json.dumps(answers[0].get("response_type"))


async def started(start_app: StartApp, fake: FakeSlackApi) -> AppClient:
    client = await start_slack_app(start_app, fake, slack_config())
    await insert_dataset()
    return client


async def test_report_7d_chart(start_app: StartApp, fake_slack: FakeSlackApi) -> None:
    client = await started(start_app, fake_slack)
    text = await leads(client, fake_slack, BOSS, "report 7d chart", "r1")
    # In: l3 l4 l5 l6 l8 l10 = 6; of them hot: l3 l4 l6 l8 = 4 (67%).
    # Routed in period: l3 l4 l6 l8 = 4. Claimed in period: l3 (10 min) and l8 (60 min).
    assert "*Leads in* 6" in text and "*hot* 4 (67%)" in text
    assert "*routed* 4" in text and "*claimed* 2" in text
    # Median of 10 and 60 min = 35 min; p90 = 10 + 0.9 * 50 = 55 min. No first touch in period.
    assert "median 35 min, p90 55 min" in text and "*first touch* median —" in text
    # Escalations in period: l4 03-04 14:00, l3 03-05 10:10, l8 03-10 01:00 = 3.
    # Returns: l6 twice (timing 03-06, budget 03-08). Won l1 (03-05), lost l7 (03-04).
    assert "*SLA breaches* 3" in text and "*returns* 2" in text
    assert "*won* 1" in text and "*lost* 1" in text and "*disqualified* 0" in text
    assert "Bad timing (1)" in text and "No budget (1)" in text
    assert '"ephemeral"' in text
    uploads = await fake_slack.wait_for("files.completeUploadExternal")
    assert uploads[0].ok
    png = [f for f in fake_slack.files.values() if f.filename == "lead-report.png"]
    assert len(png) == 1 and png[0].content.startswith(b"\x89PNG") and len(png[0].content) > 1000


async def test_returns(start_app: StartApp, fake_slack: FakeSlackApi) -> None:
    client = await started(start_app, fake_slack)
    text = await leads(client, fake_slack, BOSS, "returns", "r2")
    # Default period 7d: the two returns of l6 (Tony); l7's return was in February.
    assert "Returned leads · " in text and " · 2" in text
    assert text.count("Tony") == 2
    assert "Bad timing" in text and "call in May" in text and f"<@{BOB}>" in text
    assert "No budget" in text and "Q3 budget" in text and f"<@{ANA}>" in text
    assert "spring-webinar" in text
    assert "Wrong fit" not in text


async def test_stale_oldest_first(start_app: StartApp, fake_slack: FakeSlackApi) -> None:
    client = await started(start_app, fake_slack)
    dataset_ids = await _ids()
    text = await leads(client, fake_slack, BOSS, "stale", "r3")
    # Not contacted: l3 (claimed by BOB, routed 03-04 10:00 -> 6 d old), l4 (unclaimed, routed
    # 03-04 13:00 -> 5 d), l8 (claimed by ANA, routed 03-09 23:30 -> 12 h 30 min).
    assert "Untouched leads · 3" in text
    positions = [text.index(f"#{dataset_ids[k]}") for k in ("l3", "l4", "l8")]
    assert positions == sorted(positions)
    assert "6 d old" in text and "5 d old" in text and "12 h 30 min old" in text
    assert "unclaimed" in text and f"<@{BOB}>" in text


async def _ids() -> dict[str, int]:
    from bot.storage.models import Lead

    emails = {"l3": "li.wei@initech.com", "l4": "-rm@umbrella.com", "l8": "late@cyberdyne.com"}
    return {k: (await Lead.get(email=e)).id for k, e in emails.items()}


async def test_export_uploads_a_csv(start_app: StartApp, fake_slack: FakeSlackApi) -> None:
    client = await started(start_app, fake_slack)
    text = await leads(client, fake_slack, BOSS, "export 7d", "r4")
    assert "Exported 6 lead(s)" in text  # created in period: l3 l4 l5 l6 l8 l10
    await fake_slack.wait_for("files.completeUploadExternal")
    [upload] = [f for f in fake_slack.files.values() if f.filename.endswith(".csv")]
    rows = list(csv.DictReader(io.StringIO(upload.content.decode("utf-8-sig"))))
    assert [r["email"] for r in rows] == [
        "li.wei@initech.com",
        "'-rm@umbrella.com",  # a leading "-" could run as a formula in a spreadsheet
        "nurture@hooli.com",
        "twice@stark.com",
        "late@cyberdyne.com",
        "edge@soylent.com",
    ]
    assert rows[0]["claimed_by"] == BOB and rows[0]["state"] == "claimed"
    opened = fake_slack.calls_to("conversations.open")
    assert opened and opened[0].args["users"] == BOSS  # the file goes to the caller's DM


async def test_permissions(start_app: StartApp, fake_slack: FakeSlackApi) -> None:
    client = await started(start_app, fake_slack)
    stranger = await leads(client, fake_slack, "U0NOBODY", "report 7d", "p1")
    assert "Reports are for sales managers and reps" in stranger
    own = await leads(client, fake_slack, BOB, "report 7d", "p2")
    assert "*claimed* 1" in own  # only l3 is BOB's claim in the period
    other = await leads(client, fake_slack, BOB, f"report <@{ANA}|ana>", "p3")
    assert "You can see your own numbers" in other
    board = await leads(client, fake_slack, BOB, "leaderboard", "p4")
    assert "for managers" in board


async def test_bad_arguments_get_help_with_the_problem(
    start_app: StartApp, fake_slack: FakeSlackApi
) -> None:
    client = await started(start_app, fake_slack)
    text = await leads(client, fake_slack, BOSS, "reprot 7d", "h1")
    assert "unknown subcommand" in text and "/leads report" in text
    text = await leads(client, fake_slack, BOSS, "report 2026-13-01..", "h2")
    assert "bad period" in text


async def test_manager_reassigns_by_command(start_app: StartApp, fake_slack: FakeSlackApi) -> None:
    client = await started(start_app, fake_slack)
    ids = await _ids()
    text = await leads(client, fake_slack, BOSS, f"assign {ids['l3']} <@{ANA}|ana>", "a1")
    assert f"reassigned to <@{ANA}>" in text
    refused = await leads(client, fake_slack, BOB, f"assign {ids['l4']} <@{BOB}|bob>", "a2")
    assert "Only a manager" in refused
    from bot.storage.models import Lead

    assert (await Lead.get(id=ids["l3"])).claimed_by == ANA
    assert (await Lead.get(id=ids["l4"])).claimed_by is None


async def test_find_by_email_as_slack_sends_it(
    start_app: StartApp, fake_slack: FakeSlackApi
) -> None:
    client = await started(start_app, fake_slack)
    # With should_escape, Slack turns the typed email into a mailto link.
    text = await leads(
        client, fake_slack, BOSS, "find <mailto:li.wei@initech.com|li.wei@initech.com>", "f1"
    )
    assert "Li Wei" in text and "li.wei@initech.com" in text and "claimed" in text


async def test_a_refused_upload_is_reported_to_the_caller(
    start_app: StartApp, fake_slack: FakeSlackApi
) -> None:
    client = await started(start_app, fake_slack)
    fake_slack.fail_next("files.getUploadURLExternal", error="not_allowed_token_type")
    await send_to_slack_endpoint(
        client, slash_command("export 7d", BOSS, fake_slack.response_url("u1"))
    )
    answers = await fake_slack.wait_for_response("u1", count=2)
    assert "Exported 6 lead(s)" in message_text(answers[0])
    assert "Slack refused the file upload (not_allowed_token_type)" in message_text(answers[1])


async def test_manager_group_members_read_every_report(
    start_app: StartApp, fake_slack: FakeSlackApi
) -> None:
    fake_slack.usergroups["S0MGRS"] = ["U0GRP"]
    client = await start_slack_app(start_app, fake_slack, slack_config(manager_group="S0MGRS"))
    await insert_dataset()
    text = await leads(client, fake_slack, "U0GRP", "report 7d", "g1")
    assert "*Leads in* 6" in text and "*claimed* 2" in text  # the whole team's numbers
    await leads(client, fake_slack, "U0GRP", "stale", "g2")
    assert len(fake_slack.calls_to("usergroups.users.list")) == 1  # cached between commands
