"""Start the stand-in for Slack and the real bot pointed at it, in one process.

The bot is built exactly as `handoff serve` builds it (SQLite, the sandbox's config, the
stand-in's Web API URL as SLACK_API_URL); only the sandbox holds its secrets.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, web

from bot.config import HandoffConfig, Settings, load_config
from bot.sandbox.interactions import BotLink
from bot.sandbox.page import add_page_routes
from bot.sandbox.rate_limit import ChannelRateLimit
from bot.sandbox.slack_api import FakeSlackApi
from bot.sandbox.workspace import CHANNELS, Workspace
from bot.server import build_app

SANDBOX_CONFIG = Path(__file__).parent / "sandbox.yml"
BOT_TOKEN = "xoxb-sandbox"  # noqa: S105 - accepted only by the local stand-in


@dataclass(frozen=True)
class Sandbox:
    page_url: str
    bot_url: str
    slack_api_url: str
    workspace: Workspace
    link: BotLink


def sandbox_config() -> HandoffConfig:
    return load_config(SANDBOX_CONFIG)


def _port(runner: web.AppRunner) -> int:
    address = runner.addresses[0]
    return int(address[1])


@asynccontextmanager
async def run_sandbox(
    *,
    host: str = "127.0.0.1",
    bot_port: int = 0,
    slack_port: int = 0,
    data_dir: Path | None = None,
    poll_seconds: float = 0.2,
    webhook_secret: str | None = None,
    config: HandoffConfig | None = None,
) -> AsyncIterator[Sandbox]:
    """Serve both on ``host``; port 0 picks a free one. The SQLite file lives in ``data_dir``
    (a temporary directory by default, so every sandbox starts empty). ``webhook_secret``
    (HANDOFF_WEBHOOK_SECRET) lets leads be sent from outside too; by default a random one.
    ``config`` replaces bot/sandbox/sandbox.yml (tests shorten its timers further)."""
    signing_secret = secrets.token_hex(16)
    webhook_secret = webhook_secret or secrets.token_hex(16)
    fake = FakeSlackApi(
        tokens=frozenset({BOT_TOKEN}),
        rate_limit=ChannelRateLimit(),
        channels=frozenset(channel.id for channel in CHANNELS),
    )
    workspace = Workspace(fake)
    with tempfile.TemporaryDirectory(prefix="handoff-sandbox-") as scratch:
        database = (data_dir or Path(scratch)) / "sandbox.sqlite3"
        async with ClientSession(timeout=ClientTimeout(total=30)) as session:
            # The bot's URL is known once it listens; the page's routes must exist before.
            link = BotLink(workspace, "", signing_secret, webhook_secret, session)
            add_page_routes(fake.app, link)
            slack_runner = web.AppRunner(fake.app, shutdown_timeout=1.0)
            await slack_runner.setup()
            try:
                await web.TCPSite(slack_runner, host, slack_port).start()
                slack_origin = f"http://{host}:{_port(slack_runner)}"
                fake.base_url = f"{slack_origin}/api/"
                settings = Settings(
                    slack_bot_token=BOT_TOKEN,
                    slack_signing_secret=signing_secret,
                    slack_app_token=None,
                    slack_api_url=fake.base_url,
                    database_url=f"sqlite://{database}",
                    webhook_secret=webhook_secret,
                    config_path=SANDBOX_CONFIG,
                    host=host,
                    port=bot_port,
                )
                bot_app = build_app(settings, config or sandbox_config(), poll_seconds=poll_seconds)
                bot_runner = web.AppRunner(bot_app, shutdown_timeout=5.0)
                await bot_runner.setup()
                try:
                    await web.TCPSite(bot_runner, host, bot_port).start()
                    link.bot_url = f"http://{host}:{_port(bot_runner)}"
                    yield Sandbox(f"{slack_origin}/", link.bot_url, fake.base_url, workspace, link)
                finally:
                    await bot_runner.cleanup()
            finally:
                await slack_runner.cleanup()


def serve_sandbox(
    host: str, bot_port: int, slack_port: int, webhook_secret: str | None = None
) -> int:
    """Run until interrupted (Ctrl-C), after printing where to look; the exit code."""
    for chatty in ("apscheduler", "aiohttp.access"):  # a sweep every 5 s would drown the URL
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(host, bot_port, slack_port, webhook_secret))
    except OSError as exc:  # most often: the port is taken
        print(
            f"sandbox: cannot listen on {host}:{bot_port} and {host}:{slack_port}: {exc}"
            " (choose others with --port / --slack-port, or PORT)",
            file=sys.stderr,
        )
        return 2
    return 0


async def _serve(host: str, bot_port: int, slack_port: int, webhook_secret: str | None) -> None:
    async with run_sandbox(
        host=host, bot_port=bot_port, slack_port=slack_port, webhook_secret=webhook_secret
    ) as sandbox:
        lines = [
            "",
            "Handoff sandbox: the real bot against a local stand-in for Slack (no workspace,",
            "no tokens). Everything it posts shows up on this page:",
            "",
            f"  open  {sandbox.page_url}",
            "",
            f"  bot   {sandbox.bot_url}  (SLACK_API_URL={sandbox.slack_api_url})",
        ]
        if webhook_secret:
            lines.append(
                f"  leads can also be POSTed to {sandbox.bot_url}/webhooks/leads, signed with "
                "HANDOFF_WEBHOOK_SECRET"
            )
        lines += ["  Ctrl-C stops both; the sandbox's database is thrown away.", ""]
        print("\n".join(lines), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):  # both end in a clean shutdown
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
