"""Fuzzing the event decoder: any bytes give an event or EventDecodeError, never a crash."""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.codec import decode, encode
from runtime.errors import EventDecodeError
from schemas import ChatAnswer, ChatRequest, DeadLetter, Escalation

EVENTS = (ChatRequest, ChatAnswer, Escalation, DeadLetter)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what JSON encoders emit
    | st.floats(allow_nan=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=8)
    ),
    max_leaves=30,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2048), event_type=st.sampled_from(EVENTS))
def test_arbitrary_bytes_never_crash_the_decoder(data: bytes, event_type: type) -> None:
    try:
        decode(data, event_type)
    except EventDecodeError:
        pass


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(payload=json_values, event_type=st.sampled_from(EVENTS))
def test_arbitrary_json_never_crashes_the_decoder(payload: object, event_type: type) -> None:
    try:
        decode(orjson.dumps(payload), event_type)
    except EventDecodeError:
        pass


@settings(max_examples=200)
@given(
    message=st.text(min_size=1, max_size=4000).filter(str.strip),
    request_id=st.text(alphabet="abcdef0123456789", min_size=1, max_size=32),
)
def test_valid_requests_round_trip(message: str, request_id: str) -> None:
    request = ChatRequest(
        request_id=request_id, conversation_id="c", correlation_id="t", message=message
    )
    assert decode(encode(request), ChatRequest) == request


def test_integers_beyond_64_bits_are_a_decode_error() -> None:
    try:
        decode(b'{"request_id": 123456789012345678901234567890}', ChatRequest)
    except EventDecodeError:
        return
    raise AssertionError("accepted an out-of-range integer")
