"""What the worker's handling needs from Kafka: publishing one event (``streams.app`` has
the Faust implementation, tests a recording one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel


class Publisher(Protocol):
    async def publish(
        self,
        topic: str,
        event: BaseModel,
        *,
        key: str,
        headers: Mapping[str, bytes],
        wait: bool = True,
        partition: int | None = None,
    ) -> None:
        """Write ``event`` to ``topic``; with ``wait``, return only once the broker has
        acknowledged it (without, once it is queued in order behind earlier messages).
        ``partition`` (a reply partition) is used when ``topic`` has it, else the key's."""
        ...
