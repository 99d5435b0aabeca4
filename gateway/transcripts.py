"""Each conversation's transcript and handoff state, as the gateways project them from
``support.conversation-events`` (``gateway/projection.py`` writes, everything else reads).

Two stores with one interface: :class:`RedisTranscripts`, shared by every gateway, and
:class:`LocalTranscripts`, in process, for a single gateway without ``REDIS_URL``. Both
keep the first event of each ``seq`` (a worker that crashed publishes some again), the
last ``MAX_ENTRIES`` entries of a conversation, and forget a conversation
``CONVERSATION_TTL_S`` after its last event. Conversations awaiting a person are indexed
for the reminder timer (``gateway/reminders.py``). Per partition of the topic, a watermark
says up to which offset every event is stored (``gateway/feed.py`` waits for it).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, cast

import orjson
from cachetools import TTLCache
from redis.asyncio import Redis

from gateway.conversation_events import ConversationEvent, Entry, entry_of
from runtime.redis import TRANSCRIPT_PREFIX
from schemas import HandoffChanged, HandoffState

MAX_ENTRIES = 1000
"""Entries a conversation keeps; older ones are dropped (a reader after them gets the
newest ones, from the oldest kept)."""
MAX_AWAITING = 10_000
"""Awaiting conversations the reminder timer looks at, at most, per tick."""
_LOCAL_CONVERSATIONS = 100_000
"""Conversations the in-process store holds at most; the least recently written go first."""

AWAITING_KEY = TRANSCRIPT_PREFIX + "awaiting"
"""Sorted set: conversation id -> when its reply is expected (Unix seconds)."""
WATERMARKS_KEY = TRANSCRIPT_PREFIX + "watermarks"
"""Hash: partition -> the offset below which every event of it is stored. Never lowered,
and kept without expiry: one field per partition."""


@dataclass(frozen=True, slots=True)
class Transcript:
    handoff_state: HandoffState
    last_seq: int
    """The highest ``seq`` seen: entries may be asked for after it."""
    entries: list[Entry]
    agent_name: str | None = None
    """The agent who owns the conversation, in state ``agent``."""
    expected_response_by: datetime | None = None
    """When a person's reply is expected, in state ``awaiting_agent``."""


@dataclass(frozen=True, slots=True)
class Awaiting:
    """A conversation waiting for a person since its handoff event ``handoff_seq``."""

    conversation_id: str
    handoff_seq: int
    since: float
    expected_by: float
    """Unix seconds; the handoff's time when it named no ``expected_response_by``."""


class TranscriptStore(Protocol):
    async def append(self, event: ConversationEvent) -> bool:
        """Record ``event``; ``False`` when an event of its ``seq`` is already recorded."""

    async def read(
        self, conversation_id: str, *, after: int = 0, limit: int = 100
    ) -> Transcript | None:
        """Up to ``limit`` entries with ``conversation_seq`` > ``after``, in order; ``None``
        for a conversation never seen (or forgotten)."""

    async def awaiting(self) -> list[Awaiting]:
        """The conversations awaiting a person, soonest expected first."""

    async def claim_reminder(self, conversation_id: str, handoff_seq: int) -> bool:
        """``True`` for the one caller (across gateways) that may remind this wait."""

    async def release_reminder(self, conversation_id: str, handoff_seq: int) -> None:
        """Give up a claim whose reminder was not sent: a later claim may take it."""

    async def advance_watermark(self, partition: int, offset: int) -> None:
        """Every event of ``partition`` below ``offset`` is stored; a lower watermark than
        the one recorded is ignored."""

    async def watermarks(self, partitions: Iterable[int]) -> dict[int, int]:
        """The watermark of each of ``partitions`` (0 when none is recorded)."""


def _expected_by(event: HandoffChanged) -> float:
    return (event.expected_response_by or event.occurred_at).timestamp()


def _owner(event: HandoffChanged) -> tuple[str | None, datetime | None]:
    """The agent and the expected reply time of the state ``event`` enters, as kept."""
    agent = event.actor_name if event.state is HandoffState.AGENT else None
    awaiting = event.state is HandoffState.AWAITING_AGENT
    return agent, event.expected_response_by if awaiting else None


