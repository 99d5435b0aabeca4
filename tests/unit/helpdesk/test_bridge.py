"""The bridge's commit discipline, with the handling of a record stubbed out."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from unittest.mock import AsyncMock

import httpx
import pytest
from aiokafka.structs import ConsumerRecord, TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError

from helpdesk.bridge import BridgeConfig, HelpdeskBridge
from helpdesk.targets import HttpCall, Zendesk
from runtime.errors import ForeignUrlError, HelpdeskTransientError
from runtime.kafka import KafkaConnection
from runtime.redis import RedisSettings
from schemas.topics import ESCALATIONS

PARTITION = TopicPartition(ESCALATIONS, 0)


def record(offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(ESCALATIONS, 0, offset, 0, 0, b"k", b"v", None, 1, 1, [])


class OneBatchConsumer:
    """Hands out one batch, then nothing; remembers every commit."""

    def __init__(self, offsets: list[int], stop: asyncio.Event) -> None:
        self.batch: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = {
            PARTITION: [record(offset) for offset in offsets]
        }
        self.stop = stop
        self.commits: list[dict[TopicPartition, int]] = []

    async def getmany(self, **_: Any) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]:
        batch, self.batch = self.batch, {}
        if not batch:
            self.stop.set()
        return batch

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)


def bridge_handling(handle: Callable[[ConsumerRecord[bytes, bytes]], Any]) -> HelpdeskBridge:
    config = BridgeConfig(
        KafkaConnection("unused:0"),
        "http://unused",
        RedisSettings(redis_url="redis://unused:0"),
        backoff_s=0.01,
    )
    bridge = HelpdeskBridge(Zendesk("bot@example.in", "token"), config)
    bridge._handle = AsyncMock(side_effect=lambda r, _producer: handle(r))  # type: ignore[method-assign]
    return bridge


async def test_each_record_is_committed_alone_once_it_is_settled() -> None:
    stop = asyncio.Event()
    consumer = OneBatchConsumer([7, 8, 9], stop)
    settled: list[tuple[int, int]] = []  # (offset handled, commits made before it)
    bridge = bridge_handling(lambda r: settled.append((r.offset, len(consumer.commits))))

    await bridge.consume(consumer, AsyncMock(), stop)  # type: ignore[arg-type]

    assert settled == [(7, 0), (8, 1), (9, 2)]
    assert consumer.commits == [{PARTITION: 8}, {PARTITION: 9}, {PARTITION: 10}]


@pytest.mark.parametrize(
    "failure",
    [RedisConnectionError("Redis is down"), HelpdeskTransientError("helpdesk answered 502")],
)
async def test_a_record_failing_transiently_is_retried_before_anything_after_it(
    failure: Exception,
) -> None:
    stop = asyncio.Event()
    consumer = OneBatchConsumer([7, 8, 9], stop)
    tries: list[tuple[int, int]] = []  # (offset tried, commits made before the try)

    def handle(r: ConsumerRecord[bytes, bytes]) -> None:
        tries.append((r.offset, len(consumer.commits)))
        if r.offset == 8 and len(tries) < 5:
            raise failure

    await bridge_handling(handle).consume(consumer, AsyncMock(), stop)  # type: ignore[arg-type]

    assert tries == [(7, 0), (8, 1), (8, 1), (8, 1), (8, 1), (9, 2)]
    assert consumer.commits == [{PARTITION: 8}, {PARTITION: 9}, {PARTITION: 10}]


async def test_stopping_while_a_record_is_retried_leaves_it_and_the_rest_uncommitted() -> None:
    stop = asyncio.Event()
    consumer = OneBatchConsumer([7, 8, 9], stop)

    def handle(r: ConsumerRecord[bytes, bytes]) -> None:
        if r.offset == 8:
            stop.set()  # SIGTERM arrives while Redis is down
            raise RedisConnectionError("Redis is down")

    await bridge_handling(handle).consume(consumer, AsyncMock(), stop)  # type: ignore[arg-type]

    assert consumer.commits == [{PARTITION: 8}]


async def test_an_unexpected_error_stops_the_bridge_with_the_record_uncommitted() -> None:
    stop = asyncio.Event()
    consumer = OneBatchConsumer([7, 8, 9], stop)

    def handle(r: ConsumerRecord[bytes, bytes]) -> None:
        if r.offset == 8:
            raise KeyError("a bug")

    with pytest.raises(KeyError):
        await bridge_handling(handle).consume(consumer, AsyncMock(), stop)  # type: ignore[arg-type]

    assert consumer.commits == [{PARTITION: 8}]


@pytest.mark.parametrize(
    "next_page",
    [
        "https://attacker.example/api/v2/tickets.json",
        "http://acme.zendesk.com/api/v2/tickets.json",
        "https://acme.zendesk.com:8443/api/v2/tickets.json",
        "//attacker.example/api/v2/tickets.json",
    ],
)
async def test_a_next_page_on_another_origin_never_gets_the_credentials(next_page: str) -> None:
    config = BridgeConfig(
        KafkaConnection("unused:0"),
        "https://acme.zendesk.com",
        RedisSettings(redis_url="redis://unused:0"),
    )
    bridge = HelpdeskBridge(Zendesk("bot@example.in", "token"), config)
    sent = AsyncMock(return_value=httpx.Response(200, json={}))
    bridge._http.request = sent  # type: ignore[method-assign]
    with pytest.raises(ForeignUrlError):
        await bridge._send(HttpCall("GET", next_page))
    sent.assert_not_called()
    await bridge._send(HttpCall("GET", "https://acme.zendesk.com/api/v2/tickets.json?page=2"))
    sent.assert_called_once()
