from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client import REGISTRY

from gateway.listener import AnswerListener
from runtime.errors import EventDecodeError
from schemas.topics import ANSWERS, CONVERSATION_EVENTS
from tests.unit.gateway.fake_kafka import FakeConsumer, FakeConsumers, record

TP = TopicPartition(ANSWERS, 0)


def skipped(reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "techgear_gateway_answer_records_skipped_total", {"reason": reason}
    )
    return value or 0.0


def restarts() -> float:
    return REGISTRY.get_sample_value("techgear_gateway_answer_listener_restarts_total") or 0.0


async def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.01)


def handler_raising_on(
    failures: dict[bytes, Exception], handled: list[bytes]
) -> Callable[[ConsumerRecord[bytes, bytes]], None]:
    def handle(rec: ConsumerRecord[bytes, bytes]) -> None:
        value = rec.value or b""
        if value in failures:
            raise failures[value]
        handled.append(value)

    return handle


async def test_any_error_from_one_record_skips_only_that_record() -> None:
    failures: dict[bytes, Exception] = {
        b"not-json": EventDecodeError("not JSON: unexpected character"),
        b"key-error": KeyError("request_id"),
        b"unicode": UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        b"runtime": RuntimeError("a bug in a handler"),
    }
    batch = {TP: [record(ANSWERS, 10 + i, v) for i, v in enumerate([*failures, b"answer"])]}
    handled: list[bytes] = []
    consumer = FakeConsumer({TP: 10}, [batch])
    listener = AnswerListener(FakeConsumers(consumer), handler_raising_on(failures, handled))
    undecodable, unexpected = skipped("undecodable"), skipped("unexpected")

    await listener.start([TP])
    try:
        await eventually(lambda: handled == [b"answer"], "the last record handled")
        assert listener.health()[0] is True
        assert listener._positions[TP] == 15
    finally:
        await listener.stop()

    assert skipped("undecodable") - undecodable == 1
    assert skipped("unexpected") - unexpected == 3


async def test_a_skipped_record_is_logged_with_a_bounded_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    huge = "x" * 100_000
    handled: list[bytes] = []
    consumer = FakeConsumer({TP: 0}, [{TP: [record(ANSWERS, 0, b"huge")]}])
    listener = AnswerListener(
        FakeConsumers(consumer), handler_raising_on({b"huge": ValueError(huge)}, handled)
    )

    with caplog.at_level(logging.WARNING, logger="gateway.listener"):
        await listener.start([TP])
        try:
            await eventually(lambda: bool(caplog.records), "a log line")
        finally:
            await listener.stop()

    (line,) = [r.getMessage() for r in caplog.records]
    assert f"{ANSWERS}/0@0 (unexpected): ValueError at test_listener.py:" in line
    assert len(line) < 400


async def test_a_dead_listener_restarts_from_the_next_unread_offset() -> None:
    handled: list[bytes] = []
    first = FakeConsumer(
        {TP: 5},
        [{TP: [record(ANSWERS, 5, b"a"), record(ANSWERS, 6, b"b")]}, AssertionError("broken")],
    )
    second = FakeConsumer({TP: 99}, [{TP: [record(ANSWERS, 7, b"c")]}])
    consumers = FakeConsumers(first, second)
    listener = AnswerListener(consumers, handler_raising_on({}, handled), restart_backoff_s=0.05)
    before = restarts()

    await listener.start([TP])
    try:
        await eventually(lambda: handled == [b"a", b"b", b"c"], "records after the restart")
    finally:
        await listener.stop()

    assert first.stopped and consumers.made == [first, second]
    assert second.positions[TP] == 7 and listener._positions[TP] == 8
    assert restarts() - before == 1


async def test_a_listener_whose_task_ended_reports_that_it_is_not_reading() -> None:
    listener = AnswerListener(FakeConsumers(FakeConsumer({TP: 0})), handler_raising_on({}, []))
    await listener.start([TP])
    assert listener._task is not None

    listener._task.cancel()  # not by stop(): nothing restarts a task that is gone
    await eventually(lambda: not listener.health()[0], "health says it is not reading")
    ended = listener.health()
    await listener.stop()

    assert ended == (False, "not reading answers: its task ended")
    assert listener.health() == (False, "not reading answers: stopped")


async def test_positions_of_a_topic_are_the_next_offsets_to_read_of_its_partitions() -> None:
    events = TopicPartition(CONVERSATION_EVENTS, 2)
    batch = {events: [record(CONVERSATION_EVENTS, 4, b"event", partition=2)]}
    handled: list[bytes] = []
    consumer = FakeConsumer({TP: 10, events: 4}, [batch])
    listener = AnswerListener(FakeConsumers(consumer), handler_raising_on({}, handled))

    await listener.start([TP, events])
    try:
        await eventually(lambda: handled == [b"event"], "the event handled")
        assert listener.positions(CONVERSATION_EVENTS) == {2: 5}
        assert listener.positions(ANSWERS) == {0: 10}
    finally:
        await listener.stop()
