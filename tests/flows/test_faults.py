"""Crashes and dropped database connections at every step of route, claim, release and return.

Real `handoff serve` processes (SQLite file and PostgreSQL) against the fake Slack on loopback.
Each fault point (`bot/faults.py`, armed through HANDOFF_FAULTS for one lead) kills the process
(``exit``) or fails the database (``db``) right after a step of the move; the bot is then
restarted without it. Every lead must end in the right state: before the move if the fault came
before the commit (the click is lost, nothing half-done), after it if the fault came after;
with exactly one card, and the DMs that state implies. Figures (lost, duplicates) are printed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.faults import EXIT_CODE, STEPS
from bot.storage.database import migrate_database, open_database
from bot.storage.models import Lead
from tests.fakes import FakeSlackApi
from tests.flows.slack_support import (
    SIGNING_SECRET,
    block_action,
    message_text,
    not_ready_values,
    send_to_slack_endpoint,
    view_submission,
)
from tests.support import WEBHOOK_SECRET, free_port, post_signed, wait_until

ROOT = Path(__file__).resolve().parents[2]
CHANNEL, MARKETING, ALICE = "C0DEFAULT", "C0MKT", "U0ANA"
CONFIG = {
    "hot_threshold": 30,
    "routing": {"default_channel": CHANNEL},
    "marketing": {"channel": MARKETING},
    "managers": ["U0BOSS"],
    "reports": {"returns_digest": False},
}


@dataclass
class Bot:
    """One `handoff serve` process and an HTTP session to it."""

    process: asyncio.subprocess.Process
    session: aiohttp.ClientSession
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


class Harness:
    def __init__(self, database_url: str, fake: FakeSlackApi, tmp_path: Path) -> None:
        self.database_url = database_url
        self.fake = fake
        self.tmp_path = tmp_path
        self.config_path = tmp_path / "handoff.yml"
        self.config_path.write_text(yaml.safe_dump(CONFIG))
        self.starts = 0

    async def start(self, faults: str = "") -> Bot:
        self.starts += 1
        port = free_port()
        log = self.tmp_path / f"serve{self.starts}.log"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": self.database_url,
            "HANDOFF_CONFIG": str(self.config_path),
            "HANDOFF_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": self.fake.base_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "HANDOFF_FAULTS": faults,
        }
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "serve",
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=out,
            )
        session = aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}")
        bot = Bot(process, session, log)

        async def healthy() -> bool:
            if process.returncode is not None:
                raise AssertionError(f"handoff serve exited at start:\n{bot.log_text()}")
            try:
                async with session.get("/healthz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_until(healthy, within=60, what="handoff serve to answer /healthz")
        return bot

    async def stop(self, bot: Bot) -> None:
        await bot.session.close()
        if bot.process.returncode is None:
            bot.process.terminate()
        await asyncio.wait_for(bot.process.wait(), 20)

    # --- what a user does -----------------------------------------------------------------------

    async def post_lead(self, bot: Bot, email: str, name: str) -> None:
        lead = {"email": email, "first_name": name, "last_name": "Fault", "title": "VP of Sales"}
        lead |= {"company": "Acme", "company_size": 250, "country": "ES", "source": "webform"}
        status, body = await post_signed(
            bot.session,
            "/webhooks/leads",
            lead,
            clock=lambda: datetime.now(UTC),
        )
        assert status == 202, body

    async def click(self, bot: Bot, action_id: str, user: str, lead_id: int) -> int:
        form = block_action(action_id, user, value=str(lead_id), channel=CHANNEL)
        status, _ = await send_to_slack_endpoint(bot.session, form)
        return status

    async def not_ready(self, bot: Bot, user: str, lead_id: int) -> int:
        values = not_ready_values("budget", "Budget frozen", None)
        form = view_submission("not_ready_submit", user, str(lead_id), values)
        status, _ = await send_to_slack_endpoint(bot.session, form)
        return status

    # --- what Slack saw ---------------------------------------------------------------------------

    def posts(self, channel: str, name: str) -> list[dict[str, Any]]:
        return [
            c.args
            for c in self.fake.calls_to("chat.postMessage")
            if c.ok and c.args.get("channel") == channel and name in message_text(c.args)
        ]

    def current(self, channel: str, name: str) -> list[dict[str, Any]]:
        return [m for m in self.fake.posted(channel) if name in message_text(m)]

    async def wait_card(self, name: str) -> None:
        async def posted() -> bool:
            return bool(self.posts(CHANNEL, name))

        await wait_until(posted, within=30, what=f"the card of {name}")

    async def wait_dm_recorded(self, name: str) -> None:
        """The owner's DM is out and its ts saved (the Home publish after it has gone)."""

        async def recorded() -> bool:
            calls = self.fake.calls
            dms = [
                i
                for i, c in enumerate(calls)
                if c.method == "chat.postMessage"
                and c.args.get("channel") == ALICE
                and name in message_text(c.args)
            ]
            homes = [i for i, c in enumerate(calls) if c.method == "views.publish"]
            return bool(dms and homes and max(homes) > dms[0])

        await wait_until(recorded, within=30, what=f"the DM of {name}")


