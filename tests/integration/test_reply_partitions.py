"""Reply partitions on the real broker and Redis: leases, gateways that read only their
own partition, and workers that send each answer where its request asks."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from aiokafka.partitioner import DefaultPartitioner
from redis.asyncio import Redis

from gateway.reply_partitions import LeaseState, ReplyPartition, lease_key
from runtime.codec import encode
from schemas.topics import ANSWERS, CONVERSATION_EVENTS, REQUESTS, TOPICS
from tests.conftest import ADMIN_KEY, GATEWAY_PORT, WORKER_METRICS_PORT, WorkerProcess
from tests.conftest import running_gateway as gateway
from tests.integration.conftest import (
    answer_to,
    chat_request,
    produce_raw,
    read_until,
    wait_until,
)
from tests.integration.test_pipeline import ask

pytestmark = pytest.mark.integration

LEASES_DB = 7
"""Lease tests use a database of their own: the session's gateways hold leases in 0."""
ANSWER_PARTITIONS = next(spec.partitions for spec in TOPICS if spec.name == ANSWERS)


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url.rsplit("/", 1)[0] + f"/{LEASES_DB}")
    await client.delete(*[lease_key(p) for p in range(ANSWER_PARTITIONS)])
    yield client
    await client.aclose()


async def test_two_gateways_lease_distinct_partitions_and_release_them(redis: Redis) -> None:
    first, second = ReplyPartition(redis), ReplyPartition(redis)
    partitions = [await first.start(partitions=6), await second.start(partitions=6)]
    holders = [await redis.get(lease_key(p)) for p in partitions]
    await first.stop()
    await second.stop()

    assert partitions == [0, 1]
    assert first.state is second.state is LeaseState.LEASED
    assert holders == [first.instance_id.encode(), second.instance_id.encode()]
    assert await redis.exists(*[lease_key(p) for p in partitions]) == 0


async def test_with_every_partition_leased_a_gateway_shares_one(redis: Redis) -> None:
    holders = [ReplyPartition(redis) for _ in range(2)]
    for holder in holders:
        await holder.start(partitions=2)
    sharer = ReplyPartition(redis)
    shared = await sharer.start(partitions=2)
    await sharer.stop()  # releases nothing: it holds no lease
    still_held = await redis.exists(lease_key(0), lease_key(1))
    for holder in holders:
        await holder.stop()

    assert shared in {0, 1} and sharer.state is LeaseState.SHARED
    assert still_held == 2


async def test_a_sharer_takes_over_the_lease_its_holder_let_expire(redis: Redis) -> None:
    await redis.set(lease_key(0), "a-killed-gateway", px=1500)
    sharer = ReplyPartition(redis, ttl_s=0.6)  # claims again every 0.2 s
    try:
        assert await sharer.start(partitions=1) == 0 and sharer.state is LeaseState.SHARED

        async def leased() -> bool:
            return sharer.state is LeaseState.LEASED

        await wait_until(leased, "the sharer leasing the expired partition", timeout_s=10)
        assert await redis.get(lease_key(0)) == sharer.instance_id.encode()
    finally:
        await sharer.stop()


async def test_a_lost_lease_is_claimed_again_and_the_partition_kept(redis: Redis) -> None:
    holder = ReplyPartition(redis, ttl_s=0.6)
    try:
        partition = await holder.start(partitions=6)
        await redis.set(lease_key(partition), "a-gateway-that-took-it", px=800)
        await holder.renew()  # as the background renewal would
        lost = holder.state

        async def claimed_again() -> bool:
            return await redis.get(lease_key(partition)) == holder.instance_id.encode()

        await wait_until(claimed_again, "the lease claimed again", timeout_s=10)
        assert lost is LeaseState.SHARED and holder.partition == partition
    finally:
        await holder.stop()


def metrics_of(url: str) -> str:
    return httpx.get(f"{url}/metrics", headers={"X-API-Key": ADMIN_KEY}, timeout=10).text


