"""Concurrent handling of a partition's messages, one conversation in order.

Each message becomes a task that waits for the previous message of its lane (its
partition and key, i.e. its conversation) before it takes one of ``concurrency`` slots,
so a conversation with a backlog waits without holding a slot and other conversations
are served by the free ones. At most ``max_pending`` messages are held at once; past
that, :meth:`ConversationDispatcher.submit` waits, which stops the consumer reading.
Every message is recorded in the :class:`~streams.inflight.InFlightLedger` before
``submit`` returns and settled once handled, which is what lets the consumer commit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Set

from faust.types import TP

from streams import metrics
from streams.inbound import InboundMessage
from streams.inflight import InFlightLedger, Ticket

log = logging.getLogger(__name__)

Lane = tuple[str, int, bytes | None]


class ConversationDispatcher:
    def __init__(
        self,
        handle: Callable[[InboundMessage], Awaitable[None]],
        ledger: InFlightLedger,
        *,
        concurrency: int,
        max_pending: int,
    ) -> None:
        self._handle = handle
        self._ledger = ledger
        self._slots = asyncio.Semaphore(concurrency)
        self._room = asyncio.Semaphore(max_pending)
        self._tails: dict[Lane, tuple[Ticket, asyncio.Task[None]]] = {}
        """The last message taken in of each lane, which the lane's next one waits for."""
        self._waiting: dict[Ticket, asyncio.Task[None]] = {}

    async def submit(self, message: InboundMessage, *, context: object = None) -> None:
        """Take ``message`` in; returns once it is recorded, usually before it is handled.
        ``context`` is kept alive until then (Faust's event, which table writes need)."""
        await self._room.acquire()
        ticket = self._ledger.take(TP(message.topic, message.partition), message.offset)
        lane: Lane = (message.topic, message.partition, message.key)
        previous = self._tails.get(lane)
        task = asyncio.create_task(
            self._run(ticket, lane, previous[1] if previous else None, message, context)
        )
        self._tails[lane] = (ticket, task)
        self._waiting[ticket] = task
        metrics.IN_FLIGHT.inc()

    def abandon(self, partitions: Set[TP]) -> None:
        """Drop the messages of ``partitions`` that have not started: a rebalance moves
        them to another worker, which reads them again from the last commit."""
        for ticket, task in list(self._waiting.items()):
            if ticket.tp in partitions:
                self._ledger.abandon(ticket)
                task.cancel()
                del self._waiting[ticket]

    async def _run(
        self,
        ticket: Ticket,
        lane: Lane,
        previous: asyncio.Task[None] | None,
        message: InboundMessage,
        context: object,
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            async with self._slots:
                self._waiting.pop(ticket, None)
                await self._handle(message)
            self._ledger.settle(ticket)
        except asyncio.CancelledError:
            raise
        except Exception:
            # The handler answers or dead-letters everything it can; what escapes it
            # is abandoned: the partition's commits stop below it until the partition
            # moves or the worker restarts, and then it is processed again.
            self._ledger.abandon(ticket)
            metrics.UNSETTLED.inc()
            log.exception(
                "message %s/%d@%d could not be settled; its offset stays uncommitted",
                message.topic,
                message.partition,
                message.offset,
            )
        finally:
            self._waiting.pop(ticket, None)
            metrics.IN_FLIGHT.dec()
            self._room.release()
            if (tail := self._tails.get(lane)) is not None and tail[0] is ticket:
                del self._tails[lane]
