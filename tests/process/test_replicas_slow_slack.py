"""Two `handoff serve` replicas on one PostgreSQL, a Slack answering every call 2.5 s late.

Leads arrive at both replicas, reps click Claim on both (the same click often reaching both),
and a short SLA timer nudges the leads nobody claimed. A slow Slack makes a worker's leases run
out while it is still busy; fencing must keep the other replica from sending the same item.
Each card, owner DM and nudge reaches Slack exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from bot.storage.database import open_database
from bot.storage.models import Lead, Nudge, OutboxItem
from tests.fakes import FakeSlackApi
from tests.flows.slack_support import block_action
from tests.process.support import (
    SALES,
    ServeProcess,
    cards_per_lead,
    click_in_slack,
    lead_payload,
    send_until_accepted,
    show_figures,
    unlabelled_channel_posts,
    wait_for,
    write_config,
)

LEADS = 16
SLACK_DELAY = 2.5
REPS = ("U0ANA", "U0BEN", "U0CAT", "U0DAN")


@pytest.fixture
async def postgres_url(database_url: str) -> str:
    if not database_url.startswith("postgres"):
        pytest.skip("replicas share a database server; SQLite is one process's file")
    return database_url


async def test_two_replicas_with_a_slow_slack_send_each_card_dm_and_nudge_once(
    postgres_url: str, fake_slack: FakeSlackApi, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path / "handoff.yml",
        sla={
            "nudge_unclaimed_after": "8s",
            "escalate_unclaimed_after": None,
            "nudge_uncontacted_after": None,
            "escalate_uncontacted_after": None,
        },
    )
    replicas = [
        ServeProcess(
            f"replica{n}",
            tmp_path,
            database_url=postgres_url,
            config_path=config,
            fake=fake_slack,
            # Leases of 2 * 3 + 5 = 11 s: a batch of slow calls outlives them, on purpose.
            slack_timeout=3.0,
        )
        for n in range(2)
    ]
    fake_slack.answer_late(SLACK_DELAY)
    urls = [replica.url for replica in replicas]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        for replica in replicas:
            await replica.start()
        try:
            for replica in replicas:
                await replica.wait_healthy(session, within=60)
            await asyncio.gather(
                *(
                    send_until_accepted(
                        session, lambda n=n: [urls[n % 2]], "/webhooks/leads", lead_payload(n)
                    )
                    for n in range(LEADS)
                )
            )
            # Reps claim every other lead as its card appears, through both replicas at once.
            claimed: dict[int, str] = {}
            ids = await wait_for(lambda: _lead_ids(postgres_url), 30, "every lead stored", 0.2)
            to_claim = ids[::2]
            pending_clicks = set(to_claim)
            clicks_until = time.monotonic() + 120
            while pending_clicks:
                assert time.monotonic() < clicks_until, f"no card for {sorted(pending_clicks)}"
                posted = cards_per_lead(fake_slack)
                for lead_id in sorted(pending_clicks & posted.keys()):
                    rep = REPS[lead_id % len(REPS)]
                    form = block_action("lead_claim", rep, value=str(lead_id), channel=SALES)
                    statuses = await asyncio.gather(
                        *(click_in_slack(session, url, form) for url in urls)
                    )
                    assert statuses == [200, 200]
                    claimed[lead_id] = rep
                    pending_clicks.discard(lead_id)
                await asyncio.sleep(0.2)  # polling the fake for new cards
            await wait_for(
                lambda: _settled(postgres_url, fake_slack, claimed, LEADS),
                150,
                "cards, owner DMs and nudges delivered",
                0.5,
            )
            for replica in replicas:
                replica.assert_running()
        finally:
            for replica in replicas:
                await replica.stop()

    async with open_database(postgres_url, run_migrations=False):
        owners = dict(await Lead.filter(claimed_by__isnull=False).values_list("id", "claimed_by"))
        nudges = Counter(await Nudge.all().values_list("lead_id", flat=True))
        stuck = await OutboxItem.filter(status="pending").count()
    cards = cards_per_lead(fake_slack)
    dms = Counter(
        (c.args["metadata"]["event_payload"]["lead_id"], c.args["channel"])
        for c in fake_slack.posts_with_metadata("handoff_dm")
    )
    nudge_posts = Counter(
        c.args["metadata"]["event_payload"]["lead_id"]
        for c in fake_slack.posts_with_metadata("handoff_message")
    )
    per_item = Counter(
        c.args["metadata"]["event_payload"]["outbox_item"] for c in fake_slack.posts_with_metadata()
    )
    duplicate_cards = sum(n - 1 for n in cards.values()) + unlabelled_channel_posts(fake_slack)
    duplicate_dms = sum(n - 1 for n in dms.values())
    duplicate_nudges = sum(max(nudge_posts[lead] - n, 0) for lead, n in nudges.items())
    missing_nudges = sum(max(n - nudge_posts[lead], 0) for lead, n in nudges.items())
    lost_timeouts = sum(1 for c in fake_slack.calls_to("chat.postMessage") if c.status != 200)
    show_figures(
        f"\n2 replicas, Slack {SLACK_DELAY} s late, {LEADS} leads, {len(owners)} claimed, "
        f"{sum(nudges.values())} nudges: cards {sum(cards.values())} "
        f"(duplicates {duplicate_cards}), owner DMs {sum(dms.values())} "
        f"(duplicates {duplicate_dms}), nudge posts {sum(nudge_posts.values())} "
        f"(duplicates {duplicate_nudges}, missing {missing_nudges}), "
        f"items posted twice {sum(1 for n in per_item.values() if n > 1)}, "
        f"failed posts {lost_timeouts}, pending {stuck}"
    )
    assert len(claimed) == LEADS // 2
    assert len(cards) == LEADS and duplicate_cards == 0
    assert owners == claimed  # first click wins, the same click through two replicas
    assert dms == {(lead_id, rep): 1 for lead_id, rep in claimed.items()}
    assert nudges and duplicate_nudges == 0 and missing_nudges == 0
    assert all(n == 1 for n in per_item.values())
    assert stuck == 0


async def _settled(
    database_url: str, fake: FakeSlackApi, claimed: dict[int, str], leads: int
) -> bool:
    if len(cards_per_lead(fake)) < leads:
        return False
    dms = {
        c.args["metadata"]["event_payload"]["lead_id"]
        for c in fake.posts_with_metadata("handoff_dm")
    }
    if not set(claimed) <= dms:
        return False
    async with open_database(database_url, run_migrations=False):
        unclaimed = await Lead.filter(claimed_by__isnull=True).values_list("id", flat=True)
        nudged = set(await Nudge.all().values_list("lead_id", flat=True))
        if not set(unclaimed) <= nudged:
            return False
        return not await OutboxItem.filter(status="pending").exists()


async def _lead_ids(database_url: str) -> list[int]:
    async with open_database(database_url, run_migrations=False):
        ids = sorted(await Lead.all().values_list("id", flat=True))
    return ids if len(ids) == LEADS else []
