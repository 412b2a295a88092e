"""Real `handoff serve` processes for the process-level tests: start, kill, restart, feed.

Each process runs the installed code with its own environment, talks to a fake Slack on
loopback and to a real database. Leads arrive as signed webhooks from a sender that retries
until it gets a 2xx, as a vendor's webhook sender does.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import yaml
from slack_sdk.signature import SignatureVerifier

from bot.signatures import signed_headers
from bot.storage.database import open_database
from bot.storage.doctor import DoctorStore, Stuck
from bot.storage.models import Delivery, Lead, OutboxItem
from tests.fakes import FakeSlackApi
from tests.flows.slack_support import SIGNING_SECRET
from tests.support import WEBHOOK_SECRET, free_port

ROOT = Path(__file__).resolve().parents[2]
SALES = "C0SALES"


def write_config(path: Path, **overrides: Any) -> Path:
    config: dict[str, Any] = {
        "hot_threshold": 30,
        "routing": {"default_channel": SALES},
        "managers": ["U0BOSS"],
        "business_hours": {"always_open": True},
        "sweep_every": "1s",
        "reports": {"returns_digest": False},
        **overrides,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def lead_payload(n: int) -> dict[str, Any]:
    return {
        "email": f"lead{n:04d}@acme{n % 7}.io",
        "first_name": f"Lead{n}",
        "title": "VP of Sales",
        "company": f"Acme {n}",
        "company_size": 250,
        "country": "ES",
        "source": "webform",
    }


class ServeProcess:
    """One `handoff serve` on a fixed port, so a restart answers where the sender points."""

    def __init__(
        self,
        name: str,
        tmp_path: Path,
        *,
        database_url: str,
        config_path: Path,
        fake: FakeSlackApi,
        slack_timeout: float = 3.0,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.log_path = tmp_path / f"{name}.log"
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "DATABASE_URL": database_url,
            "HANDOFF_CONFIG": str(config_path),
            "HANDOFF_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "HANDOFF_SLACK_TIMEOUT": str(slack_timeout),
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.base_url,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
        }
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with self.log_path.open("ab") as out:
            out.write(f"--- start {self.starts + 1}\n".encode())
            out.flush()
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot.cli",
                "serve",
                cwd=ROOT,
                env=self.env,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=out,
            )
        self.starts += 1

    async def wait_healthy(self, session: aiohttp.ClientSession, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(f"{self.name} exited: {self.log_text()[-3000:]}")
            try:
                async with session.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        log = self.log_text()[-3000:]
        raise AssertionError(f"{self.name} not healthy within {within} s: {log}")

    async def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, leases and transactions are left as they were."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is None or self.process.returncode is not None:
            return
        self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 20)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def assert_running(self) -> None:
        assert self.process is not None and self.process.returncode is None, self.log_text()[-3000:]

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


async def send_until_accepted(
    session: aiohttp.ClientSession,
    base_urls: Callable[[], list[str]],
    path: str,
    payload: dict[str, Any],
    *,
    give_up_after: float = 90.0,
) -> int:
    """POST a signed webhook, retrying (on the next URL) until a 2xx; returns the tries."""
    body = json.dumps(payload).encode()
    deadline = time.monotonic() + give_up_after
    tries = 0
    while True:
        tries += 1
        urls = base_urls()
        url = urls[tries % len(urls)] + path
        headers = {
            "Content-Type": "application/json",
            **signed_headers(WEBHOOK_SECRET, int(time.time()), body),
        }
        try:
            async with session.post(url, data=body, headers=headers) as response:
                if 200 <= response.status < 300:
                    return tries
        except (aiohttp.ClientError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never accepted {payload.get('email')} in {tries} tries")
        await asyncio.sleep(0.05)  # a sender's retry pause, not a wait for a condition


def cards_per_lead(fake: FakeSlackApi) -> Counter[int]:
    """Channel cards the fake accepted, per lead (the metadata the bot attaches names it)."""
    return Counter(
        int(call.args["metadata"]["event_payload"]["lead_id"])
        for call in fake.posts_with_metadata("handoff_card")
    )


def unlabelled_channel_posts(fake: FakeSlackApi, channel: str = SALES) -> int:
    """Top-level posts in the sales channel without our metadata: none may exist."""
    return sum(
        1
        for call in fake.calls_to("chat.postMessage")
        if call.ok
        and call.args.get("channel") == channel
        and "thread_ts" not in call.args
        and not isinstance(call.args.get("metadata"), dict)
    )


async def wait_for(
    condition: Callable[[], Awaitable[Any]], within: float, what: str, poll: float = 0.2
) -> Any:
    deadline = time.monotonic() + within
    while True:
        result = await condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(poll)


async def click_in_slack(
    session: aiohttp.ClientSession, base_url: str, form: dict[str, str]
) -> int:
    """A signed interaction, exactly as Slack sends it, to one replica's /slack/events."""
    body = urlencode(form)
    ts = str(int(time.time()))
    signature = SignatureVerifier(SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
    async with session.post(
        f"{base_url}/slack/events",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature,
        },
    ) as response:
        return response.status


