"""Odd and hostile webhook input over real HTTP, on both databases: what is accepted is stored
and processed; what no database can hold is refused naming the field; never a 500."""

from __future__ import annotations

import json

import pytest
from tortoise import Tortoise

from bot.storage.models import Delivery, Lead
from tests.flows.conftest import StartApp
from tests.support import FakeClock, post_signed, wait_until


async def _processed(email: str) -> Lead | None:
    if await Delivery.filter(status__in=["pending", "processing"]).exists():
        return None
    return await Lead.get_or_none(email=email)


async def test_nul_in_a_name_is_stripped_stored_and_said(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    lead = {
        "email": "ana@acme.io",
        "first_name": "An\u0000a",
        "custom": {"note\u0000": "hi\u0000"},
    }
    status, body = await post_signed(client, "/webhooks/leads", lead, clock=clock)
    assert status == 202, body
    assert {w["field"] for w in body["warnings"]} == {"first_name", "custom.note"}
    stored = await wait_until(lambda: _processed("ana@acme.io"), what="lead processed")
    assert (stored.first_name, stored.custom) == ("Ana", {"note": "hi"})
    assert await Delivery.filter(status="failed").count() == 0


@pytest.mark.parametrize(
    ("typed", "code"),
    [("UK", "GB"), ("U.S.", "US"), ("UAE", "AE"), ("Turkey", "TR"), ("España", "ES")],
)
async def test_country_aliases_resolve(
    start_app: StartApp, clock: FakeClock, typed: str, code: str
) -> None:
    client = await start_app()
    lead = {"email": "ana@acme.io", "country": typed}
    status, body = await post_signed(client, "/webhooks/leads", lead, clock=clock)
    assert status == 202, body
    assert body["warnings"] == []
    stored = await wait_until(lambda: _processed("ana@acme.io"), what="lead processed")
    assert stored.country == code


async def test_odd_optional_fields_keep_the_lead_with_warnings(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    lead = {
        "email": "ana@acme.io",
        "company": "Acme",
        "country": "Atlantis",
        "company_size": "lots",
        "website": "http://",
    }
    status, body = await post_signed(client, "/webhooks/leads", lead, clock=clock)
    assert status == 202, body
    assert {w["field"] for w in body["warnings"]} == {"country", "company_size", "website"}
    stored = await wait_until(lambda: _processed("ana@acme.io"), what="lead processed")
    assert (stored.company, stored.country, stored.company_size, stored.website) == (
        "Acme",
        None,
        None,
        None,
    )
    assert stored.custom == {"country": "Atlantis", "company_size": "lots", "website": "http://"}


@pytest.mark.parametrize("size", [2**31, 2**63, 10**30])
async def test_company_size_beyond_any_column_is_kept_not_lost(
    start_app: StartApp, clock: FakeClock, size: int
) -> None:
    client = await start_app()
    lead = {"email": "ana@acme.io", "company_size": size}
    status, body = await post_signed(client, "/webhooks/leads", lead, clock=clock)
    assert status == 202, body
    stored = await wait_until(lambda: _processed("ana@acme.io"), what="lead processed")
    assert stored.company_size is None and stored.custom == {"company_size": size}
    assert await Delivery.filter(status="failed").count() == 0


@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/webhooks/leads", '{"email": "ana@acme.io", "custom": {"x": "\\ud83d"}}', "custom.x"),
        (
            "/webhooks/leads",
            '{"email": "ana@acme.io", "custom": {"n": ' + "7" * 4301 + "}}",
            "custom.n",
        ),
        (
            "/webhooks/leads",
            '{"email": "ana@acme.io", "custom": ' + "[" * 990 + "]" * 990 + "}",
            "body",
        ),
        ("/webhooks/leads", '{"email": "ana@acme.io", "custom": {"x": Infinity}}', "custom.x"),
        (
            "/webhooks/events",
            '{"email": "ana@acme.io", "type": "x", "properties": {"p": "\\udfff"}}',
            "properties.p",
        ),
        (
            "/webhooks/events",
            '{"email": "ana@acme.io", "type": "x", "occurred_at": "0001-01-01T00:00:00+01:00"}',
            "occurred_at",
        ),
        (
            "/webhooks/events",
            '{"email": "ana@acme.io", "type": "x", "occurred_at": "9999-12-31T23:00:00-01:00"}',
            "occurred_at",
        ),
    ],
)
async def test_input_no_database_can_hold_is_refused_naming_the_field(
    start_app: StartApp, clock: FakeClock, path: str, raw: str, field: str
) -> None:
    client = await start_app()
    status, body = await post_signed(client, path, None, clock=clock, raw=raw.encode())
    assert status == 400, body
    assert field in {f["field"] for f in body["fields"]}
    assert await Delivery.all().count() == 0


async def test_non_ascii_idempotency_key_is_refused(start_app: StartApp, clock: FakeClock) -> None:
    client = await start_app()
    status, body = await post_signed(
        client,
        "/webhooks/leads",
        {"email": "ana@acme.io"},
        clock=clock,
        headers={"Idempotency-Key": "caf\u00e9"},
    )
    assert status == 400, body
    assert body["fields"][0]["field"] == "header Idempotency-Key"


async def test_any_database_error_answers_503_with_retry_after(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    conn = Tortoise.get_connection("default")
    # Not an outage: a query error (the table is gone), which used to answer 500.
    await conn.execute_script("ALTER TABLE deliveries RENAME TO deliveries_away")
    try:
        status, body = await post_signed(
            client, "/webhooks/leads", {"email": "ana@acme.io"}, clock=clock
        )
        assert status == 503, body
        assert "retry later" in body["error"]
    finally:
        await conn.execute_script("ALTER TABLE deliveries_away RENAME TO deliveries")
    response = await client.post(
        "/webhooks/leads", data=json.dumps({"email": "x"}), headers={"X-Any": "1"}
    )
    assert response.status == 401  # the app is still answering normally afterwards


async def test_health_reports_deliveries_that_failed_after_acceptance(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    health = await (await client.get("/healthz")).json()
    assert (health["status"], health["failed_deliveries"]) == ("ok", 0)
    await Delivery.create(
        kind="lead",
        source="generic",
        idempotency_key="lead:broken",
        body="{}",
        status="failed",
        error="ValueError: boom",
        received_at=clock(),
    )
    health = await (await client.get("/healthz")).json()
    assert (health["status"], health["failed_deliveries"]) == ("degraded", 1)
    assert "replay --list" in health["hint"]
