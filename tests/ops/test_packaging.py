"""Packaging as a new user meets it: the wheel builds with current setuptools, installs into a
clean virtualenv, ships the example config, and `handoff init` + `check-config` work from it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.test_cli import run_cli

ROOT = Path(__file__).resolve().parents[2]
_OFFLINE_SIGNS = (
    "No matching distribution found for setuptools",
    "Could not find a version that satisfies the requirement setuptools",
    "NewConnectionError",
    "Network is unreachable",
    "Temporary failure in name resolution",
)


# What a fresh clone does not have: built in a copy without them, the wheel is the clone's, and
# the build writes no build/ or egg-info into the working tree that other test processes import.
_NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "*.egg-info",
    "build",
    "dist",
    "__pycache__",
    ".*_cache",
    ".hypothesis",
    "test-output",
)


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(  # noqa: S603 - fixed commands of our own
        [str(a) for a in args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr


def test_version_and_exit_codes_in_help() -> None:
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.startswith("handoff 0.")
    helped = run_cli("--help")
    assert "0  success" in helped.stdout
    assert "1  runtime failure" in helped.stdout
    assert "2  usage or configuration error" in helped.stdout
    assert run_cli("no-such-command").returncode == 2


def test_init_writes_a_config_check_config_accepts(tmp_path: Path) -> None:
    target = tmp_path / "handoff.yml"
    assert run_cli("init", str(target)).returncode == 0
    checked = run_cli("check-config", str(target))
    assert checked.returncode == 0, checked.stderr
    assert "retention:" in target.read_text(encoding="utf-8")
    again = run_cli("init", str(target))
    assert again.returncode == 2 and "already exists" in again.stderr


def test_wheel_builds_with_current_setuptools_and_installs_in_a_clean_venv(
    tmp_path: Path,
) -> None:
    dist = tmp_path / "dist"
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, ignore=_NOT_IN_A_CLONE)
    built = subprocess.run(  # noqa: S603 - pip on our own tree
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", str(dist), "-q"],
        capture_output=True,
        text=True,
        cwd=source,
        timeout=300,
        check=False,
    )
    if built.returncode != 0 and not IN_CI and any(s in built.stderr for s in _OFFLINE_SIGNS):
        pytest.skip("no package index reachable to fetch a current setuptools")
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("handoff-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA")))
    assert "bot/handoff.example.yml" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert b"License-Expression: MIT" in metadata
    assert b"Metadata-Version: 2.4" in metadata

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    # Our pip installs into the clean venv (no pip bootstrap there: faster, same result).
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        wheel,
        cwd=tmp_path,
    )
    # The dependencies come from the development environment rather than a 200 MB download;
    # Handoff itself is only the wheel's copy (the clean venv's own site-packages comes first).
    clean_site = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp_path
    ).strip()
    Path(clean_site, "dev-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {"PATH": f"{venv / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    where = _run(python, "-c", "import bot; print(bot.__file__)", cwd=tmp_path, env=env)
    assert where.strip().startswith(clean_site)

    _run(venv / "bin" / "handoff", "init", cwd=tmp_path, env=env)
    checked = _run(venv / "bin" / "handoff", "check-config", "handoff.yml", cwd=tmp_path, env=env)
    assert "OK: handoff.yml" in checked
