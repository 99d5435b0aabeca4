"""Consumer lag of the worker group on ``support.requests``, for the lag gauge."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from runtime.kafka import KafkaConnection
from runtime.topics import partitions_of
from schemas.topics import REQUESTS
from streams.metrics import CONSUMER_LAG


class LagProbe:
    """Lag = end offset - the group's committed offset, per partition. Its clients live
    for one measurement, so nothing is left open when the worker stops between two."""

    def __init__(self, connection: KafkaConnection, group_id: str) -> None:
        self._kafka = connection
        self._group_id = group_id

    async def measure(self) -> dict[int, int]:
        admin = self._kafka.admin()
        consumer = self._kafka.consumer(group_id=None)
        await admin.start()
        try:
            await consumer.start()
            try:
                return await self._measure(admin, consumer)
            finally:
                await consumer.stop()
        finally:
            await admin.close()

    async def _measure(
        self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer
    ) -> dict[int, int]:
        partitions = await partitions_of(admin, REQUESTS)
        committed = await admin.list_consumer_group_offsets(self._group_id, partitions=partitions)
        ends = await consumer.end_offsets(partitions)
        lag = {}
        for tp in partitions:
            done = committed.get(tp)
            offset = done.offset if done is not None and done.offset >= 0 else 0
            lag[tp.partition] = max(ends[tp] - offset, 0)
            CONSUMER_LAG.labels(REQUESTS, str(tp.partition)).set(lag[tp.partition])
        return lag
