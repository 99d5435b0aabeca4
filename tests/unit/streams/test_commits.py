"""The worker's consumer keeps no last-read offsets, so Faust drops no fetched message."""

from __future__ import annotations

from faust.types import TP

from streams.commits import NoReadOffsets

TP2 = TP("support.requests", 2)


def test_an_offset_set_by_a_seek_or_a_read_is_never_remembered() -> None:
    offsets = NoReadOffsets()
    offsets.update({TP2: 86})  # Faust's perform_seek
    offsets[TP2] = 88  # Faust's fetch loop, after handing out a message

    # Faust hands a fetched message on when its last-read offset is None.
    assert offsets[TP2] is None
    assert offsets.pop(TP2, None) is None
    assert len(offsets) == 0 and list(offsets) == []
