"""This gateway's reply partition: the partition of ``support.answers`` and
``support.answer-deltas`` that its requests name (``REPLY_PARTITION_HEADER``) and that its
listener reads, so that N gateways do not each read every answer.

Each partition has a lease in Redis (``SET <prefix><n> <instance id> NX PX <ttl>``),
renewed every third of its TTL and released at a clean stop. At start the gateway leases
the first free partition; when every one is leased (more gateways than partitions), or
Redis cannot be asked, it shares one chosen by its instance id. With
``GATEWAY_REPLY_PARTITION`` (e.g. a StatefulSet ordinal), or without ``REDIS_URL``, it uses
that fixed partition (default 0).

The partition never changes while the process runs: requests already published name it.
A lost lease (Redis down, the key expired) is logged and claimed again at each renewal,
and the partition is read all along: correctness never depends on exclusivity, since a
gateway drops the answers for callers it does not hold. A sharing gateway also claims its
partition at each renewal, taking it over when its holder is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import secrets
import socket
import zlib

from redis.asyncio import Redis
from redis.exceptions import RedisError

from runtime.redis import CLAIM_SCRIPT, REPLY_PARTITION_PREFIX

log = logging.getLogger(__name__)

LEASE_TTL_S = 30.0
"""A gateway that stops renewing (killed, cut off from Redis) frees its partition after
this long; renewed every third of it."""

# KEYS: the lease. ARGV: instance id. Deletes the lease only if ARGV[1] holds it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class AnswerRouting(enum.StrEnum):
    PARTITION = "partition"
    """Read only this gateway's reply partition of the answer topics."""
    BROADCAST = "broadcast"
    """Read every partition: for workers that predate reply partitions, and benchmarks."""


class LeaseState(enum.StrEnum):
    FIXED = "fixed"
    """Configured (``GATEWAY_REPLY_PARTITION``), or no Redis: no lease."""
    LEASED = "leased"
    """This gateway holds the partition's lease."""
    SHARED = "shared"
    """Read without the lease: another gateway holds it, or Redis could not be asked."""


def lease_key(partition: int) -> str:
    return f"{REPLY_PARTITION_PREFIX}{partition}"


def new_instance_id() -> str:
    """Names the lease holder in Redis: which host and process, and unique per start."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


class ReplyPartition:
    def __init__(
        self,
        redis: Redis | None,
        *,
        fixed: int | None = None,
        instance_id: str | None = None,
        ttl_s: float = LEASE_TTL_S,
    ) -> None:
        """``redis`` is shared; its owner closes it. ``fixed`` wins over a lease."""
        leasing = redis if fixed is None else None
        self._fixed = fixed
        self.instance_id = instance_id or new_instance_id()
        self._ttl_ms = int(ttl_s * 1000)
        self._renew_every_s = ttl_s / 3
        self._hold = leasing.register_script(CLAIM_SCRIPT) if leasing else None
        self._release = leasing.register_script(_RELEASE) if leasing else None
        self._partition: int | None = None
        self.state = LeaseState.FIXED
        self._renewing: asyncio.Task[None] | None = None

    @property
    def partition(self) -> int:
        if self._partition is None:
            raise RuntimeError("no reply partition before start()")
        return self._partition

    def describe(self) -> str:
        return f"reply partition {self._partition} ({self.state.value})"

    async def start(self, partitions: int) -> int:
        """Choose the reply partition among ``partitions`` (support.answers' count) and,
        when leased or shared, keep claiming it in the background."""
        if self._hold is None:
            chosen = self._fixed or 0
            if chosen >= partitions:
                raise ValueError(
                    f"GATEWAY_REPLY_PARTITION={chosen}, but the answers topic has "
                    f"{partitions} partition(s)"
                )
            self._partition = chosen
            return chosen
        self._partition = await self._lease_any(partitions)
        if self._partition is None:
            self._partition = zlib.crc32(self.instance_id.encode()) % partitions
            self.state = LeaseState.SHARED
            log.warning("no reply partition free: sharing %s", self.describe())
        else:
            self.state = LeaseState.LEASED
            log.info("leased %s as %s", self.describe(), self.instance_id)
        self._renewing = asyncio.create_task(self._keep(), name="reply-partition-lease")
        return self._partition

    async def stop(self) -> None:
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
            self._renewing = None
        if self._release is None or self._partition is None or self.state is not LeaseState.LEASED:
            return
        try:
            await self._release(keys=[lease_key(self._partition)], args=[self.instance_id])
        except (RedisError, OSError) as exc:
            log.warning("reply partition %d not released (it expires): %r", self._partition, exc)

    async def _lease_any(self, partitions: int) -> int | None:
        try:
            for partition in range(partitions):
                if await self._claim(partition):
                    return partition
        except (RedisError, OSError) as exc:
            log.warning("cannot lease a reply partition: %r", exc)
        return None

    async def _claim(self, partition: int) -> bool:
        if self._hold is None:
            return False
        held = await self._hold(keys=[lease_key(partition)], args=[self.instance_id, self._ttl_ms])
        return bool(held)

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self._renew_every_s)
            await self.renew()

    async def renew(self) -> None:
        """Renew the lease, or claim it again once free; either way the partition stays."""
        try:
            held, why = await self._claim(self.partition), "another gateway holds it"
        except (RedisError, OSError) as exc:
            held, why = False, f"Redis unavailable: {exc!r}"
        if held and self.state is not LeaseState.LEASED:
            log.info("%s: lease claimed again", self.describe())
        elif not held and self.state is LeaseState.LEASED:
            log.warning(
                "%s: lease lost (%s); still reading it, claiming it again every %.0f s",
                self.describe(),
                why,
                self._renew_every_s,
            )
        self.state = LeaseState.LEASED if held else LeaseState.SHARED
