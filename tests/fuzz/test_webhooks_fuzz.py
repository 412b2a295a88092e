"""Schemathesis cases from the served /openapi.json, signed and sent to the real app.

Rules checked on every request: no 5xx; no 2xx for a request the published schema refuses;
every 2xx delivery is processed into a lead (none `failed`). Counts are printed.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from typing import Any

import pytest
import schemathesis
from jsonschema import Draft202012Validator
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode

from bot.signatures import signed_headers
from bot.storage.models import Delivery
from tests.flows.conftest import AppClient, StartApp
from tests.fuzz.support import Tally, budget, draw
from tests.support import WEBHOOK_SECRET, FakeClock, wait_until

# Per endpoint and database: schema-valid cases, then schema-violating ones.
POSITIVE = 200
NEGATIVE = 100
CONCURRENCY = 8
KEY_HEADER = "Idempotency-Key"
PRINTABLE_ASCII = re.compile(r"[ -~]*")


def _raw(body: Any) -> bytes:
    if isinstance(body, NotSet):
        return b""
    if isinstance(body, bytes):  # negative cases include bodies that are not JSON at all
        return body
    return json.dumps(body).encode()


def _refused_by_schema(document: dict[str, Any], path: str, raw: bytes, key: str | None) -> bool:
    """The published document's verdict on the request as actually sent."""
    operation = document["paths"][path]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = {**document["components"]["schemas"][ref.rpartition("/")[2]], "$defs": {}}
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    try:
        body = json.loads(raw)
    except ValueError:
        return True
    if not validator.is_valid(body):
        return True
    return key is not None and not (len(key) <= 200 and PRINTABLE_ASCII.fullmatch(key))


def _sendable_key(headers: dict[str, Any] | None) -> str | None:
    key = (headers or {}).get(KEY_HEADER)
    if not isinstance(key, str) or not key:
        return None
    try:
        key.encode("latin-1")
    except UnicodeEncodeError:
        return None  # not expressible in an HTTP header; sent without it
    return None if any(ch in key for ch in "\r\n\x00") else key


async def _send(
    client: AppClient, clock: FakeClock, path: str, raw: bytes, key: str | None
) -> tuple[int, Any]:
    headers = {
        "Content-Type": "application/json",
        **signed_headers(WEBHOOK_SECRET, int(clock().timestamp()), raw),
    }
    if key is not None:
        headers[KEY_HEADER] = key
    response = await client.post(path, data=io.BytesIO(raw), headers=headers)
    text = await response.text()
    try:
        return response.status, json.loads(text)
    except json.JSONDecodeError:
        return response.status, text


@pytest.mark.parametrize("path", ["/webhooks/leads", "/webhooks/events"])
async def test_generated_webhooks_never_5xx_and_what_is_accepted_is_processed(
    start_app: StartApp,
    clock: FakeClock,
    database_url: str,
    path: str,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client = await start_app()
    document = await (await client.get("/openapi.json")).json()
    operation = schemathesis.openapi.from_dict(document)[path]["POST"]
    cases = [
        (mode, case)
        for mode, count in (
            (GenerationMode.POSITIVE, POSITIVE),
            (GenerationMode.NEGATIVE, NEGATIVE),
        )
        for case in draw(operation.as_strategy(generation_mode=mode), budget(request.config, count))
    ]
    backend = database_url.partition(":")[0]
    tally = Tally(f"{path} [{backend}]")
    accepted: set[int] = set()
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(mode: GenerationMode, body: Any, key: str | None) -> None:
        raw = _raw(body)
        async with gate:
            status, answer = await _send(client, clock, path, raw, key)
        problem = None
        if status >= 500:
            problem = f"{status}"
        elif 200 <= status < 300 and _refused_by_schema(document, path, raw, key):
            problem = f"{status} for a request the schema refuses ({mode.value})"
        if status in (200, 202):
            accepted.add(int(answer["delivery_id"]))
        tally.record(status, problem, lambda: (raw[:300], key, answer))

    await asyncio.gather(
        *(one(mode, case.body, _sendable_key(case.headers)) for mode, case in cases)
    )

    async def settled() -> bool:
        return not await Delivery.filter(status__in=["pending", "processing"]).exists()

    await wait_until(settled, within=120, what="every accepted delivery processed")
    failed = await Delivery.filter(status="failed").values_list("id", "error")
    unprocessed = await Delivery.filter(id__in=list(accepted), lead_id__isnull=True).count()
    with capsys.disabled():
        print(
            "\n"
            + tally.summary(
                accepted_then_failed=len(failed), schema_refused_but_2xx=len(tally.broken)
            )
        )
    assert tally.sent >= 100, "the strategies produced too few requests to mean anything"
    assert tally.broken == []
    assert failed == []
    assert unprocessed == 0
