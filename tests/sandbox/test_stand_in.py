"""The sandbox without a browser: the real bot against the stand-in, driven as Slack would."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bot.sandbox.run import run_sandbox, sandbox_config
from bot.sandbox.workspace import Workspace


async def _until(workspace: Workspace, condition: Callable[[], bool], within: float = 15.0) -> None:
    changes = workspace.listen()
    try:
        async with asyncio.timeout(within):
            while not condition():
                await changes.get()
    finally:
        workspace.unlisten(changes)


def _cards(workspace: Workspace, channel: str) -> list[dict[str, Any]]:
    return [
        m
        for m in workspace.messages
        if m["channel"] == channel and any(b["type"] == "header" for b in m["blocks"])
    ]


async def test_a_burst_of_hot_leads_into_one_channel_is_paced_but_every_card_arrives() -> None:
    async with run_sandbox() as sandbox:
        for n in range(5):
            lead = {
                "email": f"buyer{n}@bigco.example",
                "first_name": f"Buyer{n}",
                "last_name": "Lopez",
                "title": "VP Sales",
                "company": "BigCo",
                "company_size": 900,
                "country": "ES",
                "phone": "+34 600 000 000",
            }
            assert (await sandbox.link.post_webhook("/webhooks/leads", lead)).status == 202
            event = {"email": lead["email"], "type": "meeting_booked", "properties": {}}
            assert (await sandbox.link.post_webhook("/webhooks/events", event)).status == 202

        await _until(sandbox.workspace, lambda: len(_cards(sandbox.workspace, "C0EMEA")) == 5)
        posts = sandbox.workspace.fake.calls_to("chat.postMessage")
        assert [c.status for c in posts].count(429) >= 1  # Slack's limit really answered
        assert all(c.response.get("error") == "ratelimited" for c in posts if c.status == 429)
        names = sorted(m["blocks"][0]["text"]["text"] for m in _cards(sandbox.workspace, "C0EMEA"))
        assert names == [f"Buyer{n} Lopez" for n in range(5)]  # each exactly once


async def test_app_home_is_published_and_its_buttons_reach_the_bot() -> None:
    async with run_sandbox() as sandbox:
        workspace = sandbox.workspace
        assert (await sandbox.link.open_home("U0BEN")).status == 200
        await _until(workspace, lambda: "U0BEN" in workspace.homes)

        def buttons() -> list[dict[str, Any]]:
            view = workspace.homes["U0BEN"]
            return [
                element
                for block in view["blocks"]
                for element in [block.get("accessory"), *block.get("elements", [])]
                if isinstance(element, dict) and element.get("type") == "button"
            ]

        pause = next(b for b in buttons() if b["action_id"] == "rep_pause")
        action = {"type": "button", "block_id": "home", **pause}
        answer = await sandbox.link.click_in_view("U0BEN", workspace.homes["U0BEN"]["id"], action)
        assert answer.status == 200
        await _until(workspace, lambda: any(b["action_id"] == "rep_resume" for b in buttons()))


async def test_a_slash_command_answer_is_only_visible_to_whoever_typed_it() -> None:
    async with run_sandbox() as sandbox:
        workspace = sandbox.workspace
        answer = await sandbox.link.slash_command("U0ANA", "C0SALES", "/leads help")
        assert answer.status == 200
        await _until(workspace, lambda: bool(workspace.messages))
        (reply,) = workspace.messages
        assert reply["channel"] == "C0SALES"
        assert reply["ephemeral_to"] == "U0ANA"
        assert "/leads report" in str(reply["blocks"]) + reply["text"]


async def test_an_unclaimed_card_is_nudged_in_its_thread() -> None:
    config = sandbox_config()
    quick = config.model_copy(
        update={
            "sweep_every": timedelta(seconds=1),
            "sla": config.sla.model_copy(update={"nudge_unclaimed_after": timedelta(seconds=2)}),
        }
    )
    async with run_sandbox(config=quick) as sandbox:
        workspace = sandbox.workspace
        await sandbox.link.send_sample_lead("hot", "U0MARKETER")
        await _until(workspace, lambda: any(_cards(workspace, c) for c in ("C0EMEA", "C0SALES")))
        (card,) = [m for c in ("C0EMEA", "C0SALES") for m in _cards(workspace, c)]

        def replies() -> list[dict[str, Any]]:
            return [m for m in workspace.messages if m["thread_ts"] == card["ts"]]

        await _until(workspace, lambda: bool(replies()))
        (nudge,) = replies()
        assert nudge["channel"] == card["channel"]
        assert "unclaimed" in nudge["text"] + str(nudge["blocks"])
