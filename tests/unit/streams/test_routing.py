"""Reply partitions on the worker's side: the header parsed strictly, and every answer and
delta of a request (and nothing else) sent to the partition it names."""

from __future__ import annotations

import pytest

from schemas.topics import ANSWER_DELTAS, ANSWERS, CONVERSATION_EVENTS, ESCALATIONS
from streams.routing import reply_partition
from tests.unit.streams.doubles import (
    ESCALATED,
    RecordingPublisher,
    ScriptedWorkflow,
    handler,
    message,
    request_bytes,
)


@pytest.mark.parametrize(
    ("value", "partition"),
    [(b"0", 0), (b"5", 5), (b"0042", 42), (b"9999", 9999)],
)
def test_one_to_four_ascii_digits_name_a_partition(value: bytes, partition: int) -> None:
    assert reply_partition({"reply_partition": value}) == partition


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"-1",
        b"+1",
        b"99999",
        b"1e3",
        b"0x1",
        b" 1",
        b"1 ",
        b"1\n",
        b"1.0",
        "٣".encode(),  # an Arabic-Indic digit: a digit to str.isdigit, not ASCII
        b"\xff\xfe",
        b"\x00",
    ],
)
def test_anything_else_names_no_partition(value: bytes) -> None:
    assert reply_partition({"reply_partition": value}) is None


def test_a_missing_or_valueless_header_names_no_partition() -> None:
    assert reply_partition({}) is None
    assert reply_partition({"request_id": b"3"}) is None
    # Headers produced without a value (kcat -H reply_partition) may reach the worker so.
    assert reply_partition({"reply_partition": None}) is None  # type: ignore[dict-item]


async def test_the_answer_and_deltas_go_to_the_reply_partition_and_nothing_else_does() -> None:
    publisher = RecordingPublisher()
    request = request_bytes(channel="chat")  # streamed: deltas too
    inbound = message(request, headers={"reply_partition": b"4"})
    await handler(ScriptedWorkflow(ESCALATED), publisher).handle(inbound)

    assert publisher.partitions[ANSWERS] == [4]
    assert publisher.partitions[ANSWER_DELTAS] and set(publisher.partitions[ANSWER_DELTAS]) == {4}
    assert set(publisher.partitions[ESCALATIONS]) == {None}
    assert set(publisher.partitions[CONVERSATION_EVENTS]) == {None}


async def test_without_a_usable_header_the_answer_goes_to_the_keys_partition() -> None:
    publisher = RecordingPublisher()
    inbound = message(request_bytes(channel="chat"), headers={"reply_partition": b"-1"})
    await handler(ScriptedWorkflow(ESCALATED), publisher).handle(inbound)

    assert publisher.partitions[ANSWERS] == [None]
    assert set(publisher.partitions[ANSWER_DELTAS]) == {None}


async def test_a_forwarded_message_is_acknowledged_on_the_reply_partition() -> None:
    publisher = RecordingPublisher()
    worker = handler(ScriptedWorkflow(ESCALATED), publisher)
    await worker.handle(message(request_bytes(), offset=1))  # hands over to a person
    await worker.handle(
        message(
            request_bytes(request_id="req-2", message="Order TG-1234"),
            offset=2,
            headers={"reply_partition": b"1"},
        )
    )

    assert publisher.partitions[ANSWERS] == [None, 1]
