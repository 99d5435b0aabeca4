"""Events as ordinary Kafka tooling sees them, and dead-letter replay."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import uuid

import pytest

from schemas import ChatAnswer, ChatRequest, DeadLetter, decode, encode
from schemas.topics import ANSWERS, DEADLETTER, REQUESTS
from tests.conftest import REPO, process_env
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


async def test_replayed_dead_letter_is_processed(gateway_url: str, kafka_bootstrap: str) -> None:
    request = ChatRequest(
        request_id=f"replay-{uuid.uuid4().hex}",
        conversation_id="conv-replay",
        correlation_id="corr-replay",
        message="What is the price of the Laptop Sleeve 14?",
    )
    letter = DeadLetter(
        request_id=request.request_id,
        conversation_id=request.conversation_id,
        source_topic=REQUESTS,
        source_partition=0,
        source_offset=0,
        original_key_b64=base64.b64encode(b"conv-replay").decode(),
        original_value_b64=base64.b64encode(encode(request)).decode(),
        error_class="LlmUnavailableError",
        error_message="quota exhausted during an outage",
        retryable=True,
        attempts=3,
    )
    await produce_raw(kafka_bootstrap, DEADLETTER, encode(letter), key=b"conv-replay")

    env = process_env(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap)
    listed = subprocess.run(
        [sys.executable, "-m", "techgear", "dlq", "list"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    replayed = subprocess.run(
        [sys.executable, "-m", "techgear", "dlq", "replay", "--id", letter.dead_letter_id],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    answer = decode(
        (
            await read_until(
                kafka_bootstrap,
                ANSWERS,
                lambda r: decode(r.value, ChatAnswer).request_id == request.request_id,
            )
        ).value,
        ChatAnswer,
    )

    assert letter.dead_letter_id in listed and "quota exhausted" in listed
    assert "1 dead letter(s) replayed" in replayed
    assert "₹1,299" in answer.answer and answer.conversation_id == "conv-replay"


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
