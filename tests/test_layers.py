"""The architecture's arrows, checked on the source: pure packages stay pure, and only storage
talks to the ORM (see ../shared/STYLE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parent.parent / "bot"

PURE = [
    "domain",
    "scoring",
    "sources",
    "signatures.py",
    "slack/blocks.py",
    "slack/report_blocks.py",
]
FRAMEWORKS = ("tortoise", "aiohttp", "slack_sdk", "slack_bolt", "apscheduler", "asyncpg")
INNER = ("bot.storage", "bot.services", "bot.handlers", "bot.server", "bot.outbox", "bot.cli")


def _files(entry: str) -> list[Path]:
    path = BOT / entry
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def _reads_clock(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"now", "utcnow", "today", "time"}
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in {"datetime", "date", "time"}
        ):
            return True
    return False


@pytest.mark.parametrize("path", [p for entry in PURE for p in _files(entry)], ids=str)
def test_pure_code_imports_no_framework_and_reads_no_clock(path: Path) -> None:
    bad = [n for n in _imports(path) if n.startswith(FRAMEWORKS) or n.startswith(INNER)]
    assert not bad, f"{path.relative_to(BOT)} imports {bad}"
    assert not _reads_clock(path), f"{path.relative_to(BOT)} reads the clock; take `now` instead"


def test_only_storage_imports_the_orm() -> None:
    offenders = [
        str(path.relative_to(BOT))
        for path in BOT.rglob("*.py")
        if "storage" not in path.relative_to(BOT).parts
        and any(name.startswith("tortoise") for name in _imports(path))
    ]
    assert offenders == []
