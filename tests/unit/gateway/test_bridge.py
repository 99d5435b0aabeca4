from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gateway.bridge import KafkaBridge, _DeltaRoute
from runtime.codec import encode
from runtime.errors import EventDecodeError
from runtime.kafka import KafkaConnection
from schemas import ChatAnswer, ChatDelta
from schemas.topics import ANSWERS
from tests.unit.gateway.fake_kafka import record


def delta(seq: int, text: str) -> ChatDelta:
    return ChatDelta(request_id="r", conversation_id="c", correlation_id="k", seq=seq, text=text)


def test_a_redelivered_stream_is_not_repeated_to_the_caller() -> None:
    received: list[str] = []
    route = _DeltaRoute(lambda d: received.append(d.text))
    for seq, text in [(0, "The "), (1, "FitBand "), (0, "The "), (1, "FitBand "), (2, "costs")]:
        route.forward(delta(seq, text))
    assert received == ["The ", "FitBand ", "costs"]


def test_a_gap_does_not_stop_the_stream() -> None:
    received: list[int] = []
    route = _DeltaRoute(lambda d: received.append(d.seq))
    for seq in (0, 2, 3):
        route.forward(delta(seq, "x"))
    assert received == [0, 2, 3]


async def test_only_events_for_this_gateways_callers_are_decoded() -> None:
    bridge = KafkaBridge(KafkaConnection("127.0.0.1:1"))
    bridge._waiting["mine"] = asyncio.get_running_loop().create_future()

    assert bridge._concerns_us([("ce_id", b"x"), ("request_id", b"mine")])
    assert not bridge._concerns_us([("request_id", b"another-gateways")])
    assert bridge._concerns_us([])  # no header: decoded to find out


def answer(request_id: str) -> ChatAnswer:
    return ChatAnswer(
        request_id=request_id,
        conversation_id="c",
        correlation_id="k",
        answer="Yes.",
        category="general_info",
        confidence=0.9,
        responder="offline",
        request_created_at=datetime.now(UTC),
    )


@pytest.mark.parametrize(
    ("headers", "decoded"),
    [
        ([("request_id", None)], True),
        ([("request_id", b"\xff\xfe")], True),
        ([("request_id", None), ("request_id", b"another-gateways")], False),
    ],
    ids=["null-is-absent", "not-utf8-is-absent", "a-later-usable-one-counts"],
)
async def test_an_unusable_request_id_header_counts_as_absent(
    headers: list[tuple[str, bytes | None]], decoded: bool
) -> None:
    bridge = KafkaBridge(KafkaConnection("127.0.0.1:1"))
    assert bridge._concerns_us(headers) is decoded


async def test_an_answer_whose_request_id_header_has_no_value_reaches_its_caller() -> None:
    bridge = KafkaBridge(KafkaConnection("127.0.0.1:1"))
    waiting = bridge._waiting["mine"] = asyncio.get_running_loop().create_future()

    bridge._on_record(record(ANSWERS, 0, encode(answer("mine")), [("request_id", None)]))

    assert waiting.result().answer == "Yes."


@pytest.mark.parametrize("value", [b"\x00\xffnot json", b"[1, 2]", b'{"request_id": "mine"}'])
async def test_a_record_that_is_not_its_topics_event_raises_for_the_listener(value: bytes) -> None:
    bridge = KafkaBridge(KafkaConnection("127.0.0.1:1"))
    bridge._waiting["mine"] = asyncio.get_running_loop().create_future()

    with pytest.raises(EventDecodeError):
        bridge._on_record(record(ANSWERS, 0, value, [("request_id", b"mine")]))
