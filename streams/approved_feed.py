"""Follows ``support.approved-answers`` into a worker's ``ApprovedAnswers``.

Every worker reads the whole compacted topic from its beginning with an assigned consumer
(no group: each needs every approval, and nothing is committed), then keeps following it,
so an approval or a revocation reaches every worker within about a second.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from runtime.codec import decode
from runtime.errors import EventDecodeError
from runtime.kafka import KafkaConnection
from schemas import ApprovedAnswer
from schemas.topics import APPROVED_ANSWERS
from streams.approved import ApprovedAnswers

log = logging.getLogger(__name__)

_POLL_MS = 1000
_RETRY_S = 5.0


class ApprovedAnswersFeed:
    def __init__(self, kafka: KafkaConnection, answers: ApprovedAnswers) -> None:
        self._kafka = kafka
        self._answers = answers

    async def run(self) -> None:
        """Until cancelled; a broker failure is logged and the read resumes where it was."""
        partition = TopicPartition(APPROVED_ANSWERS, 0)
        position: int | None = None
        while True:
            consumer = self._kafka.consumer(group_id=None, enable_auto_commit=False)
            try:
                await consumer.start()
                consumer.assign([partition])
                if position is None:
                    # An explicit seek: seek_to_beginning() may lose to the default reset.
                    position = (await consumer.beginning_offsets([partition]))[partition]
                consumer.seek(partition, position)
                while True:
                    batches = await consumer.getmany(partition, timeout_ms=_POLL_MS)
                    for record in batches.get(partition, []):
                        await self._apply(record)
                        position = record.offset + 1
            except KafkaError as exc:
                log.warning("cannot read %s (retrying): %s", APPROVED_ANSWERS, exc)
                await asyncio.sleep(_RETRY_S)
            finally:
                await consumer.stop()

    async def _apply(self, record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            approval = decode(record.value or b"", ApprovedAnswer)
        except EventDecodeError:
            log.warning("ignoring an unreadable record at %s@%d", APPROVED_ANSWERS, record.offset)
            return
        await self._answers.apply(approval)
        log.info(
            "approved answer %s %s",
            approval.approval_id,
            "revoked" if approval.revoked else "held",
        )
