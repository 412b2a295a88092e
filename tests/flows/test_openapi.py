"""GET /openapi.json describes the webhook API, from the models that validate it."""

from __future__ import annotations

from openapi_spec_validator import validate

from tests.flows.conftest import StartApp


async def test_openapi_document_is_valid_3_1_and_describes_both_webhooks(
    start_app: StartApp,
) -> None:
    client = await start_app()
    response = await client.get("/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)  # raises, naming the problem, if not a valid OpenAPI 3.1 document
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    assert set(paths) >= {"/webhooks/leads", "/webhooks/events"}
    lead = document["components"]["schemas"]["LeadPayload"]
    assert lead["required"] == ["email"]
    assert "country" in lead["properties"] and "custom" in lead["properties"]
    accepted = document["components"]["schemas"]["AcceptedResponse"]
    assert "warnings" in accepted["properties"]
    assert "Retry-After" in paths["/webhooks/leads"]["post"]["responses"]["503"]["headers"]
