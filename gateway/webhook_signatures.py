"""Whether a helpdesk's webhook delivery is genuine, checked on the raw body before it is
parsed: Zendesk signs ``timestamp + body`` with HMAC-SHA256 (base64, in
``X-Zendesk-Webhook-Signature``) and a delivery is refused outside ``max_age_s`` of its
timestamp (a replay); Freshdesk sends our shared secret in a header."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
from datetime import UTC, datetime


class Verdict(enum.StrEnum):
    GENUINE = "genuine"
    BAD_SIGNATURE = "bad_signature"
    """Missing, malformed or wrong."""
    STALE = "stale"
    """Correctly signed, but its timestamp is too old or in the future: a replay."""


def zendesk_signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_zendesk(
    secret: str,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime,
    max_age_s: float,
) -> Verdict:
    if not timestamp or not signature:
        return Verdict.BAD_SIGNATURE
    expected = zendesk_signature(secret, timestamp, body)
    if not hmac.compare_digest(expected.encode(), signature.strip().encode()):
        return Verdict.BAD_SIGNATURE
    try:
        signed_at = datetime.fromisoformat(timestamp)
    except ValueError:
        return Verdict.BAD_SIGNATURE
    if signed_at.tzinfo is None:
        signed_at = signed_at.replace(tzinfo=UTC)
    if abs((now - signed_at).total_seconds()) > max_age_s:
        return Verdict.STALE
    return Verdict.GENUINE


def verify_shared_secret(secret: str, offered: str | None) -> Verdict:
    if offered is None or not hmac.compare_digest(secret.encode(), offered.encode()):
        return Verdict.BAD_SIGNATURE
    return Verdict.GENUINE
