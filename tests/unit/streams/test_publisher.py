"""The Faust publisher sends to a reply partition the topic has, else to the key's."""

from __future__ import annotations

import asyncio
from collections.abc import Set
from typing import Any

import pytest
from prometheus_client import REGISTRY

from schemas import ChatDelta
from schemas.topics import ANSWER_DELTAS
from streams.app import FaustPublisher

INVALID = "techgear_worker_reply_partition_invalid_total"


class RecordingChannel:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def send(self, **record: Any) -> asyncio.Future[None]:
        self.sent.append(record)
        delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        delivered.set_result(None)
        return delivered


class SixPartitions:
    async def partitions_for(self, topic: str) -> Set[int]:
        return frozenset(range(6))


class StubApp:
    """The two things ``FaustPublisher`` uses of a Faust app."""

    def __init__(self) -> None:
        self.channel = RecordingChannel()
        self.producer = SixPartitions()

    def topic(self, name: str, **_types: Any) -> RecordingChannel:
        return self.channel


def delta() -> ChatDelta:
    return ChatDelta(request_id="r", conversation_id="c", correlation_id="k", seq=0, text="Hi")


def publisher(app: StubApp) -> FaustPublisher:
    return FaustPublisher(app)  # type: ignore[arg-type]


def invalid() -> float:
    return REGISTRY.get_sample_value(INVALID) or 0.0


@pytest.mark.parametrize("partition", [0, 5])
async def test_a_partition_the_topic_has_is_used(partition: int) -> None:
    app = StubApp()
    before = invalid()
    await publisher(app).publish(ANSWER_DELTAS, delta(), key="c", headers={}, partition=partition)

    [sent] = app.channel.sent
    assert sent["partition"] == partition and sent["key"] == b"c"
    assert invalid() == before


@pytest.mark.parametrize("partition", [6, 9999])
async def test_a_partition_the_topic_lacks_falls_back_to_the_key(
    partition: int, caplog: pytest.LogCaptureFixture
) -> None:
    app = StubApp()
    before = invalid()
    await publisher(app).publish(ANSWER_DELTAS, delta(), key="c", headers={}, partition=partition)

    [sent] = app.channel.sent
    assert sent["partition"] is None and sent["key"] == b"c"
    assert invalid() == before + 1
    assert f"no partition {partition}" in caplog.text


async def test_no_partition_asked_is_the_keys_without_a_metadata_lookup() -> None:
    app = StubApp()
    app.producer = None  # type: ignore[assignment]
    await publisher(app).publish(ANSWER_DELTAS, delta(), key="c", headers={})

    [sent] = app.channel.sent
    assert sent["partition"] is None
