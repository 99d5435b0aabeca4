"""Where the events one inbound message causes go: their headers, and the partition of the
reply topics (``support.answers``, ``support.answer-deltas``) that the gateway which
published it reads (``REPLY_PARTITION_HEADER``). Any producer may write to
``support.requests``, so the header is untrusted: anything but 1-4 ASCII digits is ignored
and the reply goes to the key's partition, as before reply partitions existed."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from schemas.topics import REPLY_PARTITION_HEADER

_DECIMAL = re.compile(rb"[0-9]{1,4}")


def reply_partition(headers: Mapping[str, bytes]) -> int | None:
    """The partition ``headers`` ask replies on; ``None`` when missing or not 1-4 digits."""
    value = headers.get(REPLY_PARTITION_HEADER)
    if not isinstance(value, bytes) or _DECIMAL.fullmatch(value) is None:
        return None
    return int(value)


@dataclass(frozen=True, slots=True)
class Outbound:
    """What the events caused by one inbound message carry."""

    headers: Mapping[str, bytes]
    """Headers of every event it causes (transcript, escalations, answer, deltas)."""
    reply_partition: int | None = None
    """The partition of its answer and deltas; ``None``: the key's."""