async def _lead_id(database_url: str, email: str) -> int:
    async with open_database(database_url, run_migrations=False):
        lead = await Lead.get(email=email)
        return lead.id


@dataclass(frozen=True)
class Case:
    move: str
    step: str
    mode: str

    @property
    def name(self) -> str:
        return f"Lead{self.move.capitalize()}{self.step.capitalize()}{self.mode.capitalize()}"

    @property
    def email(self) -> str:
        # A company per lead: a second lead from one company would be offered to its owner.
        return f"ana@{self.move}-{self.step}-{self.mode}.example"

    @property
    def committed(self) -> bool:
        return self.step == "committed"


@pytest.fixture
async def harness(
    database_url: str, fake_slack: FakeSlackApi, tmp_path: Path
) -> AsyncIterator[Harness]:
    await migrate_database(database_url)
    yield Harness(database_url, fake_slack, tmp_path)


async def _prepare(h: Harness, bot: Bot, case: Case) -> int | None:
    """Bring the case's lead to where its move starts; returns its id (None for route)."""
    await h.post_lead(bot, case.email, case.name)
    if case.move == "route":
        return None
    await h.wait_card(case.name)
    lead_id = await _lead_id(h.database_url, case.email)
    if case.move == "release":
        assert await h.click(bot, "lead_claim", ALICE, lead_id) == 200
        await h.wait_dm_recorded(case.name)
    return lead_id


async def _trigger(h: Harness, bot: Bot, case: Case, lead_id: int | None) -> None:
    if case.move == "route":
        return  # posting the lead routed it
    assert lead_id is not None
    try:
        if case.move == "claim":
            await h.click(bot, "lead_claim", ALICE, lead_id)
        elif case.move == "release":
            await h.click(bot, "lead_release", ALICE, lead_id)
        else:
            await h.not_ready(bot, ALICE, lead_id)
    except aiohttp.ClientError:
        # Bolt answers the click only after the listener yields: a process killed right after
        # the move may drop the connection first, and a listener failing on the database may
        # turn the answer into an error, as Slack would see. The click is then lost.
        if case.mode != "exit":
            raise


async def _fault_fired(bot: Bot, case: Case) -> None:
    marker = f"fault injected: {'exiting' if case.mode == 'exit' else 'database failure'} at"
    point = f"{case.move}.{case.step}"

    async def fired() -> bool:
        if case.mode == "exit":
            return bot.process.returncode is not None
        return f"{marker} {point}" in bot.log_text()

    await wait_until(fired, within=30, what=f"the fault at {point}")
    if case.mode == "exit":
        assert bot.process.returncode == EXIT_CODE, bot.log_text()


async def _expected_state(h: Harness, case: Case) -> tuple[str, str | None]:
    moved = case.committed or case.move == "route"  # a lost routing is redone by the repair
    return {
        "route": ("routed", None),
        "claim": ("claimed", ALICE) if moved else ("routed", None),
        "release": ("routed", None) if moved else ("claimed", ALICE),
        "return": ("nurturing", None) if moved else ("routed", None),
    }[case.move]


