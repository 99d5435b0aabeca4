"""One socket's view of a conversation's transcript: each entry once, in
``conversation_seq`` order, the stored ones (catch-up) and then the live ones.

Live entries come from the bridge as they are published; stored ones from the transcript
store, which the projection fills a moment later. Opening, the socket has the live
listener's next offsets (``LiveConversations.watch``): every later event comes live, every
earlier one is the store's to give. So once the store's watermarks reach those offsets
(``gateway/projection.py`` writes them after the entries), it is read again, and nothing
published before the socket opened is left behind; a projection that does not get there in
``gap_wait_s`` is logged and not waited for any longer.

An entry that arrives ahead of what the socket has (a gap) waits while the gap is read from
the store; if the store has moved past the gap without it (older entries trimmed away) or
still lacks it after ``gap_wait_s`` (the projection is behind), the socket moves on rather
than stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping

from redis.exceptions import RedisError

from gateway.conversation_events import Entry
from gateway.transcripts import Transcript, TranscriptStore

log = logging.getLogger(__name__)

BATCH = 500
"""Entries read from the store at once."""
GAP_WAIT_S = 5.0
_GAP_POLL_S = 0.1


def seq_of(entry: Entry) -> int:
    seq: int = entry["conversation_seq"]
    return seq


class TranscriptFeed:
    def __init__(
        self,
        store: TranscriptStore,
        conversation_id: str,
        *,
        after: int,
        send: Callable[[Entry], None],
        gap_wait_s: float = GAP_WAIT_S,
    ) -> None:
        self._store = store
        self._conversation_id = conversation_id
        self._send = send
        self._gap_wait_s = gap_wait_s
        self._live_from: dict[int, int] = {}
        """The live listener's next offset per partition when the socket began watching."""
        self._stored_through_live = True
        self._catching_up: asyncio.Task[None] | None = None
        self._delivered = after
        """The highest ``conversation_seq`` sent (or skipped past)."""
        self._known_last = after
        self._pending: dict[int, Entry] = {}
        self._held = True
        self._filling: asyncio.Task[None] | None = None

    @property
    def delivered(self) -> int:
        return self._delivered

    async def open(self, live_from: Mapping[int, int]) -> Transcript | None:
        """The conversation as stored (``None`` when unknown, or the store cannot be asked);
        entries offered meanwhile wait for :meth:`release`. ``live_from``: the offsets from
        which events are offered live (``LiveConversations.watch``)."""
        self._live_from = dict(live_from)
        try:
            self._stored_through_live = await self._stored_through(self._live_from)
            return await self._store.read(self._conversation_id, after=self._delivered, limit=BATCH)
        except (RedisError, OSError) as exc:
            log.warning("transcript store unavailable; no catch-up: %r", exc)
            self._stored_through_live = True  # nothing to wait for from it
            return None

    def release(self, transcript: Transcript | None) -> None:
        """Start sending: ``transcript`` (from :meth:`open`) first, then what was offered."""
        self._held = False
        if transcript is not None:
            self._merge(transcript)
        self._advance()
        if not self._stored_through_live:
            self._catching_up = asyncio.create_task(self._catch_up(), name="transcript-catch-up")

    def offer(self, entry: Entry) -> None:
        """A live entry; sent at once when it is next, else after the gap before it."""
        if seq_of(entry) > self._delivered:
            self._pending.setdefault(seq_of(entry), entry)
            if not self._held:
                self._advance()

    async def close(self) -> None:
        for task in (self._catching_up, self._filling):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _stored_through(self, offsets: Mapping[int, int]) -> bool:
        """Whether the store has every event below ``offsets``."""
        marks = await self._store.watermarks(offsets)
        return all(marks[partition] >= offset for partition, offset in offsets.items())

    async def _catch_up(self) -> None:
        """Reads the store once more, when it has what the live listener passed before."""
        started = time.monotonic()
        try:
            while not await self._stored_through(self._live_from):
                if time.monotonic() - started >= self._gap_wait_s:
                    log.warning(
                        "transcript projection not at the live listener's offsets in %.1f s; "
                        "catching up with what is stored",
                        self._gap_wait_s,
                    )
                    break
                await asyncio.sleep(_GAP_POLL_S)
            transcript = await self._store.read(
                self._conversation_id, after=self._delivered, limit=BATCH
            )
        except (RedisError, OSError) as exc:
            log.warning("transcript store unavailable while catching up: %r", exc)
            return  # the next live entry reads the gap
        if transcript is not None:
            self._merge(transcript)
            self._advance()

    def _merge(self, transcript: Transcript) -> None:
        self._known_last = max(self._known_last, transcript.last_seq)
        for entry in transcript.entries:
            if seq_of(entry) > self._delivered:
                self._pending.setdefault(seq_of(entry), entry)
        if transcript.entries and seq_of(transcript.entries[0]) > self._delivered + 1:
            # The store no longer holds what came between: it was trimmed away.
            self._delivered = seq_of(transcript.entries[0]) - 1

    def _advance(self) -> None:
        while (entry := self._pending.pop(self._delivered + 1, None)) is not None:
            self._delivered += 1
            self._send(entry)
        self._known_last = max(self._known_last, self._delivered)
        if self._behind() and (self._filling is None or self._filling.done()):
            self._filling = asyncio.create_task(self._fill(), name="transcript-gap")

    def _behind(self) -> bool:
        return bool(self._pending) or self._delivered < self._known_last

    async def _fill(self) -> None:
        started = time.monotonic()
        while self._behind():
            before = self._delivered
            try:
                transcript = await self._store.read(
                    self._conversation_id, after=self._delivered, limit=BATCH
                )
            except (RedisError, OSError) as exc:
                log.warning("transcript store unavailable while catching up: %r", exc)
                transcript = None
            if transcript is not None:
                self._merge(transcript)
                if not transcript.entries:
                    # Nothing stored after what was sent: only live entries are ahead.
                    self._known_last = max(self._delivered, transcript.last_seq)
            while (entry := self._pending.pop(self._delivered + 1, None)) is not None:
                self._delivered += 1
                self._send(entry)
            if self._delivered > before:
                started = time.monotonic()
                continue
            if time.monotonic() - started >= self._gap_wait_s:
                log.warning(
                    "transcript gap after seq %d not filled in %.1f s; moving on",
                    self._delivered,
                    self._gap_wait_s,
                )
                self._skip_gap()
                started = time.monotonic()
                continue
            await asyncio.sleep(_GAP_POLL_S)

    def _skip_gap(self) -> None:
        if self._pending:
            self._delivered = min(self._pending) - 1
        else:
            self._known_last = self._delivered
