"""Consumer lag of the worker group on ``support.requests``, for the lag gauge."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from schemas.topics import REQUESTS
from streams.metrics import CONSUMER_LAG


class LagProbe:
    """Lag = end offset - the group's committed offset, per partition. Clients are made
    on first use, on the running event loop."""

    def __init__(self, bootstrap_servers: str, group_id: str) -> None:
        self._bootstrap = bootstrap_servers
        self._group_id = group_id
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def measure(self) -> dict[int, int]:
        if self._admin is None or self._consumer is None:
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
            await self._admin.start()
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None)
            await self._consumer.start()
        (described,) = await self._admin.describe_topics([REQUESTS])
        partitions = [TopicPartition(REQUESTS, p["partition"]) for p in described["partitions"]]
        committed = await self._admin.list_consumer_group_offsets(
            self._group_id, partitions=partitions
        )
        ends = await self._consumer.end_offsets(partitions)
        lag = {}
        for tp in partitions:
            done = committed.get(tp)
            offset = done.offset if done is not None and done.offset >= 0 else 0
            lag[tp.partition] = max(ends[tp] - offset, 0)
            CONSUMER_LAG.labels(REQUESTS, str(tp.partition)).set(lag[tp.partition])
        return lag

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
