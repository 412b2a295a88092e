"""Vendor signature schemes, checked against the examples in the vendors' own documentation."""

from __future__ import annotations

import base64
import hashlib
import hmac

from multidict import CIMultiDict

from bot.signatures import (
    check_hubspot_signature,
    check_typeform_signature,
    hubspot_signed_uri,
    hubspot_v1,
    hubspot_v2,
    hubspot_v3,
    match_bearer_token,
    typeform_signature,
)

# HubSpot's request-validation guide: this secret and body sign to these v1/v2 hashes.
DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
DOC_V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
DOC_V1_HASH = "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"
DOC_URI = "https://www.example.com/webhook_uri"
DOC_V2_GET_HASH = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
DOC_V2_POST_BODY = b'{"example_field":"example_value"}'
DOC_V2_POST_HASH = "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"
NOW = 1_564_113_600.0


def _headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict((name.replace("_", "-"), value) for name, value in values.items())


def test_hubspot_v1_and_v2_match_the_documented_examples() -> None:
    assert hubspot_v1(DOC_SECRET, DOC_V1_BODY) == DOC_V1_HASH
    assert hubspot_v2(DOC_SECRET, "GET", DOC_URI, b"") == DOC_V2_GET_HASH
    assert hubspot_v2(DOC_SECRET, "POST", DOC_URI, DOC_V2_POST_BODY) == DOC_V2_POST_HASH


def test_hubspot_v1_request_with_the_documented_hash_is_accepted_and_a_changed_body_is_not() -> (
    None
):
    headers = _headers(X_HubSpot_Signature=DOC_V1_HASH, X_HubSpot_Signature_Version="v1")
    assert check_hubspot_signature(DOC_SECRET, headers, "POST", DOC_URI, DOC_V1_BODY, NOW) is None
    problem = check_hubspot_signature(
        DOC_SECRET, headers, "POST", DOC_URI, DOC_V1_BODY.replace(b"123", b"124"), NOW
    )
    assert problem is not None and "does not match" in problem.reason


def test_hubspot_v2_checks_method_and_uri() -> None:
    headers = _headers(X_HubSpot_Signature=DOC_V2_POST_HASH, X_HubSpot_Signature_Version="v2")
    assert (
        check_hubspot_signature(DOC_SECRET, headers, "POST", DOC_URI, DOC_V2_POST_BODY, NOW) is None
    )
    other_uri = "https://www.example.com/other"
    assert check_hubspot_signature(DOC_SECRET, headers, "POST", other_uri, DOC_V2_POST_BODY, NOW)


def test_hubspot_v3_is_base64_hmac_of_method_uri_body_timestamp() -> None:
    timestamp = "1564113600000"
    source = b"POST" + DOC_URI.encode() + DOC_V2_POST_BODY + timestamp.encode()
    independent = base64.b64encode(
        hmac.new(DOC_SECRET.encode(), source, hashlib.sha256).digest()
    ).decode()
    assert hubspot_v3(DOC_SECRET, "POST", DOC_URI, DOC_V2_POST_BODY, timestamp) == independent
    headers = _headers(X_HubSpot_Signature_v3=independent, X_HubSpot_Request_Timestamp=timestamp)
    assert (
        check_hubspot_signature(DOC_SECRET, headers, "POST", DOC_URI, DOC_V2_POST_BODY, NOW) is None
    )


def test_hubspot_v3_refuses_a_timestamp_older_than_five_minutes_and_a_wrong_secret() -> None:
    timestamp = "1564113600000"
    signature = hubspot_v3(DOC_SECRET, "POST", DOC_URI, b"[]", timestamp)
    headers = _headers(X_HubSpot_Signature_v3=signature, X_HubSpot_Request_Timestamp=timestamp)
    stale = check_hubspot_signature(DOC_SECRET, headers, "POST", DOC_URI, b"[]", NOW + 301)
    assert stale is not None and "stale" in stale.reason
    fresh = check_hubspot_signature(DOC_SECRET, headers, "POST", DOC_URI, b"[]", NOW + 299)
    assert fresh is None
    wrong = check_hubspot_signature("other-secret", headers, "POST", DOC_URI, b"[]", NOW)
    assert wrong is not None and "does not match" in wrong.reason


def test_hubspot_v3_uri_has_the_listed_escapes_decoded() -> None:
    uri = "https://h.example.com/webhooks/hubspot?next=%2Fa%3Ab%40c%2C%3B%20x"
    assert hubspot_signed_uri(uri) == "https://h.example.com/webhooks/hubspot?next=/a:b@c,;%20x"
    timestamp = "1564113600000"
    signed_by_hubspot = hubspot_v3(DOC_SECRET, "POST", hubspot_signed_uri(uri), b"[]", timestamp)
    headers = _headers(
        X_HubSpot_Signature_v3=signed_by_hubspot, X_HubSpot_Request_Timestamp=timestamp
    )
    assert check_hubspot_signature(DOC_SECRET, headers, "POST", uri, b"[]", NOW) is None


def test_hubspot_request_without_any_signature_is_refused() -> None:
    problem = check_hubspot_signature(DOC_SECRET, _headers(), "POST", DOC_URI, b"[]", NOW)
    assert problem is not None and "missing" in problem.reason


def test_typeform_signature_is_sha256_prefixed_base64_hmac_of_the_body() -> None:
    body = b'{"event_id":"LtWXD3crgy","event_type":"form_response"}'
    expected = (
        "sha256=" + base64.b64encode(hmac.new(b"abc123", body, hashlib.sha256).digest()).decode()
    )
    assert typeform_signature("abc123", body) == expected
    assert check_typeform_signature("abc123", expected, body) is None
    assert check_typeform_signature("abc123", expected, body + b" ") is not None
    assert check_typeform_signature("abc123", None, body) is not None


def test_bearer_token_names_the_source_and_refuses_anything_else() -> None:
    tokens = {"zapier": "zap-token-0123456789abcdef", "make": "make-token-0123456789abcdef"}
    assert match_bearer_token(tokens, "Bearer make-token-0123456789abcdef") == "make"
    assert match_bearer_token(tokens, "bearer zap-token-0123456789abcdef") == "zapier"
    assert match_bearer_token(tokens, "Bearer zap-token-0123456789abcdeX") is None
    assert match_bearer_token(tokens, "Basic zap-token-0123456789abcdef") is None
    assert match_bearer_token(tokens, "Bearer ") is None
