from __future__ import annotations

from datetime import datetime

import orjson
import pytest
from pydantic import ValidationError

from runtime.codec import decode, encode
from runtime.errors import EventDecodeError
from schemas import ChatAnswer, ChatRequest


def make_request(**overrides: object) -> ChatRequest:
    fields: dict[str, object] = {
        "request_id": "r1",
        "conversation_id": "c1",
        "correlation_id": "t1",
        "message": "hi",
    }
    return ChatRequest.model_validate(fields | overrides)


def test_round_trips_through_bytes() -> None:
    request = make_request()
    assert decode(encode(request), ChatRequest) == request


def test_timestamps_are_utc_on_the_wire() -> None:
    payload = orjson.loads(encode(make_request()))
    assert payload["created_at"].endswith("Z") or payload["created_at"].endswith("+00:00")
    assert payload["schema_version"] == "1.0"


def test_readers_ignore_unknown_fields() -> None:
    payload = orjson.loads(encode(make_request())) | {"added_in_v1_1": {"nested": True}}
    assert decode(orjson.dumps(payload), ChatRequest).message == "hi"


@pytest.mark.parametrize(
    "data",
    [b"", b"not json", b"[1, 2]", b'"string"', b'{"request_id": "r1"}', b"\xff\xfe"],
)
def test_undecodable_bytes_raise_event_decode_error(data: bytes) -> None:
    with pytest.raises(EventDecodeError):
        decode(data, ChatRequest)


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        make_request(created_at=datetime(2026, 1, 1, 12, 0))


def test_message_length_is_bounded() -> None:
    with pytest.raises(ValidationError):
        make_request(message="x" * 4001)


def test_answer_confidence_is_a_probability() -> None:
    with pytest.raises(ValidationError):
        ChatAnswer(
            request_id="r",
            conversation_id="c",
            correlation_id="t",
            answer="a",
            category="greeting",
            confidence=1.5,
            responder="offline",
            request_created_at=datetime.now().astimezone(),
        )
