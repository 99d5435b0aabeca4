from __future__ import annotations

from faust.types import TP

from streams.inflight import InFlightLedger

TP0, TP1 = TP("support.requests", 0), TP("support.requests", 1)


def test_floor_is_the_lowest_unsettled_offset_of_each_partition() -> None:
    ledger = InFlightLedger()
    tickets = {offset: ledger.take(TP0, offset) for offset in (5, 6, 7)}
    ledger.take(TP1, 3)

    ledger.settle(tickets[6])
    assert ledger.floor(TP0) == 5 and ledger.floor(TP1) == 3
    ledger.settle(tickets[5])
    assert ledger.floor(TP0) == 7


def test_a_redelivered_offset_holds_the_floor_until_each_delivery_settles() -> None:
    ledger = InFlightLedger()
    first, again = ledger.take(TP0, 9), ledger.take(TP0, 9)

    ledger.settle(first)
    assert ledger.floor(TP0) == 9
    ledger.settle(again)
    assert ledger.floor(TP0) is None


def test_a_handler_finishing_after_its_partition_was_released_changes_nothing() -> None:
    ledger = InFlightLedger()
    late = ledger.take(TP0, 1)
    ledger.release({TP0})
    fresh = ledger.take(TP0, 1)  # the partition came back and the message was read again

    ledger.settle(late)
    assert ledger.floor(TP0) == 1 and ledger.running({TP0}) == 1
    ledger.settle(fresh)
    assert ledger.floor(TP0) is None
