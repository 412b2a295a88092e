"""The architecture's arrows, checked on the source: pure packages stay pure, only storage talks
to the ORM, and no layer reaches up, not even through another module (see ../shared/STYLE.md).

Imports under ``if TYPE_CHECKING:`` are for the type checker only and are not followed."""

from __future__ import annotations

import ast
import functools
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


# Per layer, what it must never import, directly or through any bot module it imports.
DENY: dict[str, tuple[str, ...]] = {
    "bot.domain": ("bot.config", *INNER, "bot.slack", "bot.scheduler", "bot.workers"),
    "bot.scoring": ("bot.config", *INNER, "bot.slack", "bot.scheduler"),
    "bot.sources": ("bot.config", *INNER, "bot.slack", "bot.scheduler"),
    "bot.storage": ("bot.services", "bot.handlers", "bot.server", "bot.cli", "bot.slack"),
    "bot.services": ("bot.handlers", "bot.server", "bot.cli", "bot.scheduler"),
    "bot.outbox": ("bot.services", "bot.handlers", "bot.server", "bot.cli"),
    "bot.handlers": ("bot.server", "bot.cli", "bot.scheduler"),
    "bot.slack.blocks": ("bot.config", *INNER),
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(BOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    base = BOT.parent.joinpath(*name.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _runtime_imports(path: Path) -> set[str]:
    """The bot modules ``path`` imports when it runs (not under ``if TYPE_CHECKING:``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only |= {id(child) for child in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("bot")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _is_module(sub) else node.module)
    return found


@functools.cache
def _graph() -> dict[str, set[str]]:
    return {_module_name(path): _runtime_imports(path) for path in BOT.rglob("*.py")}


def _reachable(graph: dict[str, set[str]], start: str) -> dict[str, list[str]]:
    """Every bot module ``start`` imports transitively, with one import chain to it."""
    chains: dict[str, list[str]] = {start: [start]}
    todo = [start]
    while todo:
        current = todo.pop()
        for name in sorted(graph.get(current, set())):
            if name not in chains:
                chains[name] = [*chains[current], name]
                todo.append(name)
    return chains


def _layer_modules() -> list[tuple[str, str]]:
    graph = _graph()
    return [
        (layer, module)
        for layer in DENY
        for module in sorted(graph)
        if module == layer or module.startswith(layer + ".")
    ]


@pytest.mark.parametrize(("layer", "module"), _layer_modules(), ids=lambda v: str(v))
def test_no_layer_reaches_up_even_indirectly(layer: str, module: str) -> None:
    chains = _reachable(_graph(), module)
    bad = {
        name: " -> ".join(chain)
        for name, chain in chains.items()
        if any(name == d or name.startswith(d + ".") for d in DENY[layer])
    }
    assert not bad, f"{module} must not import {sorted(bad)}: {list(bad.values())}"


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
