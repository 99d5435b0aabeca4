from __future__ import annotations

from runtime.codec import decode
from runtime.envelope import envelope
from schemas import ChatRequest
from schemas.cloudevents import ce_type


def test_an_event_is_keyed_encoded_and_carries_cloudevents_headers() -> None:
    request = ChatRequest(
        request_id="r-1", conversation_id="c-1", correlation_id="r-1", message="Hello"
    )
    record = envelope(
        request, source="/techgear/test", key="c-1", headers={"traceparent": b"00-abc"}
    )
    assert record.key == b"c-1"
    assert decode(record.value, ChatRequest) == request
    assert record.headers["ce_type"] == ce_type(request.event_type).encode()
    assert record.headers["ce_source"] == b"/techgear/test"
    assert record.headers["request_id"] == b"r-1"
    assert record.headers["traceparent"] == b"00-abc"
