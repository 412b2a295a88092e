"""Start-up errors are one clear line and exit 2, never a traceback or a hang."""

from __future__ import annotations

import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, PG_ADMIN_URL
from tests.test_cli import run_cli

LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2},\d{3} ")
CONFIG = "routing:\n  default_channel: C0SALES\n"


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "handoff.yml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def _serve(config: Path, tmp_path: Path, **env: str) -> str:
    values = {
        "HANDOFF_WEBHOOK_SECRET": "s",
        "HOST": "127.0.0.1",
        "PORT": "1",  # never reached in these tests: each fails before listening, or on it
        "DATABASE_URL": f"sqlite://{tmp_path / 'handoff.sqlite3'}",
        **env,
    }
    result = run_cli("serve", "--config", str(config), env=values)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    said = [line for line in result.stderr.splitlines() if not LOG_LINE.match(line)]
    assert len(said) == 1, result.stderr  # one clear line (log lines aside)
    return said[0]


def test_port_in_use(config_file: Path, tmp_path: Path, busy_port: int) -> None:
    line = _serve(config_file, tmp_path, PORT=str(busy_port))
    assert f"cannot listen on 127.0.0.1:{busy_port}" in line and "in use" in line


def test_unknown_database_url_scheme(config_file: Path, tmp_path: Path) -> None:
    line = _serve(config_file, tmp_path, DATABASE_URL="mysql://root@127.0.0.1/handoff")
    assert "DATABASE_URL: unknown scheme 'mysql'" in line


def test_sqlite_file_in_a_missing_directory(config_file: Path, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    line = _serve(config_file, tmp_path, DATABASE_URL=f"sqlite://{missing / 'handoff.sqlite3'}")
    assert "DATABASE_URL: directory" in line and str(missing) in line


def test_database_that_does_not_exist(config_file: Path, tmp_path: Path) -> None:
    base = PG_ADMIN_URL.rpartition("/")[0]
    name = f"handoff_missing_{uuid.uuid4().hex[:8]}"
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        if IN_CI:
            raise
        pytest.skip("PostgreSQL not reachable")
    line = _serve(config_file, tmp_path, DATABASE_URL=f"{base}/{name}")
    assert f'database "{name}" does not exist' in line


@pytest.mark.parametrize(
    ("yaml_tail", "where", "value"),
    [
        ('managers: ["@maria"]\n', "managers[0]", "@maria"),
        ("channels:\n  C0SALES:\n    reps: {ana: 1}\n", "channels.C0SALES.reps.ana", "ana"),
        ("channels:\n  C0SALES:\n    manager: maria\n", "channels.C0SALES.manager", "maria"),
        ("manager_group: managers\n", "manager_group", "managers"),
    ],
)
def test_names_where_slack_ids_belong(
    tmp_path: Path, yaml_tail: str, where: str, value: str
) -> None:
    config = tmp_path / "handoff.yml"
    config.write_text(CONFIG + yaml_tail)
    line = _serve(config, tmp_path)
    assert f"{where}: '{value}' is not a Slack" in line
