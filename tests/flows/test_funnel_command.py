"""/leads funnel and the funnel in /leads report and the weekly digest, end to end.

The data is tests/reports/funnel_dataset.py; the expected numbers are worked out there by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.storage.database import open_database
from tests.conftest import make_config
from tests.fakes import FakeSlackApi
from tests.flows.conftest import StartApp
from tests.flows.slack_support import message_text
from tests.flows.test_handoff import slack_config, start_slack_app
from tests.flows.test_leads_command import BOSS, leads
from tests.reports.funnel_dataset import ANA, NOW, insert_funnel_dataset
from tests.support import LiveClock, wait_until

PERIOD = "2026-03-01..2026-03-09"
TOTAL = (
    "New *9* → Hot *6* (67%, 15 min) → Claimed *5* (83%, 30 min) → "
    "Contacted *4* (80%, 1 h) → Won *2* (50%, 2 d)"
)


@pytest.fixture
def clock() -> LiveClock:
    live = LiveClock()
    live.offset = NOW - datetime.now(UTC)
    return live


async def test_funnel_command_shows_the_funnel_and_a_chart(
    start_app: StartApp, fake_slack: FakeSlackApi
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    await insert_funnel_dataset()
    text = await leads(client, fake_slack, BOSS, f"funnel {PERIOD}", "f1")
    assert f"Lead funnel · {PERIOD}" in text
    assert TOTAL in text
    assert "returned 2 · disqualified 1 · lost 1" in text
    # Per source: web F1 F2 F3 F7; webinar F4 F5 F6 F11.
    assert "web: 4 → 3 (75%) → 3 (100%) → 3 (100%) → 2 (67%) · returned 1" in text
    assert "webinar: 4 → 2 (50%) → 1 (50%) → 0 (0%) → 0 (—)" in text
    # Per channel: EMEA F1 F2 F8, US F3 F4 F5.
    assert "<#C0EMEA>: 3 → 3 (100%) → 3 (100%) → 3 (100%) → 1 (33%)" in text
    assert "<#C0US>: 3 → 3 (100%) → 2 (67%) → 1 (50%) → 1 (100%) · returned 2" in text
    await fake_slack.wait_for("files.completeUploadExternal")
    [png] = [f for f in fake_slack.files.values() if f.filename == "lead-funnel.png"]
    assert png.content.startswith(b"\x89PNG") and len(png.content) > 1000


async def test_a_rep_sees_the_funnel_of_their_own_leads(
    start_app: StartApp, fake_slack: FakeSlackApi
) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    await insert_funnel_dataset()
    text = await leads(client, fake_slack, ANA, f"funnel {PERIOD}", "f2")
    # ANA holds F1 F5 F8: all three hot and claimed, F1 and F8 contacted, F1 won.
    assert "New *3* → Hot *3* (100%, " in text and "Won *1* (50%, 2 d)" in text


async def test_report_carries_the_funnel(start_app: StartApp, fake_slack: FakeSlackApi) -> None:
    client = await start_slack_app(start_app, fake_slack, slack_config())
    await insert_funnel_dataset()
    text = await leads(client, fake_slack, BOSS, f"report {PERIOD}", "f3")
    assert "Lead report" in text and TOTAL in text


async def test_weekly_digest_carries_the_funnel(
    start_app: StartApp, fake_slack: FakeSlackApi, database_url: str
) -> None:
    async with open_database(database_url):
        await insert_funnel_dataset()
    # Due at the dataset's "now" (Tuesday 12:00): the scheduler's first run at start-up sends
    # the digest of [03-03 12:00, 03-10 12:00).
    config = make_config(
        managers=["U0BOSS"],
        reports={"managers_channel": "C0MGRS", "digest_day": "tue", "digest_time": "12:00"},
    )
    await start_slack_app(start_app, fake_slack, config)

    async def digest() -> dict[str, Any] | None:
        posted = fake_slack.posted("C0MGRS")
        return posted[0] if posted else None

    text = message_text(await wait_until(digest, what="managers digest"))
    # Cohort F4 F5 F6 F7 F8 F10 (F3 came in at 09:00, before the week began) = 6 new;
    # hot F4 F5 F8 F10 = 4, new->hot 1 5 40 60 min -> 22.5; claimed F5 F8 = 2 (20, 30 -> 25);
    # contacted F8 = 1 (10 min); nothing won.
    assert (
        "New *6* → Hot *4* (67%, 22 min) → Claimed *2* (50%, 25 min) → "
        "Contacted *1* (50%, 10 min) → Won *0* (0%, —)"
    ) in text
