"""The `handoff` command: serve, check-config, score, replay, migrate, doctor, forget, init."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.clock import system_clock
from bot.config import (
    EXAMPLE_CONFIG,
    ConfigError,
    HandoffConfig,
    Settings,
    StartupError,
    describe_sources,
    load_config,
)
from bot.logs import configure_logging
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
    print("\n".join(describe_sources(config, settings)))
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


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bot.sandbox.run import serve_sandbox

    settings = Settings.from_env()
    port = args.port or settings.port
    return serve_sandbox(args.host, port, args.slack_port or port + 1, settings.webhook_secret)


def cmd_doctor(args: argparse.Namespace) -> int:
    from bot.operations import run_doctor
    from bot.services.doctor import Check, checks_json, format_checks

    settings = Settings.from_env()
    source = str(args.config or settings.config_path)
    try:
        config = _load(args.config, settings)
    except ConfigError as exc:
        failed = [Check("configuration", False, str(exc), "fix the keys named above")]
        print(checks_json(failed) if args.json else format_checks(failed))
        return 2
    checks = asyncio.run(run_doctor(settings, config, source))
    print(checks_json(checks) if args.json else format_checks(checks))
    return 0 if all(c.ok for c in checks) else 1


def cmd_forget(args: argparse.Namespace) -> int:
    from bot.operations import forget_email

    settings = Settings.from_env()
    config = _load(args.config, settings)
    answer = asyncio.run(forget_email(settings, config, args.email))
    print(answer.message, file=sys.stdout if answer.ok else sys.stderr)
    return 0 if answer.ok else 2


def cmd_init(args: argparse.Namespace) -> int:
    target: Path = args.path
    if target.is_dir():
        target = target / "handoff.yml"
    if target.exists() and not args.force:
        print(f"{target}: already exists (use --force to overwrite)", file=sys.stderr)
        return 2
    target.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    print(
        f"wrote {target}: put your channel and user IDs in it, then "
        f"`handoff check-config {target}` and `handoff doctor`"
    )
    return 0


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("handoff")
    except PackageNotFoundError:
        return "unknown (not installed)"


EXIT_CODES = """exit status (every command):
  0  success (doctor: every check passed)
  1  runtime failure (database or Slack unreachable, a doctor check failed, an unexpected error)
  2  usage or configuration error (bad arguments, invalid handoff.yml or environment variable)

environment: LOG_LEVEL (DEBUG|INFO|WARNING|ERROR, default INFO), LOG_FORMAT (text|json)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="handoff",
        description=__doc__,
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"handoff {package_version()}")
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

    sandbox = sub.add_parser(
        "sandbox", help="try the whole loop in the browser: the bot and a local stand-in for Slack"
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="listen here (default: loopback)")
    sandbox.add_argument("--port", type=int, help="the bot's port (default: $PORT or 3000)")
    sandbox.add_argument("--slack-port", type=int, help="the page's port (default: port + 1)")
    sandbox.set_defaults(func=cmd_sandbox)
    doctor = sub.add_parser(
        "doctor", help="check config, database, Slack token, channels, users, webhook, backlog"
    )
    doctor.add_argument("--config", type=Path)
    doctor.add_argument("--json", action="store_true", help="machine-readable result")
    doctor.set_defaults(func=cmd_doctor)

    forget = sub.add_parser(
        "forget", help="erase a person's personal data everywhere (keeps anonymous counts)"
    )
    forget.add_argument("email")
    forget.add_argument("--config", type=Path)
    forget.set_defaults(func=cmd_forget)

    init = sub.add_parser("init", help="write an annotated handoff.yml to start from")
    init.add_argument("path", nargs="?", type=Path, default=Path("handoff.yml"))
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    init.set_defaults(func=cmd_init)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # usage errors exit 2 here
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level, settings.log_format)
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"handoff: cannot start: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 1
    except Exception as exc:
        logging.getLogger("bot.cli").debug("command failed", exc_info=exc)
        print(
            f"error: {type(exc).__name__}: {exc} (LOG_LEVEL=DEBUG shows the traceback)",
            file=sys.stderr,
        )
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
