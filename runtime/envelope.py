"""The one way an event goes onto a topic: the JSON codec for the value, CloudEvents
attributes as headers, and the conversation (or another stable id) as the key."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata
from pydantic import BaseModel

from runtime.codec import encode
from schemas.cloudevents import headers_for


@dataclass(frozen=True, slots=True)
class Envelope:
    key: bytes
    value: bytes
    headers: dict[str, bytes]

    async def send(self, producer: AIOKafkaProducer, topic: str) -> RecordMetadata:
        """Publish to ``topic`` and wait until the cluster has it."""
        metadata: RecordMetadata = await producer.send_and_wait(
            topic, value=self.value, key=self.key, headers=list(self.headers.items())
        )
        return metadata


def envelope(
    event: BaseModel, *, source: str, key: str, headers: Mapping[str, bytes] | None = None
) -> Envelope:
    """``event`` ready to publish from ``source`` (a CloudEvents source such as
    ``/techgear/gateway``); ``headers`` are kept unless a CloudEvents one replaces them."""
    return Envelope(
        key=key.encode(),
        value=encode(event),
        headers=dict(headers or {}) | headers_for(event, source=source),
    )
