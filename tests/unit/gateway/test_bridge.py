from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError
from prometheus_client import REGISTRY

from gateway.bridge import KafkaBridge, _DeltaRoute, _Pending
from gateway.reply_partitions import AnswerRouting, ReplyPartition
from runtime.codec import encode
from runtime.errors import BrokerUnavailableError, EventDecodeError
from runtime.kafka import KafkaConnection
from schemas import ChatAnswer, ChatDelta, ChatRequest
from schemas.topics import ANSWER_DELTAS, ANSWERS, CONVERSATION_EVENTS, DEADLETTER, REQUESTS
from tests.unit.gateway.fake_kafka import record


def awaited(bridge: KafkaBridge, request_id: str) -> asyncio.Future[ChatAnswer]:
    """The answer a caller of ``request_id`` awaits from ``bridge``."""
    future: asyncio.Future[ChatAnswer] = asyncio.get_running_loop().create_future()
    bridge._waiting[request_id] = _Pending(future, callers=1)
    return future


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
    awaited(bridge, "mine")

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
    waiting = awaited(bridge, "mine")

    bridge._on_record(record(ANSWERS, 0, encode(answer("mine")), [("request_id", None)]))

    assert waiting.result().answer == "Yes."


@pytest.mark.parametrize("value", [b"\x00\xffnot json", b"[1, 2]", b'{"request_id": "mine"}'])
async def test_a_record_that_is_not_its_topics_event_raises_for_the_listener(value: bytes) -> None:
    bridge = KafkaBridge(KafkaConnection("127.0.0.1:1"))
    awaited(bridge, "mine")

    with pytest.raises(EventDecodeError):
        bridge._on_record(record(ANSWERS, 0, value, [("request_id", b"mine")]))


def every_partition(topic_counts: dict[str, int]) -> list[TopicPartition]:
    return [TopicPartition(t, p) for t, count in topic_counts.items() for p in range(count)]


TOPICS = {ANSWERS: 6, ANSWER_DELTAS: 6, DEADLETTER: 1, CONVERSATION_EVENTS: 6}


async def started_bridge(routing: AnswerRouting, fixed: int) -> KafkaBridge:
    bridge = KafkaBridge(
        KafkaConnection("127.0.0.1:1"),
        routing=routing,
        reply_partition=ReplyPartition(None, fixed=fixed),
    )
    await bridge._reply.start(partitions=6)
    return bridge


async def test_partition_routing_reads_only_the_reply_partition_of_answers_and_deltas() -> None:
    bridge = await started_bridge(AnswerRouting.PARTITION, fixed=4)

    read = bridge._read(every_partition(TOPICS))

    assert sorted((tp.topic, tp.partition) for tp in read) == sorted(
        [(ANSWERS, 4), (ANSWER_DELTAS, 4), (DEADLETTER, 0)]
        + [(CONVERSATION_EVENTS, p) for p in range(6)]
    )


async def test_broadcast_routing_reads_every_partition() -> None:
    bridge = await started_bridge(AnswerRouting.BROADCAST, fixed=4)
    partitions = every_partition(TOPICS)

    assert bridge._read(partitions) == partitions


async def test_a_reply_topic_without_the_reply_partition_is_read_whole() -> None:
    bridge = await started_bridge(AnswerRouting.PARTITION, fixed=4)

    read = bridge._read(every_partition(TOPICS | {ANSWER_DELTAS: 2}))

    assert {tp.partition for tp in read if tp.topic == ANSWER_DELTAS} == {0, 1}
    assert {tp.partition for tp in read if tp.topic == ANSWERS} == {4}


class RecordingProducer:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send_and_wait(self, topic: str, **record: Any) -> None:
        self.sent.append({"topic": topic, **record})


