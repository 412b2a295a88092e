"""The README's run command without Slack tokens: the sandbox, with the page on port + 1."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from pathlib import Path

import aiohttp

from bot.signatures import signed_headers
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


async def test_serve_without_tokens_runs_the_sandbox_and_its_page(tmp_path: Path) -> None:
    port = free_port(2)  # the sandbox puts its page on port + 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(PORT=str(port), HANDOFF_WEBHOOK_SECRET="readme-secret", PYTHONUNBUFFERED="1")
    process = await asyncio.create_subprocess_exec(
        "bash",
        str(ROOT / "scripts" / "serve"),
        "--host",
        "127.0.0.1",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    output = ""
    try:
        async with asyncio.timeout(60):
            while "open  http" not in output:
                line = await process.stdout.readline()
                assert line, f"scripts/serve ended early:\n{output}"
                output += line.decode()
            output += (await process.stdout.readline()).decode()
        assert "no Slack tokens" in output and "sandbox" in output
        found = re.search(r"open  (http://\S+)", output)
        assert found, output
        page_url = found.group(1)
        assert page_url == f"http://127.0.0.1:{port + 1}/"

        async with aiohttp.ClientSession() as http:
            async with http.get(page_url) as response:
                assert response.status == 200
                assert "Send hot lead" in await response.text()
            # A lead sent as the README shows (signed with HANDOFF_WEBHOOK_SECRET) gets a card.
            body = json.dumps(
                {
                    "email": "ana@acme.io",
                    "first_name": "Ana",
                    "title": "VP Sales",
                    "company": "Acme",
                    "company_size": 300,
                    "country": "ES",
                }
            ).encode()
            event = json.dumps(
                {"email": "ana@acme.io", "type": "meeting_booked", "properties": {}}
            ).encode()
            for path, raw in (("/webhooks/leads", body), ("/webhooks/events", event)):
                headers = signed_headers("readme-secret", int(time.time()), raw)
                async with http.post(
                    f"http://127.0.0.1:{port}{path}",
                    data=raw,
                    headers={**headers, "Content-Type": "application/json"},
                ) as response:
                    assert response.status == 202, await response.text()
            async with asyncio.timeout(20):
                while True:
                    async with http.get(f"{page_url}sandbox/state") as response:
                        state = await response.json()
                    cards = [m for m in state["messages"] if "Ana" in json.dumps(m["blocks"])]
                    if cards:
                        break
                    await asyncio.sleep(0.2)
        assert cards[0]["channel"] == "C0EMEA"
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(20):
            code = await process.wait()
    assert code == 0, output
