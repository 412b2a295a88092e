"""The `handoff` command as an operator runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.server import replay_failed
from bot.storage.database import open_database
from bot.storage.models import Delivery, Lead
from tests.conftest import make_config

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "bot.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        timeout=60,
        check=False,
    )


def test_check_config_accepts_the_example() -> None:
    result = run_cli("check-config", "handoff.example.yml")
    assert result.returncode == 0, result.stderr
    assert "OK: handoff.example.yml" in result.stdout


def test_check_config_names_each_bad_key_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "handoff.yml"
    bad.write_text(
        "hot_threshold: 500\n"
        "routing:\n  default_channel: C0SALES\n  rulez: []\n"
        "sla:\n  nudge_unclaimed_after: 5 parsecs\n"
        "business_hours:\n  timezone: Mars/Olympus\n"
    )
    result = run_cli("check-config", str(bad))
    assert result.returncode == 2
    lines = result.stderr
    assert "hot_threshold: Input should be less than or equal to 100 (got 500)" in lines
    assert "routing.rulez: unknown key" in lines
    assert "sla.nudge_unclaimed_after:" in lines and "'5 parsecs'" in lines
    assert "business_hours.timezone" in lines and "Mars/Olympus" in lines


def test_check_config_reports_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    result = run_cli("check-config", str(tmp_path / "missing.yml"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text("routing: [unclosed\n")
    result = run_cli("check-config", str(broken))
    assert result.returncode == 2
    assert "not valid YAML" in result.stderr


def test_score_explains_each_point(tmp_path: Path) -> None:
    lead = {
        "email": "ana@gmail.com",
        "first_name": "Ana",
        "title": "Head of Growth",
        "company_size": 300,
        "events": [
            {
                "type": "page_view",
                "occurred_at": "2026-11-24T08:00:00Z",
                "properties": {"url": "https://x.io/pricing"},
            }
        ],
    }
    path = tmp_path / "lead.json"
    path.write_text(json.dumps(lead))
    result = run_cli(
        "score", str(path), "--config", "handoff.example.yml", "--now", "2026-11-24T10:00:00+00:00"
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "+25  title matches VP/Head/Director" in out
    assert "visited /pricing 2 h ago" in out
    assert "free-mail" in out and "\u221220" in out
    assert "threshold 60 ->" in out


def test_score_rejects_an_invalid_lead(tmp_path: Path) -> None:
    path = tmp_path / "lead.json"
    path.write_text(json.dumps({"email": "nope"}))
    result = run_cli("score", str(path), "--config", "handoff.example.yml")
    assert result.returncode == 2
    assert "email:" in result.stderr


async def test_replay_reprocesses_failed_deliveries(database_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    async with open_database(database_url):
        # A delivery that failed earlier (say, a bug since fixed): the raw body was kept.
        await Delivery.create(
            kind="lead",
            idempotency_key="lead:k1",
            body=json.dumps({"email": "late@acme.io", "title": "CTO"}),
            status="failed",
            error="RuntimeError: bug",
            received_at=now,
        )
    settings = Settings.from_env({"DATABASE_URL": database_url, "HANDOFF_WEBHOOK_SECRET": "s"})
    listed = await replay_failed(settings, make_config(), list_only=True)
    assert "1 failed delivery(ies)" in listed and "RuntimeError: bug" in listed
    report = await replay_failed(settings, make_config(), list_only=False)
    assert report == "requeued 1, processed 1, still failed 0"
    async with open_database(database_url):
        lead = await Lead.get(email="late@acme.io")
        assert lead.title == "CTO"
        assert (await Delivery.get(idempotency_key="lead:k1")).status == "processed"


async def test_replay_outbox_lists_and_requeues_failed_sends(database_url: str) -> None:
    from bot.server import replay_outbox
    from bot.storage.models import OutboxItem

    now = datetime.now(UTC)
    async with open_database(database_url):
        await OutboxItem.create(
            kind="slack",
            method="chat.postMessage",
            payload={"channel": "C1", "text": "hi"},
            status="failed",
            attempts=3,
            last_error="Slack refused chat.postMessage: not_in_channel",
            next_attempt_at=now,
            created_at=now,
        )
    settings = Settings.from_env({"DATABASE_URL": database_url, "HANDOFF_WEBHOOK_SECRET": "s"})
    listed = await replay_outbox(settings, list_only=True)
    assert "1 failed outbox item(s)" in listed and "not_in_channel" in listed
    assert "requeued 1 outbox item(s)" in await replay_outbox(settings, list_only=False)
    async with open_database(database_url):
        item = await OutboxItem.get(method="chat.postMessage")
        assert (item.status, item.attempts) == ("pending", 0)
