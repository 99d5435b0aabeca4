from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest
from faust.types import TP

from streams.dispatch import ConversationDispatcher
from streams.inbound import InboundMessage
from streams.inflight import InFlightLedger

TOPIC = "support.requests"


class GatedHandler:
    """Records the messages it starts; each waits for its key's gate, or ``fail``s."""

    def __init__(self) -> None:
        self.started: list[int] = []
        self.finished: list[int] = []
        self.gates: dict[bytes | None, asyncio.Event] = {}
        self.fail: set[int] = set()

    def gate(self, key: bytes) -> asyncio.Event:
        return self.gates.setdefault(key, asyncio.Event())

    async def __call__(self, message: InboundMessage) -> None:
        self.started.append(message.offset)
        await self.gate(message.key or b"").wait()
        if message.offset in self.fail:
            raise RuntimeError("dead letter refused")
        self.finished.append(message.offset)


@pytest.fixture
def handle() -> Iterator[GatedHandler]:
    """The handler; every gate opens at the end, so no test leaves a task behind."""
    gated = GatedHandler()
    yield gated
    for gate in gated.gates.values():
        gate.set()


@pytest.fixture
async def ledger(handle: GatedHandler) -> AsyncIterator[InFlightLedger]:
    """The ledger; the test ends once every message it took in has finished."""
    book = InFlightLedger()
    yield book
    for gate in handle.gates.values():
        gate.set()
    assert await book.wait_settled({TP(TOPIC, p) for p in range(2)}, timeout_s=10)


def message(offset: int, key: bytes, partition: int = 0) -> InboundMessage:
    return InboundMessage(
        topic=TOPIC, partition=partition, offset=offset, key=key, value=b"", headers={}
    )


async def settle_loop() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def dispatcher(
    handle: GatedHandler, ledger: InFlightLedger, concurrency: int = 4, max_pending: int = 100
) -> ConversationDispatcher:
    return ConversationDispatcher(handle, ledger, concurrency=concurrency, max_pending=max_pending)


async def test_one_conversation_in_order_others_in_parallel(
    handle: GatedHandler, ledger: InFlightLedger
) -> None:
    dispatch = dispatcher(handle, ledger)
    for offset, key in [(0, b"a"), (1, b"a"), (2, b"b")]:
        await dispatch.submit(message(offset, key))
    await settle_loop()
    assert handle.started == [0, 2]  # 1 waits for 0, its conversation's earlier question

    handle.gate(b"a").set()
    handle.gate(b"b").set()
    await settle_loop()
    assert handle.started == [0, 2, 1] and handle.finished.index(0) < handle.finished.index(1)


async def test_a_conversations_backlog_does_not_take_the_free_slots(
    handle: GatedHandler, ledger: InFlightLedger
) -> None:
    dispatch = dispatcher(handle, ledger, concurrency=2, max_pending=200)
    for offset in range(120):
        await dispatch.submit(message(offset, b"busy"))
    await dispatch.submit(message(120, b"other"))
    await settle_loop()
    assert handle.started == [0, 120]

    handle.gate(b"other").set()
    await settle_loop()
    assert handle.finished == [120]


async def test_commit_floor_stays_at_a_slow_head_message_while_later_ones_finish(
    handle: GatedHandler, ledger: InFlightLedger
) -> None:
    dispatch = dispatcher(handle, ledger)
    tp = TP(TOPIC, 0)
    await dispatch.submit(message(201, b"slow"))
    for offset in range(202, 206):
        await dispatch.submit(message(offset, f"quick-{offset}".encode()))
        handle.gate(f"quick-{offset}".encode()).set()
    await settle_loop()
    assert handle.finished == [202, 203, 204, 205]
    assert ledger.floor(tp) == 201

    handle.gate(b"slow").set()
    await settle_loop()
    assert ledger.floor(tp) is None


async def test_a_message_that_cannot_be_settled_holds_the_floor(
    handle: GatedHandler, ledger: InFlightLedger
) -> None:
    handle.fail.add(7)
    dispatch = dispatcher(handle, ledger)
    await dispatch.submit(message(7, b"poison"))
    await dispatch.submit(message(8, b"poison"))
    handle.gate(b"poison").set()
    await settle_loop()
    assert handle.finished == [8]  # the conversation goes on
    assert ledger.floor(TP(TOPIC, 0)) == 7


async def test_abandoned_messages_never_run_and_hold_the_floor_until_released(
    handle: GatedHandler, ledger: InFlightLedger
) -> None:
    dispatch = dispatcher(handle, ledger)
    revoked = TP(TOPIC, 1)
    await dispatch.submit(message(10, b"a", partition=1))
    await dispatch.submit(message(11, b"a", partition=1))
    await dispatch.submit(message(5, b"b", partition=0))
    await settle_loop()

    dispatch.abandon({revoked})
    drained = asyncio.create_task(ledger.wait_settled({revoked}, timeout_s=5))
    handle.gate(b"a").set()
    assert await drained
    await settle_loop()
    assert handle.started == [10, 5] and handle.finished == [10]
    assert ledger.floor(revoked) == 11  # the last commit before the move cannot pass it

    ledger.release({revoked})
    assert ledger.floor(revoked) is None and ledger.floor(TP(TOPIC, 0)) == 5


async def test_submit_waits_while_max_pending_messages_are_held(
    handle: GatedHandler, ledger: InFlightLedger
) -> None:
    dispatch = dispatcher(handle, ledger, max_pending=2)
    await dispatch.submit(message(0, b"a"))
    await dispatch.submit(message(1, b"a"))
    third = asyncio.create_task(dispatch.submit(message(2, b"a")))
    await settle_loop()
    assert not third.done()

    handle.gate(b"a").set()
    await asyncio.wait_for(third, timeout=5)
    await settle_loop()
    assert handle.finished == [0, 1, 2]


@pytest.mark.parametrize("running", [True, False])
async def test_wait_settled_reports_whether_running_messages_finished(
    running: bool, handle: GatedHandler, ledger: InFlightLedger
) -> None:
    dispatch = dispatcher(handle, ledger)
    await dispatch.submit(message(0, b"a"))
    await settle_loop()
    if not running:
        handle.gate(b"a").set()
        await settle_loop()
    assert await ledger.wait_settled({TP(TOPIC, 0)}, timeout_s=0.05) is not running