async def settled(database_url: str, fake: FakeSlackApi, leads: int) -> bool:
    """Every card is out, or nothing is left that could still send one."""
    try:
        async with open_database(database_url, run_migrations=False):
            if await OutboxItem.filter(status="pending").exists():
                return False
            if len(cards_per_lead(fake)) >= leads:
                return True
            return not (
                await Delivery.exclude(status__in=["processed", "failed"]).exists()
                or await Lead.filter(state="hot").exists()
            )
    except OSError:  # the database is down right now
        return False


@dataclass(frozen=True)
class LossReport:
    lost: list[str]
    duplicates: int
    pending: int
    unprocessed: int
    lost_states: dict[str, int]
    routed_without_card_item: list[str]
    stuck: Stuck  # what `handoff doctor` would report as stuck

    @property
    def nothing_stuck(self) -> bool:
        return self.stuck == Stuck(0, 0, 0, 0, 0)

    def line(self) -> str:
        doctor = "nothing stuck" if self.nothing_stuck else f"stuck {self.stuck}"
        return (
            f"lost {len(self.lost)}, duplicate cards {self.duplicates}, outbox items pending "
            f"{self.pending}, deliveries not processed {self.unprocessed}, states of the lost "
            f"{self.lost_states}; doctor: {doctor}"
        )


async def loss_report(database_url: str, fake: FakeSlackApi, emails: set[str]) -> LossReport:
    cards = cards_per_lead(fake)
    async with open_database(database_url, run_migrations=False):
        leads = {lead.email: lead for lead in await Lead.all()}
        pending = await OutboxItem.filter(status="pending").count()
        unprocessed = await Delivery.exclude(status="processed").count()
        stuck = await DoctorStore().count_stuck(datetime.now(UTC), timedelta(0))
        card_items = set(
            await OutboxItem.filter(kind="card", method="chat.postMessage").values_list(
                "lead_id", flat=True
            )
        )
    lost = sorted(e for e in emails if e not in leads or leads[e].id not in cards)
    return LossReport(
        lost=lost,
        duplicates=sum(n - 1 for n in cards.values()) + unlabelled_channel_posts(fake),
        pending=pending,
        unprocessed=unprocessed,
        lost_states=dict(Counter(leads[e].state for e in lost if e in leads)),
        routed_without_card_item=[
            e
            for e in lost
            if e in leads and leads[e].state == "routed" and leads[e].id not in card_items
        ],
        stuck=stuck,
    )


async def progress(database_url: str, fake: FakeSlackApi) -> tuple[int, int, int]:
    """Cards out, deliveries processed, outbox items done: any change is progress."""
    try:
        async with open_database(database_url, run_migrations=False):
            processed = await Delivery.filter(status="processed").count()
            done = await OutboxItem.exclude(status="pending").count()
    except OSError:
        processed = done = -1
    return len(cards_per_lead(fake)), processed, done


async def wait_until_settled(
    database_url: str,
    fake: FakeSlackApi,
    leads: int,
    *,
    stalled_after: float = 30.0,
    at_most: float = 180.0,
) -> None:
    """Wait until nothing is left to do, or until nothing moved for ``stalled_after`` s (longer
    than every lease, so work left by a dead process had its chance). A busy machine makes the
    flow slower, not wrong: the bound is on standing still, not on total time."""
    deadline = time.monotonic() + at_most
    last, since = await progress(database_url, fake), time.monotonic()
    while time.monotonic() < deadline:
        if await settled(database_url, fake, leads):
            return
        await asyncio.sleep(0.5)
        now = await progress(database_url, fake)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > stalled_after:
            return


FIGURES: list[str] = []  # shown in the terminal summary, passing or not (see conftest.py)
FIGURE_MARK = "[figures] "


def show_figures(line: str) -> None:
    """Print one line of figures; conftest.py gathers it from the test's captured output, so
    it reaches the terminal summary from pytest-xdist workers too."""
    print("\n" + FIGURE_MARK + line.strip())
