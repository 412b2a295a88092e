"""Speed to lead inside Handoff: time from a signed webhook POST to the card reaching Slack.

Runs the real app (SQLite in a temp dir, or PostgreSQL with --postgres URL) against the fake
Slack Web API on loopback, sends N hot leads one after another and prints the median and p90
latency. Usage: .venv/bin/python bench/bench_speed_to_card.py [--leads 200] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.config import Settings, parse_config
from bot.server import build_app
from bot.signatures import signed_headers
from tests.fakes import run_fake_slack

SECRET = "bench-secret"


async def run(leads: int, database_url: str) -> None:
    config = parse_config(
        {
            "hot_threshold": 30,
            "routing": {"default_channel": "C0SALES"},
            "reports": {"returns_digest": False},
        }
    )
    async with run_fake_slack() as fake:
        settings = Settings.from_env(
            {
                "DATABASE_URL": database_url,
                "HANDOFF_WEBHOOK_SECRET": SECRET,
                "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_SIGNING_SECRET": "bench",
                "SLACK_API_URL": fake.base_url,
            }
        )
        app = build_app(settings, config)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            latencies = []
            for n in range(leads):
                body = json.dumps(
                    {
                        "email": f"lead{n}@acme{n}.io",
                        "first_name": "Ana",
                        "title": "VP Sales",
                        "company": "Acme",
                        "company_size": 300,
                        "country": "ES",
                    }
                ).encode()
                headers = {
                    "Content-Type": "application/json",
                    **signed_headers(SECRET, int(time.time()), body),
                }
                started = time.perf_counter()
                response = await client.post("/webhooks/leads", data=body, headers=headers)
                assert response.status == 202, await response.text()
                await fake.wait_for("chat.postMessage", count=n + 1, timeout=30)
                latencies.append(time.perf_counter() - started)
    ordered = sorted(latencies)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    print(
        f"{leads} leads: webhook -> card median {statistics.median(latencies) * 1000:.0f} ms, "
        f"p90 {p90 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--leads", type=int, default=200)
    parser.add_argument("--postgres", help="a PostgreSQL URL of an empty, throwaway database")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.postgres or f"sqlite://{tmp}/bench.sqlite3"
        asyncio.run(run(args.leads, url))


if __name__ == "__main__":
    main()