# KEYS: entries (sorted by seq), state (hash), the awaiting index.
# ARGV: seq, entry JSON, TTL s, max entries, conversation id, new state or "", expected by,
# since, agent name or "", expected response by (ISO 8601) or "". Returns 1 when recorded, 0
# when the seq was already there.
_APPEND = """
local seq = tonumber(ARGV[1])
if redis.call('ZCOUNT', KEYS[1], seq, seq) > 0 then return 0 end
redis.call('ZADD', KEYS[1], seq, ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))
if seq > tonumber(redis.call('HGET', KEYS[2], 'last_seq') or '0') then
  redis.call('HSET', KEYS[2], 'last_seq', seq, 'conversation_id', ARGV[5])
end
if ARGV[6] ~= '' and seq > tonumber(redis.call('HGET', KEYS[2], 'state_seq') or '0') then
  redis.call('HSET', KEYS[2], 'state', ARGV[6], 'state_seq', seq, 'since', ARGV[8],
             'expected_by', ARGV[7], 'agent', ARGV[9], 'expected_response_by', ARGV[10])
  if ARGV[6] == 'awaiting_agent' then
    redis.call('ZADD', KEYS[3], ARGV[7], ARGV[5])
  else
    redis.call('ZREM', KEYS[3], ARGV[5])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
return 1
"""

