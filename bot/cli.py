"""The `handoff` command: serve, check-config, score, replay, migrate."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.clock import system_clock
from bot.config import ConfigError, HandoffConfig, Settings, StartupError, load_config
from bot.scoring import score_lead
from bot.scoring.explain import format_breakdown
from bot.sources.generic import PayloadError, parse_event, parse_lead


def _load(path: Path | None, settings: Settings | None = None) -> HandoffConfig:
    chosen = path or (settings.config_path if settings else Path("handoff.yml"))
    if not chosen.exists() and path is None:
        raise ConfigError(
            f"{chosen}: not found. Copy handoff.example.yml to handoff.yml, "
            "or point HANDOFF_CONFIG at your file"
        )
    return load_config(chosen)


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    config = _load(args.file, settings)
    print(
        f"OK: {args.file or settings.config_path}: hot threshold {config.hot_threshold}, "
        f"{len(config.routing.rules)} routing rule(s), default channel "
        f"{config.routing.default_channel}"
    )
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    config = _load(args.config, Settings.from_env())
    try:
        data: Any = json.loads(Path(args.lead).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"{args.lead}: cannot read a JSON lead: {exc}", file=sys.stderr)
        return 2
    now = datetime.fromisoformat(args.now) if args.now else system_clock()
    raw_events = data.pop("events", []) if isinstance(data, dict) else []
    try:
        lead = parse_lead(data).profile
        events = [parse_event({"email": lead.email, **raw}, now).event for raw in raw_events]
    except PayloadError as exc:
        print(f"{args.lead}: invalid lead:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error.field}: {error.message}", file=sys.stderr)
        return 2
    score = score_lead(lead, events, config.scoring, now)
    print(format_breakdown(lead, score))
    verdict = (
        "HOT: would be routed to sales"
        if score.points >= config.hot_threshold
        else ("nurturing: below the hot threshold")
    )
    print(f"threshold {config.hot_threshold} -> {verdict}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from bot.server import replay_failed, replay_outbox, run_startup_step

    settings = Settings.from_env()
    if args.outbox:
        print(run_startup_step(settings, replay_outbox(settings, list_only=args.list)))
        return 0
    config = _load(args.config, settings)
    report = run_startup_step(settings, replay_failed(settings, config, list_only=args.list))
    print(report)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from bot.server import run_startup_step
    from bot.storage.database import migrate_database

    settings = Settings.from_env()
    run_startup_step(settings, migrate_database(settings.database_url))
    print(f"database at {settings.database_url} is up to date")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.server import serve

    settings = Settings.from_env()
    config = _load(args.config, settings)
    serve(settings, config)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="handoff", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the bot (HTTP server, Slack, workers)")
    serve.add_argument("--config", type=Path, help="handoff.yml (default: $HANDOFF_CONFIG)")
    serve.set_defaults(func=cmd_serve)

    check = sub.add_parser("check-config", help="validate handoff.yml without starting")
    check.add_argument("file", nargs="?", type=Path)
    check.set_defaults(func=cmd_check_config)

    score = sub.add_parser("score", help="explain the score of a lead from a JSON file")
    score.add_argument("lead", help='JSON lead, optionally with "events": [...]')
    score.add_argument("--config", type=Path)
    score.add_argument("--now", help="ISO time to score at (default: now)")
    score.set_defaults(func=cmd_score)

    replay = sub.add_parser(
        "replay", help="reprocess failed deliveries (or, with --outbox, failed Slack/webhook sends)"
    )
    replay.add_argument("--config", type=Path)
    replay.add_argument("--list", action="store_true", help="only list them")
    replay.add_argument("--outbox", action="store_true", help="failed outgoing messages instead")
    replay.set_defaults(func=cmd_replay)

    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    migrate.set_defaults(func=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"handoff: cannot start: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
