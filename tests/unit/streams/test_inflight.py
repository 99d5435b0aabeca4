from __future__ import annotations

import logging

import pytest
from faust.types import TP
from prometheus_client import REGISTRY

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


def skipped_total() -> float:
    return REGISTRY.get_sample_value("techgear_worker_skipped_offsets_total") or 0.0


def test_offsets_that_never_arrive_are_counted_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = InFlightLedger()
    ledger.expect({TP0: 10, TP1: 4})
    before = skipped_total()

    ledger.take(TP0, 10)
    ledger.take(TP0, 11)
    ledger.take(TP1, 4)
    assert skipped_total() == before
    with caplog.at_level(logging.WARNING, logger="streams.inflight"):
        ledger.take(TP0, 14)  # 12 and 13 were skipped

    assert skipped_total() == before + 2
    assert "offsets 12 to 13 of support.requests/0 never reached the worker" in caplog.text


def test_a_partition_read_again_from_an_earlier_offset_is_no_hole() -> None:
    ledger = InFlightLedger()
    ledger.expect({TP0: 10})
    before = skipped_total()

    ledger.take(TP0, 10)
    ledger.take(TP0, 11)
    ledger.expect({TP0: 10})  # sought back to the commit: a redelivery
    ledger.take(TP0, 10)
    ledger.take(TP0, 11)
    ledger.release([TP0])
    ledger.take(TP0, 30)  # reassigned: nothing is expected until the consumer seeks

    assert skipped_total() == before


def test_messages_taken_before_the_seek_is_known_are_no_hole() -> None:
    ledger = InFlightLedger()
    before = skipped_total()

    ledger.take(TP0, 69)  # the fetcher resumed before the seek's result reached the ledger
    ledger.expect({TP0: 69})
    ledger.take(TP0, 70)

    assert skipped_total() == before


def test_a_head_skipped_before_the_seek_is_known_is_a_hole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ledger = InFlightLedger()
    before = skipped_total()

    with caplog.at_level(logging.WARNING, logger="streams.inflight"):
        ledger.take(TP1, 87)
        ledger.expect({TP1: 86})

    assert skipped_total() == before + 1
    assert "offsets 86 to 86 of support.requests/1 never reached the worker" in caplog.text


def test_a_hole_is_read_again_and_holds_the_floor_until_it_arrives() -> None:
    ledger = InFlightLedger()
    read_again: list[tuple[TP, int]] = []
    ledger.read_again = lambda tp, offset: read_again.append((tp, offset))
    ledger.expect({TP0: 86})

    ledger.settle(ledger.take(TP0, 87))
    assert read_again == [(TP0, 86)]
    assert ledger.floor(TP0) == 86  # nothing past the hole is committed

    redelivered = ledger.take(TP0, 86)  # the consumer sought back to it
    ledger.settle(redelivered)
    ledger.settle(ledger.take(TP0, 87))
    assert ledger.floor(TP0) is None
    assert read_again == [(TP0, 86)]