# KEYS: the watermarks hash. ARGV: partition, offset.
_ADVANCE = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
"""


def _base_key(conversation_id: str) -> str:
    # Hashed: keys stay short and free of customer-chosen characters.
    return TRANSCRIPT_PREFIX + hashlib.sha256(conversation_id.encode()).hexdigest()


class RedisTranscripts:
    """Raises ``RedisError``/``OSError`` when Redis cannot be asked; callers decide."""

    def __init__(self, redis: Redis, *, ttl_s: int) -> None:
        """``redis`` is shared; its owner closes it."""
        self._redis = redis
        self._ttl_s = ttl_s
        self._append = redis.register_script(_APPEND)
        self._advance = redis.register_script(_ADVANCE)

    async def append(self, event: ConversationEvent) -> bool:
        base = _base_key(event.conversation_id)
        handoff = event if isinstance(event, HandoffChanged) else None
        agent, expected = _owner(handoff) if handoff else (None, None)
        recorded = await self._append(
            keys=[base + ":entries", base + ":state", AWAITING_KEY],
            args=[
                event.seq,
                orjson.dumps(entry_of(event)),
                self._ttl_s,
                MAX_ENTRIES,
                event.conversation_id,
                handoff.state.value if handoff else "",
                _expected_by(handoff) if handoff else 0,
                handoff.occurred_at.timestamp() if handoff else 0,
                agent or "",
                expected.isoformat() if expected else "",
            ],
        )
        return bool(recorded)

    async def read(
        self, conversation_id: str, *, after: int = 0, limit: int = 100
    ) -> Transcript | None:
        base = _base_key(conversation_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hmget(base + ":state", "state", "last_seq", "agent", "expected_response_by")
            pipe.zrangebyscore(base + ":entries", f"({after}", "+inf", start=0, num=limit)
            (state, last_seq, agent, expected), raw_entries = await pipe.execute()
        if last_seq is None:
            return None
        return Transcript(
            handoff_state=HandoffState(state.decode()) if state else HandoffState.BOT,
            last_seq=int(last_seq),
            entries=[orjson.loads(raw) for raw in raw_entries] if limit else [],
            agent_name=agent.decode() if agent else None,
            expected_response_by=datetime.fromisoformat(expected.decode()) if expected else None,
        )

    async def awaiting(self) -> list[Awaiting]:
        members = cast(
            list[tuple[bytes, float]],
            await self._redis.zrange(AWAITING_KEY, 0, MAX_AWAITING - 1, withscores=True),
        )
        async with self._redis.pipeline(transaction=False) as pipe:
            for member, _ in members:
                pipe.hmget(_base_key(member.decode()) + ":state", "state", "state_seq", "since")
            states: list[list[bytes | None]] = await pipe.execute()
        found: list[Awaiting] = []
        gone: list[bytes] = []
        for (member, expected_by), (state, state_seq, since) in zip(members, states, strict=True):
            if state is None or state_seq is None or since is None:
                gone.append(member)  # its transcript expired while it waited
                continue
            if state != HandoffState.AWAITING_AGENT.value.encode():
                continue  # changed since the index was read
            found.append(
                Awaiting(member.decode(), int(state_seq), float(since), float(expected_by))
            )
        if gone:
            await self._redis.zrem(AWAITING_KEY, *gone)
        return found

    async def claim_reminder(self, conversation_id: str, handoff_seq: int) -> bool:
        key = f"{_base_key(conversation_id)}:reminded:{handoff_seq}"
        return bool(await self._redis.set(key, b"1", nx=True, ex=self._ttl_s))

    async def release_reminder(self, conversation_id: str, handoff_seq: int) -> None:
        # EXPIRE 0 deletes the key: the gateway's Redis user may expire keys, not DEL them.
        await self._redis.expire(f"{_base_key(conversation_id)}:reminded:{handoff_seq}", 0)

    async def advance_watermark(self, partition: int, offset: int) -> None:
        await self._advance(keys=[WATERMARKS_KEY], args=[partition, offset])

    async def watermarks(self, partitions: Iterable[int]) -> dict[int, int]:
        wanted = list(partitions)
        if not wanted:
            return {}
        marks = await self._redis.hmget(WATERMARKS_KEY, [str(p) for p in wanted])
        return {p: int(mark) if mark else 0 for p, mark in zip(wanted, marks, strict=True)}


@dataclass(slots=True)
class _Conversation:
    entries: dict[int, Entry] = field(default_factory=dict)
    last_seq: int = 0
    state: HandoffState = HandoffState.BOT
    state_seq: int = 0
    since: float = 0.0
    expected_by: float = 0.0
    agent_name: str | None = None
    expected_response_by: datetime | None = None
    reminded: set[int] = field(default_factory=set)


class LocalTranscripts:
    """The same store in this process, for one gateway without Redis."""

    def __init__(self, *, ttl_s: int) -> None:
        # The TTL restarts on every write, as the Redis keys' EXPIRE does.
        self._conversations: TTLCache[str, _Conversation] = TTLCache(
            _LOCAL_CONVERSATIONS, ttl_s, timer=time.monotonic
        )
        self._watermarks: dict[int, int] = {}
        self._lock = threading.Lock()

    async def append(self, event: ConversationEvent) -> bool:
        with self._lock:
            conversation = self._conversations.get(event.conversation_id) or _Conversation()
            self._conversations[event.conversation_id] = conversation
            if event.seq in conversation.entries:
                return False
            conversation.entries[event.seq] = entry_of(event)
            if len(conversation.entries) > MAX_ENTRIES:
                for seq in sorted(conversation.entries)[: len(conversation.entries) - MAX_ENTRIES]:
                    del conversation.entries[seq]
            conversation.last_seq = max(conversation.last_seq, event.seq)
            if isinstance(event, HandoffChanged) and event.seq > conversation.state_seq:
                conversation.state = event.state
                conversation.state_seq = event.seq
                conversation.since = event.occurred_at.timestamp()
                conversation.expected_by = _expected_by(event)
                conversation.agent_name, conversation.expected_response_by = _owner(event)
            return True

    async def read(
        self, conversation_id: str, *, after: int = 0, limit: int = 100
    ) -> Transcript | None:
        with self._lock:
            conversation = self._conversations.get(conversation_id)
            if conversation is None:
                return None
            seqs = sorted(seq for seq in conversation.entries if seq > after)[:limit]
            return Transcript(
                conversation.state,
                conversation.last_seq,
                [conversation.entries[seq] for seq in seqs],
                conversation.agent_name,
                conversation.expected_response_by,
            )

    async def awaiting(self) -> list[Awaiting]:
        with self._lock:
            found = [
                Awaiting(cid, c.state_seq, c.since, c.expected_by)
                for cid, c in self._conversations.items()
                if c.state is HandoffState.AWAITING_AGENT
            ]
        return sorted(found, key=lambda a: a.expected_by)[:MAX_AWAITING]

    async def claim_reminder(self, conversation_id: str, handoff_seq: int) -> bool:
        with self._lock:
            conversation = self._conversations.get(conversation_id)
            if conversation is None or handoff_seq in conversation.reminded:
                return False
            conversation.reminded.add(handoff_seq)
            return True

    async def release_reminder(self, conversation_id: str, handoff_seq: int) -> None:
        with self._lock:
            conversation = self._conversations.get(conversation_id)
            if conversation is not None:
                conversation.reminded.discard(handoff_seq)

    async def advance_watermark(self, partition: int, offset: int) -> None:
        with self._lock:
            self._watermarks[partition] = max(offset, self._watermarks.get(partition, 0))

    async def watermarks(self, partitions: Iterable[int]) -> dict[int, int]:
        with self._lock:
            return {p: self._watermarks.get(p, 0) for p in partitions}
