"""Inbound webhooks over real HTTP: authentication, validation, idempotency, durability."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta

from bot.storage.models import Delivery, Event, Lead, ScoreSnapshot, Transition
from tests.flows.conftest import StartApp
from tests.support import FakeClock, post_signed, wait_until

LEAD = {
    "email": "Ana.Garcia@Acme.io",
    "first_name": "Ana",
    "last_name": "García",
    "title": "VP of Sales",
    "company": "Acme",
    "company_size": 250,
    "country": "Spain",
    "source": "webform",
    "utm_campaign": "q4-launch",
}


async def _lead_processed(email: str) -> Lead | None:
    delivery_done = await Delivery.filter(status="processed").exists()
    return await Lead.get_or_none(email=email) if delivery_done else None


async def test_signed_lead_is_stored_normalised_and_scored(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    status, body = await post_signed(client, "/webhooks/leads", LEAD, clock=clock)
    assert status == 202, body
    assert body["status"] == "accepted"
    lead = await wait_until(lambda: _lead_processed("ana.garcia@acme.io"), what="lead stored")
    assert (lead.country, lead.company_size, lead.utm) == ("ES", 250, {"campaign": "q4-launch"})
    assert lead.score > 0 and lead.score_reasons
    assert await ScoreSnapshot.filter(lead_id=lead.id).count() == 1
    actions = await Transition.filter(lead_id=lead.id).values_list("action", flat=True)
    assert "created" in actions


async def test_unsigned_and_wrongly_signed_requests_are_refused(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    response = await client.post(
        "/webhooks/leads", json=LEAD, headers={"Content-Type": "application/json"}
    )
    assert response.status == 401
    assert "missing X-Handoff-Timestamp" in (await response.json())["error"]
    status, body = await post_signed(client, "/webhooks/leads", LEAD, clock=clock, secret="wrong")
    assert status == 401
    assert body["error"] == "signature does not match"
    assert await Delivery.all().count() == 0


async def test_tampered_body_is_refused(start_app: StartApp, clock: FakeClock) -> None:
    client = await start_app()
    from bot.signatures import signed_headers
    from tests.support import WEBHOOK_SECRET

    ts = int(clock().timestamp())
    headers = signed_headers(WEBHOOK_SECRET, ts, json.dumps(LEAD).encode())
    headers["Content-Type"] = "application/json"
    tampered = json.dumps({**LEAD, "title": "CEO"}).encode()
    response = await client.post("/webhooks/leads", data=tampered, headers=headers)
    assert response.status == 401
    assert await Delivery.all().count() == 0


async def test_stale_timestamp_is_refused_with_reason(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    old = int((clock() - timedelta(minutes=6)).timestamp())
    status, body = await post_signed(client, "/webhooks/leads", LEAD, clock=clock, timestamp=old)
    assert status == 401
    assert "stale timestamp" in body["error"]
    future = int((clock() + timedelta(minutes=6)).timestamp())
    status, _ = await post_signed(client, "/webhooks/leads", LEAD, clock=clock, timestamp=future)
    assert status == 401


async def test_replayed_delivery_creates_nothing_new(start_app: StartApp, clock: FakeClock) -> None:
    client = await start_app()
    headers = {"Idempotency-Key": "form-123"}
    first, body1 = await post_signed(client, "/webhooks/leads", LEAD, clock=clock, headers=headers)
    second, body2 = await post_signed(
        client, "/webhooks/leads", {**LEAD, "title": "CEO"}, clock=clock, headers=headers
    )
    assert (first, second) == (202, 200)
    assert body2 == {"status": "duplicate", "delivery_id": body1["delivery_id"]}
    lead = await wait_until(lambda: _lead_processed("ana.garcia@acme.io"))
    assert await Delivery.all().count() == 1
    assert lead.title == "VP of Sales"


async def test_id_field_and_identical_body_are_idempotent(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    with_id = {**LEAD, "id": "hubspot-77"}
    assert (await post_signed(client, "/webhooks/leads", with_id, clock=clock))[0] == 202
    assert (await post_signed(client, "/webhooks/leads", with_id, clock=clock))[0] == 200
    event = {
        "email": "ana.garcia@acme.io",
        "type": "page_view",
        "occurred_at": "2026-11-20T10:00:00Z",
    }
    assert (await post_signed(client, "/webhooks/events", event, clock=clock))[0] == 202
    assert (await post_signed(client, "/webhooks/events", event, clock=clock))[0] == 200
    assert await Delivery.all().count() == 2


async def test_same_email_updates_one_lead_and_keeps_history(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    await post_signed(client, "/webhooks/leads", LEAD, clock=clock)
    await wait_until(lambda: _lead_processed("ana.garcia@acme.io"))
    update = {"email": "ANA.GARCIA@acme.io", "title": "Chief Revenue Officer", "phone": ""}
    status, _ = await post_signed(client, "/webhooks/leads", update, clock=clock)
    assert status == 202

    async def updated() -> Lead | None:
        return await Lead.get_or_none(email="ana.garcia@acme.io", title="Chief Revenue Officer")

    lead = await wait_until(updated, what="lead updated")
    assert await Lead.all().count() == 1
    assert lead.company == "Acme"  # an empty or missing field never erases what we knew
    change = await Transition.get(lead_id=lead.id, action="profile_updated")
    assert change.detail["title"] == {"from": "VP of Sales", "to": "Chief Revenue Officer"}


async def test_invalid_fields_are_named(start_app: StartApp, clock: FakeClock) -> None:
    client = await start_app()
    bad = {"email": "not-an-email", "company_size": "lots", "country": "Atlantis"}
    status, body = await post_signed(client, "/webhooks/leads", bad, clock=clock)
    assert status == 400
    fields = {f["field"]: f["message"] for f in body["fields"]}
    assert set(fields) == {"email", "company_size", "country"}
    assert "Atlantis" in fields["country"]
    status, body = await post_signed(client, "/webhooks/events", {"type": "x"}, clock=clock)
    assert status == 400
    assert {f["field"] for f in body["fields"]} == {"email"}
    assert await Delivery.all().count() == 0


async def test_malformed_json_and_non_object_are_400(start_app: StartApp, clock: FakeClock) -> None:
    client = await start_app()
    status, body = await post_signed(client, "/webhooks/leads", None, clock=clock, raw=b"{nope")
    assert status == 400
    assert body["fields"][0]["field"] == "body"
    assert "not valid JSON" in body["fields"][0]["message"]
    status, body = await post_signed(client, "/webhooks/leads", [1, 2], clock=clock)
    assert status == 400
    assert body["fields"][0]["message"] == "expected a JSON object"


async def test_wrong_content_type_is_415(start_app: StartApp, clock: FakeClock) -> None:
    client = await start_app()
    status, body = await post_signed(
        client, "/webhooks/leads", LEAD, clock=clock, headers={"Content-Type": "text/plain"}
    )
    assert status == 415
    assert "application/json" in body["error"]


async def test_oversized_body_is_413(start_app: StartApp, clock: FakeClock) -> None:
    client = await start_app()
    huge = {**LEAD, "custom": {"blob": "x" * (1024 * 1024 + 10)}}
    status, _ = await post_signed(client, "/webhooks/leads", huge, clock=clock)
    assert status == 413
    assert await Delivery.all().count() == 0


async def test_event_for_unknown_email_creates_a_lead_and_rescores(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    occurred = (clock() - timedelta(hours=2)).isoformat()
    event = {
        "email": "new@beta.io",
        "type": "page_view",
        "occurred_at": occurred,
        "properties": {"url": "https://handoff.example/pricing"},
    }
    status, _ = await post_signed(client, "/webhooks/events", event, clock=clock)
    assert status == 202
    lead = await wait_until(lambda: _lead_processed("new@beta.io"))
    stored = await Event.get(lead_id=lead.id)
    assert stored.type == "page_view"
    assert stored.properties == {"url": "https://handoff.example/pricing"}
    assert await ScoreSnapshot.filter(lead_id=lead.id, trigger="event:page_view").exists()


async def test_healthz_checks_the_database(start_app: StartApp) -> None:
    client = await start_app()
    response = await client.get("/healthz")
    assert response.status == 200
    body = await response.json()
    assert body["status"] == "ok" and body["database"] == "ok"  # outbox: tests/flows/test_metrics
    assert body["failed_deliveries"] == 0


async def test_repeated_events_without_time_are_each_kept(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    view = {"email": "ana@acme.io", "type": "page_view", "properties": {"url": "/pricing"}}
    statuses = [
        (await post_signed(client, "/webhooks/events", view, clock=clock))[0] for _ in "abc"
    ]
    assert statuses == [202, 202, 202]

    async def three_events() -> bool:
        return await Event.filter(type="page_view").count() == 3

    await wait_until(three_events, what="three page views stored")


async def test_values_the_database_cannot_hold_are_refused_up_front(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()
    status, body = await post_signed(
        client, "/webhooks/leads", {**LEAD, "utm_campaign": "c" * 300, "id": "x" * 300}, clock=clock
    )
    assert status == 400
    assert {f["field"] for f in body["fields"]} == {"utm_campaign", "id"}
    status, body = await post_signed(
        client, "/webhooks/leads", LEAD, clock=clock, headers={"Idempotency-Key": "k" * 300}
    )
    assert status == 400
    assert body["fields"][0]["field"] == "header Idempotency-Key"
    utf16 = json.dumps(LEAD).encode("utf-16")
    status, body = await post_signed(client, "/webhooks/leads", None, clock=clock, raw=utf16)
    assert status == 400
    assert body["fields"][0]["message"] == "must be UTF-8 encoded JSON"
    assert await Delivery.all().count() == 0


async def test_event_from_the_future_is_refused(start_app: StartApp, clock: FakeClock) -> None:
    client = await start_app()
    event = {"email": "ana@acme.io", "type": "page_view", "occurred_at": "2099-01-01T00:00:00Z"}
    status, body = await post_signed(client, "/webhooks/events", event, clock=clock)
    assert status == 400
    assert body["fields"][0]["field"] == "occurred_at"
    assert "future" in body["fields"][0]["message"]


async def test_chunked_oversized_body_gets_a_json_413(
    start_app: StartApp, clock: FakeClock
) -> None:
    client = await start_app()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b" " * 65536  # 1.25 MiB of JSON whitespace, no Content-Length

    from bot.signatures import signed_headers
    from tests.support import WEBHOOK_SECRET

    ts = int(clock().timestamp())
    headers = {"Content-Type": "application/json", **signed_headers(WEBHOOK_SECRET, ts, b"")}
    response = await client.post("/webhooks/leads", data=chunks(), headers=headers)
    assert response.status == 413
    assert "larger than" in (await response.json())["error"]