async def _settled(h: Harness, case: Case) -> bool:
    """What Slack shows once the restarted bot caught up with the lead's state."""
    moved = case.committed or case.move == "route"
    cards = h.current(CHANNEL, case.name)
    if len(cards) != 1:
        return False
    card = message_text(cards[0])
    if case.move in ("route",) or (case.move in ("claim", "return") and not moved):
        return "lead_claim" in card
    if case.move == "claim":
        return "Claimed by" in card and bool(h.posts(ALICE, case.name))
    if case.move == "release":
        dm = message_text(h.current(ALICE, case.name)[0]) if h.current(ALICE, case.name) else ""
        return ("no longer yours" in dm and "lead_claim" in card) if moved else "lead_release" in dm
    return bool(h.posts(MARKETING, case.name)) and "Returned to marketing" in card


async def _wait_settled(h: Harness, case: Case) -> None:
    async def settled() -> bool:
        return await _settled(h, case)

    try:
        await wait_until(settled, within=30, what=f"{case.name} to settle")
    except AssertionError:
        seen = [
            (c.method, c.args.get("channel"), c.status)
            for c in h.fake.calls
            if case.name in message_text(c.args)
        ]
        cards = [message_text(m)[:300] for m in h.current(CHANNEL, case.name)]
        dms = [message_text(m)[:300] for m in h.current(ALICE, case.name)]
        raise AssertionError(
            f"{case} did not settle: calls {seen}, cards {cards}, DMs {dms}"
        ) from None


async def _check(h: Harness, case: Case) -> tuple[int, int]:
    """(lost, duplicates) for one lead; asserts nothing so all cases are counted first."""
    state, owner = await _expected_state(h, case)
    async with open_database(h.database_url, run_migrations=False):
        lead = await Lead.get(email=case.email)
    lost = int((lead.state, lead.claimed_by) != (state, owner))
    cards = len(h.posts(CHANNEL, case.name))
    dms = len(h.posts(ALICE, case.name))
    wanted_dms = 1 if (case.move == "claim" and case.committed) or case.move == "release" else 0
    marketing = len(h.posts(MARKETING, case.name))
    wanted_marketing = 1 if case.move == "return" and case.committed else 0
    lost += int(cards < 1) + int(dms < wanted_dms) + int(marketing < wanted_marketing)
    duplicates = max(cards - 1, 0) + max(dms - wanted_dms, 0) + max(marketing - wanted_marketing, 0)
    if case.move == "release" and case.committed:
        dm = h.current(ALICE, case.name)
        lost += int(not dm or "no longer yours" not in message_text(dm[0]))
        duplicates += int(bool(dm) and any(b.get("type") == "actions" for b in dm[0]["blocks"]))
    return lost, duplicates


@pytest.mark.parametrize("move", ["route", "claim", "release", "return"])
@pytest.mark.parametrize("mode", ["exit", "db"])
async def test_a_crash_or_database_failure_at_any_step_leaves_nothing_half_done(
    harness: Harness, move: str, mode: str
) -> None:
    h = harness
    cases = [Case(move, step, mode) for step in STEPS]
    if mode == "db":
        # One process: each armed point fails the database once, for its own lead.
        spec = ",".join(f"{c.move}.{c.step}:db:{c.email}" for c in cases)
        bot = await h.start(spec)
        for case in cases:
            lead_id = await _prepare(h, bot, case)
            await _trigger(h, bot, case, lead_id)
            await _fault_fired(bot, case)
        await h.stop(bot)
    else:
        # One process per point; each restart (armed for the next lead) also recovers the last.
        # It kills only once that lead settled: a kill while a Slack call is in flight may
        # repeat that call (the outbox's at-least-once window), which is not what this tests.
        previous: Case | None = None
        for case in cases:
            bot = await h.start(f"{case.move}.{case.step}:exit:{case.email}")
            if previous is not None:
                await _wait_settled(h, previous)
            previous = case
            lead_id = await _prepare(h, bot, case)
            await _trigger(h, bot, case, lead_id)
            await _fault_fired(bot, case)
            await h.stop(bot)
    bot = await h.start()  # without faults
    try:
        for case in cases:
            await _wait_settled(h, case)
        await asyncio.sleep(1)  # a duplicate would need a moment to show up
    finally:
        await h.stop(bot)
    figures = [await _check(h, case) for case in cases]
    lost, duplicates = sum(f[0] for f in figures), sum(f[1] for f in figures)
    print(
        f"\nfaults {move}/{mode}: {len(cases)} leads, {h.starts} starts, lost {lost}, "
        f"duplicates {duplicates}"
    )
    assert (lost, duplicates) == (0, 0), list(zip(cases, figures, strict=True))
