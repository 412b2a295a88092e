"""HMAC signatures: ours (modelled on Slack's), HubSpot's, Typeform's, bearer and form tokens.

Pure: time is passed in. Our signature header: ``v1=<hex HMAC-SHA256 of "v1:<timestamp>:<raw
body>">`` keyed with the shared secret; the timestamp header carries unix seconds and must be
within ``MAX_SKEW_SECONDS``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

VERSION = "v1"
MAX_SKEW_SECONDS = 300
TIMESTAMP_HEADER = "X-Handoff-Timestamp"
SIGNATURE_HEADER = "X-Handoff-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    base = f"{VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


@dataclass(frozen=True)
class SignatureProblem:
    reason: str


def check_signature(
    secret: str,
    timestamp_header: str | None,
    signature_header: str | None,
    body: bytes,
    now_unix: float,
) -> SignatureProblem | None:
    """None when the request is authentic and fresh; otherwise what is wrong with it."""
    if not timestamp_header:
        return SignatureProblem(f"missing {TIMESTAMP_HEADER} header")
    if not signature_header:
        return SignatureProblem(f"missing {SIGNATURE_HEADER} header")
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        return SignatureProblem(f"{TIMESTAMP_HEADER} must be unix seconds")
    if abs(now_unix - timestamp) > MAX_SKEW_SECONDS:
        return SignatureProblem(
            f"stale timestamp: more than {MAX_SKEW_SECONDS} s from server time (replay refused)"
        )
    if not hmac.compare_digest(sign(secret, timestamp, body), signature_header):
        return SignatureProblem("signature does not match")
    return None


# --- Vendors' schemes -------------------------------------------------------------------------
# HubSpot signs with the app's client secret. v3 (every request, with a millisecond timestamp):
# base64 HMAC-SHA256 of method + URI + body + timestamp. v1 (Webhooks API): hex SHA-256 of
# secret + body. v2 (workflow webhooks): hex SHA-256 of secret + method + URI + body.
HUBSPOT_V3_HEADER = "X-HubSpot-Signature-v3"
HUBSPOT_TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
HUBSPOT_SIGNATURE_HEADER = "X-HubSpot-Signature"
HUBSPOT_VERSION_HEADER = "X-HubSpot-Signature-Version"
HUBSPOT_MAX_AGE_MS = 300_000
# HubSpot decodes these escapes in the URI before signing (its request-validation guide).
_HUBSPOT_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_HUBSPOT_ESCAPE = re.compile("|".join(_HUBSPOT_DECODED), re.IGNORECASE)

TYPEFORM_HEADER = "Typeform-Signature"


def hubspot_signed_uri(uri: str) -> str:
    """The URI as HubSpot puts it in the v3 source string: listed escapes decoded, no fragment."""
    return _HUBSPOT_ESCAPE.sub(lambda m: _HUBSPOT_DECODED[m.group(0).upper()], uri.split("#")[0])


def hubspot_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = method.upper().encode() + hubspot_signed_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def hubspot_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def hubspot_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    source = secret.encode() + method.upper().encode() + uri.encode() + body
    return hashlib.sha256(source).hexdigest()


def check_hubspot_signature(
    secret: str,
    headers: Mapping[str, str],
    method: str,
    uri: str,
    body: bytes,
    now_unix: float,
) -> SignatureProblem | None:
    """Verify the newest signature HubSpot sent: v3 when present, else v2 or v1.

    ``uri`` is the full public URL HubSpot called (scheme, host, path and query), which behind a
    proxy is not the one the server sees. ``headers`` must look names up case-insensitively.
    """
    v3 = headers.get(HUBSPOT_V3_HEADER)
    if v3:
        timestamp = headers.get(HUBSPOT_TIMESTAMP_HEADER, "")
        if not timestamp.isdigit():
            return SignatureProblem(f"{HUBSPOT_TIMESTAMP_HEADER} must be unix milliseconds")
        if abs(now_unix * 1000 - int(timestamp)) > HUBSPOT_MAX_AGE_MS:
            return SignatureProblem(
                "stale timestamp: more than 5 minutes from server time (replay refused)"
            )
        expected = hubspot_v3(secret, method, uri, body, timestamp)
        if not hmac.compare_digest(expected.encode(), v3.encode()):
            return SignatureProblem(f"{HUBSPOT_V3_HEADER} does not match")
        return None
    legacy = headers.get(HUBSPOT_SIGNATURE_HEADER)
    if not legacy:
        return SignatureProblem(f"missing {HUBSPOT_V3_HEADER} (or {HUBSPOT_SIGNATURE_HEADER})")
    version = headers.get(HUBSPOT_VERSION_HEADER, "v1").lower()
    if version == "v1":
        expected = hubspot_v1(secret, body)
    elif version == "v2":
        expected = hubspot_v2(secret, method, uri, body)
    else:
        return SignatureProblem(f"unknown {HUBSPOT_VERSION_HEADER} {version!r}")
    if not hmac.compare_digest(expected.encode(), legacy.strip().lower().encode()):
        return SignatureProblem(f"{HUBSPOT_SIGNATURE_HEADER} ({version}) does not match")
    return None


def typeform_signature(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(digest).decode()


def check_typeform_signature(
    secret: str, signature_header: str | None, body: bytes
) -> SignatureProblem | None:
    """Typeform: ``sha256=<base64 HMAC-SHA256 of the raw body>``; it sends no timestamp."""
    if not signature_header:
        return SignatureProblem(f"missing {TYPEFORM_HEADER} header")
    expected = typeform_signature(secret, body)
    if not hmac.compare_digest(expected.encode(), signature_header.encode()):
        return SignatureProblem(f"{TYPEFORM_HEADER} does not match")
    return None


def match_bearer_token(tokens: Mapping[str, str], authorization: str) -> str | None:
    """The name of the configured token in ``Authorization: Bearer <token>``, else None.

    Every token is compared (in constant time each), so the answer's timing does not tell
    which name, or how much of a token, matched.
    """
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return None
    found = None
    for name, token in tokens.items():
        if hmac.compare_digest(token.encode(), given.strip().encode()):
            found = name
    return found


def match_form_token(expected: str, given: str | None) -> bool:
    return given is not None and hmac.compare_digest(expected.encode(), given.encode())
