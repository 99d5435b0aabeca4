"""The reply partition without Redis: fixed, and checked against the answers topic.
Leases on a real Redis: tests/integration/test_reply_partitions.py."""

from __future__ import annotations

import pytest

from gateway.reply_partitions import LeaseState, ReplyPartition


async def test_without_redis_the_reply_partition_is_0() -> None:
    reply = ReplyPartition(None)

    assert await reply.start(partitions=6) == 0
    assert reply.state is LeaseState.FIXED and reply.describe() == "reply partition 0 (fixed)"


async def test_a_configured_partition_is_used_as_is() -> None:
    assert await ReplyPartition(None, fixed=5).start(partitions=6) == 5


async def test_a_configured_partition_the_answers_topic_lacks_stops_the_start() -> None:
    with pytest.raises(ValueError, match="GATEWAY_REPLY_PARTITION=6"):
        await ReplyPartition(None, fixed=6).start(partitions=6)