def counter(scraped: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", scraped, re.MULTILINE)
    assert found, f"{name} is exported"
    return float(found.group(1))


def foreign(url: str) -> float:
    return counter(metrics_of(url), "techgear_gateway_foreign_answer_records_total")


def listener_detail(url: str) -> str:
    detail: str = httpx.get(f"{url}/ready", timeout=10).json()["checks"]["answer_listener"][
        "detail"
    ]
    return detail


def reply_partition_of(url: str) -> tuple[int, str]:
    found = re.search(r"reply partition (\d+) \((\w+)\)", listener_detail(url))
    assert found, "/ready names the reply partition"
    return int(found.group(1)), found.group(2)


@pytest.fixture(scope="module")
def gateways(gateway_env: dict[str, str], worker: WorkerProcess) -> Iterator[tuple[str, ...]]:
    """Two gateways in partition routing and one in broadcast routing."""
    broadcast = gateway_env | {"ANSWER_ROUTING": "broadcast"}
    with (
        gateway(gateway_env, GATEWAY_PORT + 30, worker) as a,
        gateway(gateway_env, GATEWAY_PORT + 31, worker) as b,
        gateway(broadcast, GATEWAY_PORT + 32, worker) as c,
    ):
        yield a, b, c


async def questions(url: str, count: int) -> list[httpx.Response]:
    """``count`` questions in new conversations (spread over partitions), never cached."""
    return await asyncio.gather(
        *(
            ask(url, f"How long does a refund take? (ref {uuid.uuid4().hex[:10]})")
            for _ in range(count)
        )
    )


async def test_each_gateway_reads_only_its_own_partition_and_answers_its_callers(
    gateways: tuple[str, ...],
) -> None:
    a, b, c = gateways
    (a_partition, a_state), (b_partition, b_state) = reply_partition_of(a), reply_partition_of(b)
    a_foreign, c_foreign = foreign(a), foreign(c)

    b_answers = await questions(b, 6)
    a_answers = await questions(a, 2)
    c_answers = await questions(c, 1)

    assert a_partition != b_partition and a_state == b_state == "leased"
    responses = b_answers + a_answers + c_answers
    assert [r.status_code for r in responses] == [200] * len(responses)
    assert all("5-7 business days" in r.json()["answer"] for r in responses)
    # A read none of B's answers; C, reading every partition, read them all.
    assert foreign(a) - a_foreign == 0
    assert foreign(c) - c_foreign >= len(b_answers)
    # The reply partition of two topics, and every partition of the other two.
    reads = 2 + 1 + next(s.partitions for s in TOPICS if s.name == CONVERSATION_EVENTS)
    assert listener_detail(a).startswith(f"reading {reads} partition(s)")
    assert "(broadcast)" in listener_detail(c)


async def test_an_answer_is_published_on_the_partition_its_request_names(
    gateways: tuple[str, ...], kafka_bootstrap: str
) -> None:
    _, b, _ = gateways
    b_partition, _ = reply_partition_of(b)
    response = await ask(b, f"How long does a refund take? (ref {uuid.uuid4().hex[:10]})")

    record = await read_until(kafka_bootstrap, ANSWERS, answer_to(response.json()["request_id"]))
    assert record.partition == b_partition


def key_partition(key: bytes) -> int:
    partitions = list(range(ANSWER_PARTITIONS))
    partition: int = DefaultPartitioner()(key, partitions, partitions)
    return partition


def invalid_reply_partitions() -> float:
    scraped = httpx.get(f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics", timeout=10).text
    return counter(scraped, "techgear_worker_reply_partition_invalid_total")


@pytest.mark.parametrize(
    ("header", "worker_refused"),
    [(b"99", True), (b"-1", False), (b"1e3", False), (None, False)],
    ids=["no-such-partition", "negative", "not-decimal", "valueless"],
)
async def test_a_bogus_reply_partition_is_answered_on_the_keys_partition(
    worker: WorkerProcess, kafka_bootstrap: str, header: bytes | None, worker_refused: bool
) -> None:
    conversation = f"conv-{uuid.uuid4().hex}"
    request = chat_request(conversation, "How long does a refund take?")
    refused_before = invalid_reply_partitions()
    await produce_raw(
        kafka_bootstrap,
        REQUESTS,
        encode(request),
        key=conversation.encode(),
        headers=[("reply_partition", header)],
    )

    record = await read_until(kafka_bootstrap, ANSWERS, answer_to(request.request_id), timeout_s=60)
    assert record.partition == key_partition(conversation.encode())
    assert invalid_reply_partitions() - refused_before == (1 if worker_refused else 0)


async def test_a_valid_reply_partition_overrides_the_key(
    worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    conversation = f"conv-{uuid.uuid4().hex}"
    reply_to = (key_partition(conversation.encode()) + 1) % ANSWER_PARTITIONS
    request = chat_request(conversation, "How long does a refund take?")
    await produce_raw(
        kafka_bootstrap,
        REQUESTS,
        encode(request),
        key=conversation.encode(),
        headers=[("reply_partition", str(reply_to).encode())],
    )

    record = await read_until(kafka_bootstrap, ANSWERS, answer_to(request.request_id), timeout_s=60)
    assert record.partition == reply_to
