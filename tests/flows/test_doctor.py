"""`handoff doctor` as an operator runs it: a real process against a fake Slack and a real
database, with the marketing webhook on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.storage.crm import CrmStore
from bot.storage.models import OutboxItem
from tests.fakes import FakeSlackApi
from tests.fakes.slack_api import DEFAULT_TOKEN
from tests.flows.conftest import WebhookReceiver

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, webhook_url: str) -> Path:
    path = tmp_path / "handoff.yml"
    config: dict[str, Any] = {
        "routing": {
            "default_channel": "C0SALES",
            "rules": [{"name": "emea", "channel": "C0EMEA", "countries": ["ES"]}],
        },
        "marketing": {"channel": "C0MKT", "webhook_url": webhook_url},
        "managers": ["U0BOSS"],
        "manager_group": "S0MGRS",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def healthy_slack(fake: FakeSlackApi) -> None:
    for channel_id, name in (("C0SALES", "sales"), ("C0EMEA", "sales-emea"), ("C0MKT", "mkt")):
        fake.add_channel(channel_id, name)
    fake.add_user("U0BOSS", name="boss")
    fake.usergroups["S0MGRS"] = ["U0BOSS"]


async def run_doctor(
    database_url: str, config: Path, fake: FakeSlackApi, *args: str, token: str = DEFAULT_TOKEN
) -> tuple[int, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DATABASE_URL": database_url,
        "HANDOFF_CONFIG": str(config),
        "HANDOFF_WEBHOOK_SECRET": "doctor-secret",
        "SLACK_BOT_TOKEN": token,
        "SLACK_API_URL": fake.base_url,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "doctor",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_healthy_setup_passes_every_check(
    db: str, tmp_path: Path, fake_slack: FakeSlackApi, webhook_receiver: WebhookReceiver
) -> None:
    healthy_slack(fake_slack)
    code, output = await run_doctor(db, write_config(tmp_path, webhook_receiver.url), fake_slack)
    assert code == 0, output
    assert "✗" not in output
    assert "✓ channel C0EMEA (routing rule 'emea'): #sales-emea exists" in output
    assert "✓ user group S0MGRS (manager_group)" in output
    assert "all checks passed" in output
    # The marketing receiver really was asked, with a signed ping.
    assert webhook_receiver.received[0].headers["X-Handoff-Event"] == "handoff.ping"


async def test_a_channel_the_bot_is_not_in_fails_with_a_hint(
    db: str, tmp_path: Path, fake_slack: FakeSlackApi, webhook_receiver: WebhookReceiver
) -> None:
    healthy_slack(fake_slack)
    fake_slack.add_channel("C0EMEA", "sales-emea", is_member=False)
    del fake_slack.channels["C0MKT"]
    code, output = await run_doctor(db, write_config(tmp_path, webhook_receiver.url), fake_slack)
    assert code == 1, output
    assert (
        "✗ channel C0EMEA (routing rule 'emea'): the bot is not a member of #sales-emea" in output
    )
    assert "hint: invite it: type `/invite @handoff` in #sales-emea" in output
    assert "✗ channel C0MKT (marketing.channel): not found (channel_not_found)" in output
    assert "✓ channel C0SALES" in output


async def test_a_bad_token_and_an_unreachable_webhook_fail(
    db: str, tmp_path: Path, fake_slack: FakeSlackApi
) -> None:
    healthy_slack(fake_slack)
    config = write_config(tmp_path, "http://127.0.0.1:9/hooks")  # port 9: nothing listens
    code, output = await run_doctor(db, config, fake_slack, token="xoxb-wrong")
    assert code == 1, output
    assert "✗ Slack token: auth.test refused it: invalid_auth" in output
    assert "hint: SLACK_BOT_TOKEN must be the Bot User OAuth Token" in output
    assert "✗ marketing webhook: http://127.0.0.1:9/hooks did not answer" in output
    assert "✓ database: reachable and migrated" in output


async def test_a_stuck_outbox_item_and_a_missing_user_fail_in_json(
    db: str, tmp_path: Path, fake_slack: FakeSlackApi, webhook_receiver: WebhookReceiver
) -> None:
    healthy_slack(fake_slack)
    fake_slack.missing_users.add("U0BOSS")
    long_ago = datetime.now(UTC) - timedelta(hours=1)
    await OutboxItem.create(
        kind="slack",
        method="chat.postMessage",
        payload={"channel": "C0SALES", "text": "hi"},
        status="pending",
        next_attempt_at=long_ago,
        created_at=long_ago,
    )
    config = write_config(tmp_path, webhook_receiver.url)
    code, output = await run_doctor(db, config, fake_slack, "--json")
    assert code == 1, output
    result = json.loads(output)
    failed = {c["name"]: c for c in result["checks"] if not c["ok"]}
    assert result["ok"] is False
    assert set(failed) == {"outbox overdue items", "user U0BOSS (managers)"}
    assert failed["outbox overdue items"]["detail"].startswith("1 pending")
    assert failed["user U0BOSS (managers)"]["hint"]


async def test_an_invalid_config_is_a_configuration_error(
    db: str, tmp_path: Path, fake_slack: FakeSlackApi
) -> None:
    config = tmp_path / "handoff.yml"
    config.write_text("routing: {rulez: []}\n", encoding="utf-8")
    code, output = await run_doctor(db, config, fake_slack)
    assert code == 2, output
    assert "✗ configuration" in output and "routing.rulez: unknown key" in output


async def test_a_rep_without_a_hubspot_owner_is_named(
    db: str, tmp_path: Path, fake_slack: FakeSlackApi, webhook_receiver: WebhookReceiver
) -> None:
    healthy_slack(fake_slack)
    config = write_config(tmp_path, webhook_receiver.url)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    config.write_text(yaml.safe_dump({**data, "crm": {"hubspot": {}}}), encoding="utf-8")
    # The write-back looked the rep up by her Slack email and HubSpot had no such owner.
    await CrmStore().save_owner("U0ANA", "ana@sales.example.com", None, datetime.now(UTC))
    code, output = await run_doctor(db, config, fake_slack)
    assert code == 1, output
    assert "✗ HubSpot owners: no HubSpot owner with the Slack email of U0ANA" in output
    assert "ana@sales.example.com" in output
