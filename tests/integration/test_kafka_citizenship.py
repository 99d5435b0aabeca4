"""Events as ordinary Kafka tooling sees them, and poison messages dead-lettered."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import uuid

import pytest

from runtime.codec import decode
from schemas import ChatAnswer, DeadLetter
from schemas.topics import ANSWERS, DEADLETTER, REQUESTS
from tests.integration.conftest import answer_to, produce_raw, read_until
from tests.integration.test_pipeline import ask

pytestmark = pytest.mark.integration


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat not installed")
async def test_kcat_prints_an_answer_with_cloudevents_headers(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    response = await ask(gateway_url, "Do you offer EMI?")
    request_id = response.json()["request_id"]
    await read_until(kafka_bootstrap, ANSWERS, answer_to(request_id))

    printed = subprocess.run(
        ["kcat", "-C", "-b", kafka_bootstrap, "-t", ANSWERS, "-e", "-q", "-f", "%k|%h|%s\\n"],
        capture_output=True,
        text=True,
        errors="replace",  # other records may carry any bytes (see test_answer_listener)
        timeout=60,
        check=True,
    ).stdout
    line = next(line for line in printed.splitlines() if request_id in line)
    key, headers, value = line.split("|", 2)
    header_map = dict(h.split("=", 1) for h in headers.split(","))
    assert key == response.json()["conversation_id"]
    assert (
        header_map["ce_specversion"] == "1.0"
        and header_map["ce_type"] == "com.techgear.support.chat.answer"
    )
    assert (
        header_map["ce_source"] == "/techgear/streams"
        and header_map["content-type"] == "application/json"
    )
    assert header_map["ce_id"] and header_map["ce_time"].endswith("Z")
    assert header_map["correlation_id"] == response.headers["X-Request-ID"]
    assert decode(value.encode(), ChatAnswer).request_id == request_id


async def test_invalid_event_is_dead_lettered_and_the_next_request_is_answered(
    gateway_url: str, kafka_bootstrap: str
) -> None:
    invalid = orjson_request_without_message()
    await produce_raw(kafka_bootstrap, REQUESTS, invalid, key=b"conv-invalid")

    letter = decode(
        (
            await read_until(kafka_bootstrap, DEADLETTER, lambda r: _original(r.value) == invalid)
        ).value,
        DeadLetter,
    )
    answered = await ask(gateway_url, "What is the price of the Car Charger Duo 38W?")

    assert letter.error_class == "InvalidEventError" and "message" in letter.error_message
    assert letter.request_id == json.loads(invalid)["request_id"]
    assert answered.status_code == 200 and "₹1,199" in answered.json()["answer"]


def orjson_request_without_message() -> bytes:
    fields = {
        "schema_version": "1.0",
        "request_id": uuid.uuid4().hex,
        "conversation_id": "conv-invalid",
        "correlation_id": "c",
        "event_type": "chat.request",
    }
    return json.dumps(fields).encode()


def _original(value: bytes | None) -> bytes:
    return base64.b64decode(decode(value or b"", DeadLetter).original_value_b64)
