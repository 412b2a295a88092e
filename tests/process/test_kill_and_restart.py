"""300 leads while the bot is SIGKILLed three times and restarted: 0 lost, 0 duplicate cards.

The sender retries each webhook until it gets a 2xx, so a lead the bot accepted is the bot's
to keep. Kills land wherever they land: mid-ingest, mid-routing, mid-post.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from tests.fakes import FakeSlackApi
from tests.process.support import (
    ServeProcess,
    lead_payload,
    loss_report,
    send_until_accepted,
    show_figures,
    wait_for,
    wait_until_settled,
    write_config,
)

LEADS = 300
KILL_AFTER_ACCEPTED = (60, 140, 220)
SENDERS = 6


async def test_sigkill_three_times_loses_no_lead_and_posts_no_card_twice(
    database_url: str, fake_slack: FakeSlackApi, tmp_path: Path
) -> None:
    bot = ServeProcess(
        "bot",
        tmp_path,
        database_url=database_url,
        config_path=write_config(tmp_path / "handoff.yml"),
        fake=fake_slack,
        slack_timeout=2.0,
    )
    accepted = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(LEADS):
        queue.put_nowait(n)

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal accepted
        while not queue.empty():
            n = queue.get_nowait()
            payload = lead_payload(n)
            await send_until_accepted(session, lambda: [bot.url], "/webhooks/leads", payload)
            accepted += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        await bot.start()
        await bot.wait_healthy(session)
        senders = [asyncio.create_task(sender(session)) for _ in range(SENDERS)]
        try:
            for threshold in KILL_AFTER_ACCEPTED:
                await wait_for(
                    lambda t=threshold: _at_least(accepted, t), 60, f"{threshold} accepted", 0.01
                )
                await bot.kill()
                await bot.start()
                await bot.wait_healthy(session)
            await asyncio.gather(*senders)
            # Everything accepted ends as a card in Slack (leases of the killed processes
            # run out and their items are sent by the last one).
            await wait_until_settled(database_url, fake_slack, LEADS)  # figures below say more
            bot.assert_running()
        finally:
            for task in senders:
                task.cancel()
            await bot.stop()

    report = await loss_report(
        database_url, fake_slack, {str(lead_payload(n)["email"]) for n in range(LEADS)}
    )
    show_figures(
        f"\n{LEADS} leads, {bot.starts - 1} SIGKILLs ({database_url.split(':')[0]}): "
        + report.line()
    )
    assert report.lost == [], f"leads without a card: {report.lost[:10]}"
    assert report.duplicates == 0
    assert report.pending == 0 and report.unprocessed == 0
    assert report.nothing_stuck, report.line()


async def _at_least(value: int, threshold: int) -> bool:
    return value >= threshold