@pytest.mark.parametrize("routing", list(AnswerRouting))
async def test_every_request_names_the_reply_partition(routing: AnswerRouting) -> None:
    bridge = await started_bridge(routing, fixed=3)
    producer = bridge._producer = RecordingProducer()
    request = ChatRequest(request_id="r", conversation_id="c", correlation_id="k", message="hi")

    await bridge._send(request)

    [sent] = producer.sent
    assert sent["topic"] == REQUESTS and ("reply_partition", b"3") in sent["headers"]


def foreign() -> float:
    return REGISTRY.get_sample_value("techgear_gateway_foreign_answer_records_total") or 0.0


async def test_answers_and_deltas_for_no_caller_here_are_counted_as_foreign() -> None:
    bridge = KafkaBridge(KafkaConnection("127.0.0.1:1"))
    mine = awaited(bridge, "mine")
    before = foreign()

    bridge._on_record(record(ANSWERS, 0, encode(answer("theirs")), [("request_id", b"theirs")]))
    bridge._on_record(record(ANSWERS, 1, encode(answer("theirs-too")), []))  # decoded to see
    bridge._on_record(record(ANSWER_DELTAS, 0, encode(delta(0, "x")), [("request_id", b"r")]))
    bridge._on_record(record(ANSWERS, 2, None, [("request_id", b"mine")]))
    counted_foreign = foreign() - before
    bridge._on_record(record(ANSWERS, 3, encode(answer("mine")), [("request_id", b"mine")]))

    assert counted_foreign == 4
    assert foreign() - before == 4 and mine.result().answer == "Yes."


class RefusingProducer:
    async def send_and_wait(self, topic: str, **record: Any) -> None:
        raise KafkaConnectionError("broker down")


def same_request() -> ChatRequest:
    return ChatRequest(request_id="same", conversation_id="c", correlation_id="k", message="hi")


async def callers_of(bridge: KafkaBridge, request_id: str, count: int) -> None:
    """Returns once ``count`` callers of ``request_id`` wait on ``bridge``."""
    while (pending := bridge._waiting.get(request_id)) is None or pending.callers < count:
        await asyncio.sleep(0)


async def test_callers_of_one_request_share_its_one_publish_and_its_answer() -> None:
    bridge = await started_bridge(AnswerRouting.PARTITION, fixed=0)
    producer = bridge._producer = RecordingProducer()
    first = asyncio.create_task(bridge.ask(same_request(), timeout_s=5))
    second = asyncio.create_task(bridge.ask(same_request(), timeout_s=5))
    await asyncio.wait_for(callers_of(bridge, "same", 2), 5)

    second.cancel()  # one caller hangs up: the other still waits
    with pytest.raises(asyncio.CancelledError):
        await second
    bridge._on_record(record(ANSWERS, 0, encode(answer("same")), [("request_id", b"same")]))

    assert (await first).answer == "Yes."
    assert len(producer.sent) == 1 and bridge.waiting == 0


async def test_one_callers_timeout_ends_only_its_own_wait() -> None:
    bridge = await started_bridge(AnswerRouting.PARTITION, fixed=0)
    bridge._producer = RecordingProducer()
    patient = asyncio.create_task(bridge.ask(same_request(), timeout_s=5))
    await asyncio.wait_for(callers_of(bridge, "same", 1), 5)

    with pytest.raises(TimeoutError):
        await bridge.ask(same_request(), timeout_s=0.01)
    bridge._on_record(record(ANSWERS, 0, encode(answer("same")), [("request_id", b"same")]))

    assert (await patient).answer == "Yes."


async def test_every_caller_of_a_request_kafka_refused_is_told() -> None:
    bridge = await started_bridge(AnswerRouting.PARTITION, fixed=0)
    bridge._producer = RefusingProducer()

    outcomes = await asyncio.gather(
        bridge.ask(same_request(), timeout_s=5),
        bridge.ask(same_request(), timeout_s=5),
        return_exceptions=True,
    )

    assert [type(o) for o in outcomes] == [BrokerUnavailableError] * 2
    assert bridge.waiting == 0
