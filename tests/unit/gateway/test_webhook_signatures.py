from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from gateway.webhook_signatures import Verdict, verify_shared_secret, verify_zendesk

SECRET = "dGhpcyBpcyBhIHNlY3JldA=="
NOW = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
BODY = b'{"type":"zen:event-type:ticket.comment_added"}'


def signed(timestamp: str, body: bytes = BODY, secret: str = SECRET) -> str:
    """Zendesk's documented signing, written out here independently of the gateway."""
    mac = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def check(timestamp: str | None, signature: str | None, body: bytes = BODY) -> Verdict:
    return verify_zendesk(
        SECRET, timestamp=timestamp, signature=signature, body=body, now=NOW, max_age_s=300
    )


def test_zendesk_signature_of_timestamp_and_body_is_genuine() -> None:
    assert check("2026-12-01T09:29:00Z", signed("2026-12-01T09:29:00Z")) is Verdict.GENUINE


def test_zendesk_signature_of_another_body_is_refused() -> None:
    signature = signed("2026-12-01T09:29:00Z")
    assert check("2026-12-01T09:29:00Z", signature, BODY + b" ") is Verdict.BAD_SIGNATURE


def test_zendesk_signature_with_another_secret_is_refused() -> None:
    signature = signed("2026-12-01T09:29:00Z", secret="another secret")
    assert check("2026-12-01T09:29:00Z", signature) is Verdict.BAD_SIGNATURE


def test_zendesk_signature_or_timestamp_missing_is_refused() -> None:
    assert check(None, signed("2026-12-01T09:29:00Z")) is Verdict.BAD_SIGNATURE
    assert check("2026-12-01T09:29:00Z", None) is Verdict.BAD_SIGNATURE
    assert check("", "") is Verdict.BAD_SIGNATURE


def test_zendesk_signature_over_a_moved_timestamp_is_refused() -> None:
    signature = signed("2026-12-01T09:29:00Z")
    assert check("2026-12-01T09:29:30Z", signature) is Verdict.BAD_SIGNATURE


def test_zendesk_delivery_signed_too_long_ago_is_stale() -> None:
    old = (NOW - timedelta(seconds=301)).isoformat()
    assert check(old, signed(old)) is Verdict.STALE


def test_zendesk_delivery_signed_in_the_future_is_stale() -> None:
    ahead = (NOW + timedelta(seconds=301)).isoformat()
    assert check(ahead, signed(ahead)) is Verdict.STALE


def test_zendesk_delivery_within_the_age_either_way_is_genuine() -> None:
    for offset in (-299, 299):
        stamp = (NOW + timedelta(seconds=offset)).isoformat().replace("+00:00", "Z")
        assert check(stamp, signed(stamp)) is Verdict.GENUINE


def test_zendesk_signed_garbage_timestamp_is_refused() -> None:
    assert check("yesterday", signed("yesterday")) is Verdict.BAD_SIGNATURE


def test_freshdesk_shared_secret_must_match_exactly() -> None:
    assert verify_shared_secret("s3cret-value", "s3cret-value") is Verdict.GENUINE
    assert verify_shared_secret("s3cret-value", "s3cret-valuE") is Verdict.BAD_SIGNATURE
    assert verify_shared_secret("s3cret-value", "") is Verdict.BAD_SIGNATURE
    assert verify_shared_secret("s3cret-value", None) is Verdict.BAD_SIGNATURE
