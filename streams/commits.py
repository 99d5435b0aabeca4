"""Offset commits that never pass an unsettled message.

faust-streaming 0.15 commits past an in-flight message: its gap check
(``min(acked) - committed_offset > 1`` in ``transport/consumer.py``) lets a single
unacknowledged message at the head of a partition through once later ones are acked, and
a crash then loses it. The worker's agent acknowledges every message to Faust as soon as
it is taken in, so Faust's acked offsets are always contiguous, and this consumer caps
every commit at the :class:`~streams.inflight.InFlightLedger`'s floor: an offset is
committed only when every message before it on its partition was answered or
dead-lettered.

Faust also keeps, per partition, the offset it last read, and silently drops any fetched
message below it as "already read". A seek (to the committed offset after a rebalance)
resets that offset, but a batch fetched before the seek and still being handed out sets it
forward again, so the messages the seek meant to read again are dropped: the worker was
seen to skip the head of a partition after a restart that way. This consumer keeps no
such offsets: every fetched message reaches the agent, and one read twice is handled
twice (at least once), never skipped.

On revocation the app abandons the revoked partitions' messages that have not started,
the consumer waits (at most ``drain_timeout_s``) for the running ones to settle and
commits what did, so a rebalance neither hands a finished message to the next owner to
process again nor lets the last commit pass an abandoned one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Set
from typing import Any, ClassVar, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, ConsumerT, ProducerT, TransportT

from runtime.kafka import PRODUCER_DELIVERY
from streams.inflight import InFlightLedger

log = logging.getLogger(__name__)


class LedgerApp(faust.App):
    """A Faust app whose consumer commits within an :class:`InFlightLedger`."""

    def __init__(
        self,
        *args: Any,
        ledger: InFlightLedger,
        drain_timeout_s: float,
        on_revoke: Callable[[Set[TP]], None],
        **kwargs: Any,
    ) -> None:
        self.ledger = ledger
        self.drain_timeout_s = drain_timeout_s
        self.on_revoke = on_revoke
        super().__init__(*args, **kwargs)

    def _new_transport(self) -> TransportT:
        return LedgerTransport(self.conf.broker_consumer, self)


class NoReadOffsets(MutableMapping[TP, int | None]):
    """Faust's last-read offsets, kept empty: Faust then drops no fetched message."""

    def __getitem__(self, tp: TP) -> int | None:
        return None

    def __setitem__(self, tp: TP, offset: int | None) -> None:
        pass

    def __delitem__(self, tp: TP) -> None:
        pass

    def __iter__(self) -> Iterator[TP]:
        return iter(())

    def __len__(self) -> int:
        return 0


class LedgerConsumer(faust_aiokafka.Consumer):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._read_offset = NoReadOffsets()
        self._acked_to: dict[TP, int] = {}
        self._seeks: set[asyncio.Task[None]] = set()
        self._ledger_app.ledger.read_again = self._read_again

    def _read_again(self, tp: TP, offset: int) -> None:
        log.warning("reading %s/%d again from offset %d", tp.topic, tp.partition, offset)
        task = asyncio.ensure_future(self.seek(tp, offset))
        self._seeks.add(task)
        task.add_done_callback(self._seeks.discard)

    @property
    def _ledger_app(self) -> LedgerApp:
        return cast(LedgerApp, self.app)

    def _new_offset(self, tp: TP) -> int | None:
        acked_to = super()._new_offset(tp)
        if acked_to is not None:
            # Faust forgets the acked offsets it returns; remember how far they reached.
            self._acked_to[tp] = max(acked_to, self._acked_to.get(tp, acked_to))
        reached = self._acked_to.get(tp)
        floor = self._ledger_app.ledger.floor(tp)
        if reached is None or floor is None:
            return reached
        return min(reached, floor)

    async def perform_seek(self) -> None:
        await super().perform_seek()
        # Faust keeps a committed offset of 0 as None: that partition is not watched.
        self._ledger_app.ledger.expect(
            {tp: offset for tp, offset in self._committed_offset.items() if offset}
        )

    async def on_partitions_revoked(self, revoked: Set[TP]) -> None:
        app = self._ledger_app
        app.on_revoke(revoked)
        if not await app.ledger.wait_settled(revoked, app.drain_timeout_s):
            log.warning(
                "%d message(s) of revoked partitions still running after %.0f s: "
                "their offsets stay uncommitted and the next owner processes them again",
                app.ledger.running(revoked),
                app.drain_timeout_s,
            )
        await self.commit(set(revoked))
        app.ledger.release(revoked)
        for tp in revoked:
            self._acked_to.pop(tp, None)
        await super().on_partitions_revoked(revoked)


class DeliveringProducer(faust_aiokafka.Producer):
    """Faust's producer (answers, escalations, changelogs) with the system's delivery
    settings; Faust itself makes it idempotent only for exactly-once processing."""

    def _settings_extra(self) -> Mapping[str, Any]:
        return {**super()._settings_extra(), **PRODUCER_DELIVERY}

    async def partitions_for(self, topic: str) -> Set[int]:
        """The partitions of ``topic`` in the producer's metadata (fetched if not known)."""
        partitions: Set[int] = await self._ensure_producer().partitions_for(topic)
        return partitions


class LedgerTransport(faust_aiokafka.Transport):
    Consumer: ClassVar[type[ConsumerT]] = LedgerConsumer
    Producer: ClassVar[type[ProducerT]] = DeliveringProducer
