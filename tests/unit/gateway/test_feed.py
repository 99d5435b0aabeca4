from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable

import pytest

from gateway.conversation_events import Entry, entry_of
from gateway.feed import BATCH, TranscriptFeed
from gateway.transcripts import LocalTranscripts, Transcript
from tests.handoff_events import message


class Socket:
    def __init__(self) -> None:
        self.sent: list[int] = []
        self.changed = asyncio.Event()

    def send(self, entry: Entry) -> None:
        self.sent.append(entry["conversation_seq"])
        self.changed.set()

    async def until(self, count: int) -> list[int]:
        async with asyncio.timeout(5):
            while len(self.sent) < count:
                self.changed.clear()
                await self.changed.wait()
        return self.sent


async def opened(
    store: LocalTranscripts,
    cid: str,
    after: int = 0,
    live_from: dict[int, int] | None = None,
    **options: float,
) -> tuple[TranscriptFeed, Socket]:
    socket = Socket()
    feed = TranscriptFeed(store, cid, after=after, send=socket.send, **options)
    feed.release(await feed.open(live_from or {}))
    return feed, socket


async def stored(store: LocalTranscripts, cid: str, *seqs: int) -> None:
    for seq in seqs:
        await store.append(message(cid, seq))


def live(cid: str, seq: int) -> Entry:
    return entry_of(message(cid, seq))


async def test_catch_up_sends_what_follows_after_then_live_entries_in_order() -> None:
    store, cid = LocalTranscripts(ttl_s=3600), uuid.uuid4().hex
    await stored(store, cid, 1, 2, 3)
    feed, socket = await opened(store, cid, after=1)
    feed.offer(live(cid, 3))  # the live copy of one caught up
    feed.offer(live(cid, 4))
    feed.offer(live(cid, 4))
    assert await socket.until(3) == [2, 3, 4]
    await feed.close()


async def test_entries_offered_before_release_wait_for_the_catch_up() -> None:
    store, cid = LocalTranscripts(ttl_s=3600), uuid.uuid4().hex
    await stored(store, cid, 1, 2)
    socket = Socket()
    feed = TranscriptFeed(store, cid, after=0, send=socket.send)
    transcript = await feed.open({})
    feed.offer(live(cid, 3))
    assert socket.sent == []
    feed.release(transcript)
    assert await socket.until(3) == [1, 2, 3]
    await feed.close()


async def test_live_entry_ahead_reads_the_gap_from_the_store() -> None:
    store, cid = LocalTranscripts(ttl_s=3600), uuid.uuid4().hex
    feed, socket = await opened(store, cid)
    await stored(store, cid, 1, 2)  # published while the socket was not watching
    feed.offer(live(cid, 3))
    assert await socket.until(3) == [1, 2, 3]
    await feed.close()


class CountedReads(LocalTranscripts):
    def __init__(self) -> None:
        super().__init__(ttl_s=3600)
        self.reads = 0

    async def read(
        self, conversation_id: str, *, after: int = 0, limit: int = 100
    ) -> Transcript | None:
        self.reads += 1
        return await super().read(conversation_id, after=after, limit=limit)


async def test_gap_the_store_has_not_caught_up_with_is_filled_once_it_has() -> None:
    store, cid = CountedReads(), uuid.uuid4().hex
    feed, socket = await opened(store, cid)
    feed.offer(live(cid, 2))
    async with asyncio.timeout(5):
        while store.reads < 4:  # the projection is behind: the gap is asked for again
            await asyncio.sleep(0.01)
    assert socket.sent == []
    await stored(store, cid, 1)
    assert await socket.until(2) == [1, 2]
    await feed.close()


async def test_gap_never_filled_is_skipped_after_the_wait() -> None:
    store, cid = LocalTranscripts(ttl_s=3600), uuid.uuid4().hex
    feed, socket = await opened(store, cid, gap_wait_s=0.3)
    feed.offer(live(cid, 3))
    feed.offer(live(cid, 4))
    assert await socket.until(2) == [3, 4]
    feed.offer(live(cid, 2))  # too late: already moved past it
    feed.offer(live(cid, 5))
    assert await socket.until(3) == [3, 4, 5]
    await feed.close()


async def test_catch_up_longer_than_one_read_arrives_whole() -> None:
    store, cid = LocalTranscripts(ttl_s=3600), uuid.uuid4().hex
    await stored(store, cid, *range(1, BATCH + 11))
    feed, socket = await opened(store, cid)
    assert await socket.until(BATCH + 10) == list(range(1, BATCH + 11))
    await feed.close()


class CountedWatermarks(LocalTranscripts):
    def __init__(self) -> None:
        super().__init__(ttl_s=3600)
        self.asked = 0

    async def watermarks(self, partitions: Iterable[int]) -> dict[int, int]:
        self.asked += 1
        return await super().watermarks(partitions)


async def test_entry_the_projection_stores_late_arrives_once_it_is_stored() -> None:
    store, cid = CountedWatermarks(), uuid.uuid4().hex
    await stored(store, cid, 1)
    await store.advance_watermark(0, 40)
    opened_at = time.monotonic()
    # Event 2, at offset 40, reached the live listener before the socket watched.
    feed, socket = await opened(store, cid, live_from={0: 41, 1: 7}, gap_wait_s=30)
    assert await socket.until(1) == [1]
    async with asyncio.timeout(5):  # the projection lags longer than a timed re-read waited
        while time.monotonic() - opened_at < 1.5 or store.asked < 3:
            await asyncio.sleep(0.01)
    assert socket.sent == [1]

    await stored(store, cid, 2)
    await store.advance_watermark(0, 41)
    await store.advance_watermark(1, 7)

    assert await socket.until(2) == [1, 2]
    feed.offer(live(cid, 2))  # its live copy, had the listener passed it again
    feed.offer(live(cid, 3))
    assert await socket.until(3) == [1, 2, 3]
    await feed.close()


async def test_stuck_projection_is_waited_for_no_longer_than_the_gap_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, cid = LocalTranscripts(ttl_s=3600), uuid.uuid4().hex
    await stored(store, cid, 1)
    with caplog.at_level(logging.WARNING, logger="gateway.feed"):
        feed, socket = await opened(store, cid, live_from={0: 5}, gap_wait_s=0.3)
        assert await socket.until(1) == [1]
        async with asyncio.timeout(5):
            while "not at the live listener's offsets" not in caplog.text:
                await asyncio.sleep(0.01)
    feed.offer(live(cid, 2))
    assert await socket.until(2) == [1, 2]
    await feed.close()


async def test_store_at_the_live_offsets_is_read_once() -> None:
    store, cid = CountedReads(), uuid.uuid4().hex
    await stored(store, cid, 1, 2)
    await store.advance_watermark(0, 9)
    feed, socket = await opened(store, cid, live_from={0: 9})
    assert await socket.until(2) == [1, 2]
    assert store.reads == 1
    await feed.close()
