from __future__ import annotations

import asyncio
import time

import pytest

from gateway.client_ip import client_address, parse_networks
from gateway.ratelimit import InProcessBuckets, RateLimiter
from runtime.redis import RedisSettings, redis_client


def test_minute_bucket_allows_exactly_its_capacity() -> None:
    buckets = InProcessBuckets(per_minute=5, per_hour=100)
    decisions = [buckets.take("client") for _ in range(7)]

    assert [d.allowed for d in decisions] == [True] * 5 + [False] * 2
    assert [d.remaining_minute for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert 1 <= decisions[-1].retry_after_s <= 12  # one token every 12 s at 5/min
    assert decisions[-1].headers()["Retry-After"] == str(decisions[-1].retry_after_s)


def test_hour_bucket_binds_when_smaller() -> None:
    buckets = InProcessBuckets(per_minute=60, per_hour=3)
    decisions = [buckets.take("client") for _ in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after_s > 60


def test_clients_have_separate_buckets() -> None:
    buckets = InProcessBuckets(per_minute=1, per_hour=10)
    assert buckets.take("a").allowed and buckets.take("b").allowed and not buckets.take("a").allowed


def scope(peer: str, forwarded: str | None = None) -> dict[str, object]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"client": (peer, 1234), "headers": headers}


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", "1.2.3.4", "203.0.113.9"),  # untrusted peer: its header is ignored
        ("10.0.0.5", "198.51.100.7", "198.51.100.7"),  # trusted proxy: the client it saw
        ("10.0.0.5", "6.6.6.6, 198.51.100.7, 10.0.0.9", "198.51.100.7"),  # spoofed left part
        ("10.0.0.5", None, "10.0.0.5"),
    ],
)
def test_forwarded_for_is_believed_only_from_trusted_proxies(
    peer: str, forwarded: str | None, expected: str
) -> None:
    assert client_address(scope(peer, forwarded), parse_networks(["10.0.0.0/8"])) == expected


def test_a_check_costs_nothing_and_remembers_nobody() -> None:
    buckets = InProcessBuckets(per_minute=1, per_hour=10, max_identities=1)
    assert buckets.take("a", cost=0).allowed and buckets.take("a", cost=0).allowed
    assert buckets.take("b").allowed  # "a" took no room: "b" evicted nobody
    assert not buckets.take("b", cost=0).allowed


def test_a_refund_gives_back_one_token_and_never_more_than_capacity() -> None:
    buckets = InProcessBuckets(per_minute=1, per_hour=10)
    assert buckets.take("a").allowed and not buckets.take("a").allowed
    buckets.take("a", cost=-1)
    buckets.take("a", cost=-1)
    assert buckets.take("a").allowed and not buckets.take("a").allowed


def test_fallback_buckets_forget_the_least_recently_seen_client_past_their_bound() -> None:
    buckets = InProcessBuckets(per_minute=1, per_hour=10, max_identities=2)
    for client in ("a", "b", "c"):
        assert buckets.take(client).allowed
    assert not buckets.take("c").allowed and not buckets.take("b").allowed
    assert buckets.take("a").allowed  # forgotten, so full again


async def test_a_hung_redis_falls_back_to_process_buckets_within_its_timeout() -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    redis = redis_client(RedisSettings(redis_url=f"redis://127.0.0.1:{port}/0"), timeout_s=0.2)
    limiter = RateLimiter(per_minute=1, per_hour=10, redis=redis)
    try:
        started = time.monotonic()
        decisions = [await limiter.take("client") for _ in range(2)]
        assert time.monotonic() - started < 5
    finally:
        await redis.aclose()
        server.close()
        await server.wait_closed()

    assert [d.allowed for d in decisions] == [True, False]
    assert limiter.degraded_reason is not None and "Timeout" in limiter.degraded_reason
