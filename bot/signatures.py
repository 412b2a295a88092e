"""HMAC signatures for our webhooks, modelled on Slack's scheme. Pure: time is passed in.

Signature header: ``v1=<hex HMAC-SHA256 of "v1:<timestamp>:<raw body>">`` keyed with the shared
secret; the timestamp header carries unix seconds and must be within ``MAX_SKEW_SECONDS``.
"""

from __future__ import annotations

import hashlib
import hmac
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
