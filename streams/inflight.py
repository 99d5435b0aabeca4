"""Which source offsets the worker has taken in and not yet settled.

Kafka's committed offset means "everything before this is done". The worker hands each
message to a handler that may finish after later messages of its partition, so the
highest offset it may commit on a partition is the lowest one still unsettled there: the
commit floor. A message is settled once it was answered or dead-lettered. A message
abandoned at a rebalance (taken in, never started) keeps holding the floor until its
partition is released, so the last commit before the partition moves cannot pass it.

The ledger also watches that a partition's messages arrive without holes: after the
consumer seeks a partition to its committed offset, and after each message, it knows the
offset that must come next. A later one means messages were skipped before reaching the
worker (a redelivery after a rebalance may legitimately go back, never forward). Faust was
seen to skip the message at the committed offset of a partition just assigned, so a hole
is logged with its offsets, counted in ``techgear_worker_skipped_offsets_total``, holds
the commit floor until its first message arrives, and is handed to ``read_again`` (the
consumer seeks the partition back to it, so the skipped messages are read again).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from faust.types import TP

from streams import metrics

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Ticket:
    """One delivery of one message; a redelivered offset gets a ticket of its own."""

    tp: TP
    offset: int
    abandoned: bool = field(default=False)


class InFlightLedger:
    def __init__(self) -> None:
        self._tickets: dict[TP, set[Ticket]] = defaultdict(set)
        self._waiters: list[tuple[frozenset[TP], asyncio.Future[None]]] = []
        self._next: dict[TP, int] = {}
        """The offset each partition's next message must have."""
        self._first: dict[TP, int] = {}
        """The first offset taken of each partition since it was assigned."""
        self._holes: dict[TP, int] = {}
        """The first offset of a partition that was skipped and has not arrived since."""
        self.read_again: Callable[[TP, int], None] | None = None
        """Called with a hole's first offset: the consumer reads the partition from there."""

    def expect(self, positions: dict[TP, int]) -> None:
        """The consumer now reads each of these partitions from the offset given (its
        commit). Messages may already have arrived since the partition was assigned: the
        seek's result reaches the ledger after the fetcher resumed."""
        for tp, offset in positions.items():
            first = self._first.get(tp)
            if first is None:
                self._next[tp] = offset
            elif first > offset:
                self._skipped(tp, offset, first)

    def take(self, tp: TP, offset: int) -> Ticket:
        """``offset`` of ``tp`` is being processed: no commit may pass it until settled."""
        self._first.setdefault(tp, offset)
        if self._holes.get(tp) == offset:
            del self._holes[tp]
        expected = self._next.get(tp)
        if expected is not None and offset > expected:
            self._skipped(tp, expected, offset)
        # A redelivery (the consumer sought back) goes back; what comes next does not.
        self._next[tp] = max(offset + 1, expected or 0)
        ticket = Ticket(tp, offset)
        self._tickets[tp].add(ticket)
        return ticket

    def settle(self, ticket: Ticket) -> None:
        """The message was answered or dead-lettered (no-op for an abandoned ticket)."""
        if ticket.abandoned:
            return
        self._drop(ticket)
        self._wake()

    def abandon(self, ticket: Ticket) -> None:
        """The message will not be processed here: it holds the floor until released."""
        ticket.abandoned = True
        self._wake()

    def release(self, tps: Iterable[TP]) -> None:
        """Forget every ticket of ``tps``: their partitions were revoked and committed."""
        for tp in tps:
            self._next.pop(tp, None)
            self._first.pop(tp, None)
            self._holes.pop(tp, None)
            for ticket in self._tickets.pop(tp, set()):
                ticket.abandoned = True  # a handler still running settles nothing now

    def floor(self, tp: TP) -> int | None:
        """The lowest unsettled offset of ``tp``, or of a hole not yet read again: the
        highest offset that may be committed (Kafka commits the next offset to read);
        ``None`` when all are settled."""
        offsets = [ticket.offset for ticket in self._tickets.get(tp, ())]
        if tp in self._holes:
            offsets.append(self._holes[tp])
        return min(offsets, default=None)

    def running(self, tps: Iterable[TP] | None = None) -> int:
        """Tickets of ``tps`` (all partitions when ``None``) neither settled nor abandoned."""
        chosen = self._tickets.keys() if tps is None else set(tps) & self._tickets.keys()
        return sum(not t.abandoned for tp in chosen for t in self._tickets[tp])

    async def wait_settled(self, tps: Iterable[TP], timeout_s: float) -> bool:
        """Wait until nothing of ``tps`` is running; ``False`` if ``timeout_s`` ran out."""
        chosen = frozenset(tps)
        if not self.running(chosen):
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((chosen, waiter))
        try:
            await asyncio.wait_for(waiter, timeout_s)
        except TimeoutError:
            return False
        finally:
            self._waiters = [(t, w) for t, w in self._waiters if w is not waiter]
        return True

    def _skipped(self, tp: TP, start: int, end: int) -> None:
        metrics.SKIPPED_OFFSETS.inc(end - start)
        log.warning(
            "offsets %d to %d of %s/%d never reached the worker",
            start,
            end - 1,
            tp.topic,
            tp.partition,
        )
        self._holes[tp] = min(start, self._holes.get(tp, start))
        if self.read_again is not None:
            self.read_again(tp, start)

    def _drop(self, ticket: Ticket) -> None:
        tickets = self._tickets.get(ticket.tp)
        if tickets is None:
            return
        tickets.discard(ticket)
        if not tickets:
            del self._tickets[ticket.tp]

    def _wake(self) -> None:
        for tps, waiter in self._waiters:
            if not waiter.done() and not self.running(tps):
                waiter.set_result(None)
