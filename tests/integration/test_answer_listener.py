"""The gateway's answer listener on the real broker: no record written to its topics stops
it from answering callers."""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from schemas.topics import ANSWERS
from tests.conftest import ADMIN_KEY
from tests.integration.conftest import produce_raw, wait_for
from tests.integration.test_pipeline import ask

pytestmark = pytest.mark.integration

HOSTILE: list[tuple[bytes, list[tuple[str, bytes | None]]]] = [
    (b'{"request_id": "r"}', [("request_id", None)]),  # kcat -H request_id
    (b'{"request_id": "r"}', [("request_id", b"\xff\xfe\xfd"), ("ce_id", None)]),
    (b"\x00\x9f not JSON at all", []),
    (b'{"request_id": "' + b"x" * 900_000 + b'"}', []),
]


def skipped_undecodable(gateway_url: str) -> float:
    scraped = httpx.get(f"{gateway_url}/metrics", headers={"X-API-Key": ADMIN_KEY}).text
    found = re.search(
        r'^techgear_gateway_answer_records_skipped_total\{reason="undecodable"\} (\S+)$',
        scraped,
        re.MULTILINE,
    )
    assert found, "the skipped-records counter is exported"
    return float(found.group(1))


async def test_hostile_answer_records_are_skipped_and_the_next_caller_is_answered(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    before = skipped_undecodable(gateway_url)
    # The gateway reads only its reply partition of the answers, which /ready names.
    detail = httpx.get(f"{gateway_url}/ready", timeout=10).json()["checks"]["answer_listener"]
    found = re.search(r"reply partition (\d+)", detail["detail"])
    assert found, "/ready names the reply partition"
    for value, headers in HOSTILE:
        await produce_raw(
            kafka_bootstrap,
            ANSWERS,
            value,
            key=b"conv-hostile",
            headers=headers,
            partition=int(found.group(1)),
        )
    wait_for(
        lambda: skipped_undecodable(gateway_url) - before >= len(HOSTILE),
        "the gateway read and skipped every hostile record",
    )

    # A fresh question: a cached answer is served without the listener.
    nonce = uuid.uuid4().hex[:8]
    response = await ask(
        gateway_url, f"How much does the Silent Wireless Mouse cost? (ref {nonce})"
    )
    ready = httpx.get(f"{gateway_url}/ready", timeout=10)

    assert response.status_code == 200 and response.headers["X-Cache"] == "MISS"
    assert "₹899" in response.json()["answer"]
    assert ready.status_code == 200 and ready.json()["checks"]["answer_listener"]["ok"] is True
