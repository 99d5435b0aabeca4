"""What every transcript store does (``gateway/transcripts.py``), run against the
in-process store by the unit tests and against Redis by the integration tests."""

from __future__ import annotations

import uuid
from datetime import timedelta

from gateway.transcripts import MAX_ENTRIES, TranscriptStore
from schemas import HandoffState, utc_now
from tests.handoff_events import handoff, message


def _conversation() -> str:
    return f"store-{uuid.uuid4().hex}"


async def unknown_conversation_reads_as_none(store: TranscriptStore) -> None:
    assert await store.read(_conversation()) is None


async def keeps_entries_in_seq_order_after_a_point(store: TranscriptStore) -> None:
    cid = _conversation()
    for seq in (1, 2, 3, 4):
        assert await store.append(message(cid, seq))
    transcript = await store.read(cid, after=1, limit=2)
    assert transcript is not None
    assert [e["conversation_seq"] for e in transcript.entries] == [2, 3]
    assert (transcript.last_seq, transcript.handoff_state) == (4, HandoffState.BOT)
    state_only = await store.read(cid, limit=0)
    assert state_only is not None and state_only.entries == [] and state_only.last_seq == 4


async def keeps_the_first_event_of_each_seq(store: TranscriptStore) -> None:
    cid = _conversation()
    assert await store.append(message(cid, 1, "the first"))
    assert not await store.append(message(cid, 1, "published again after a crash"))
    transcript = await store.read(cid)
    assert transcript is not None
    assert [e["text"] for e in transcript.entries] == ["the first"]


async def shapes_entries_as_the_websocket_sends_them(store: TranscriptStore) -> None:
    cid = _conversation()
    expected_by = utc_now() + timedelta(minutes=15)
    await store.append(
        handoff(cid, 1, HandoffState.AWAITING_AGENT, expected_response_by=expected_by)
    )
    await store.append(message(cid, 2, "Hello, Asha here"))
    transcript = await store.read(cid)
    assert transcript is not None
    change, reply = transcript.entries
    assert change["type"] == "handoff" and change["state"] == "awaiting_agent"
    assert change["previous_state"] == "bot" and change["notice"] == "now awaiting_agent"
    assert change["expected_response_by"] == expected_by.isoformat()
    assert reply["type"] == "agent_message" and reply["author"] == {"name": "Asha"}
    assert reply["text"] == "Hello, Asha here" and reply["message_id"] == "m-2"


async def follows_the_latest_handoff_state(store: TranscriptStore) -> None:
    cid = _conversation()
    await store.append(handoff(cid, 1, HandoffState.AWAITING_AGENT))
    await store.append(handoff(cid, 2, HandoffState.AGENT, HandoffState.AWAITING_AGENT))
    await store.append(handoff(cid, 2, HandoffState.CLOSED, HandoffState.AGENT))  # a duplicate seq
    transcript = await store.read(cid, limit=0)
    assert transcript is not None and transcript.handoff_state is HandoffState.AGENT
    await store.append(handoff(cid, 3, HandoffState.CLOSED, HandoffState.AGENT))
    transcript = await store.read(cid, limit=0)
    assert transcript is not None and transcript.handoff_state is HandoffState.CLOSED


async def keeps_only_the_newest_entries(store: TranscriptStore) -> None:
    cid = _conversation()
    for seq in range(1, MAX_ENTRIES + 6):
        await store.append(message(cid, seq))
    transcript = await store.read(cid, limit=3)
    assert transcript is not None
    assert [e["conversation_seq"] for e in transcript.entries] == [6, 7, 8]
    assert transcript.last_seq == MAX_ENTRIES + 5


async def indexes_conversations_awaiting_a_person(store: TranscriptStore) -> None:
    waiting, answered = _conversation(), _conversation()
    since = utc_now() - timedelta(minutes=20)
    expected_by = since + timedelta(minutes=15)
    for cid in (waiting, answered):
        await store.append(
            handoff(
                cid, 1, HandoffState.AWAITING_AGENT, expected_response_by=expected_by,
                occurred_at=since,
            )
        )  # fmt: skip
    await store.append(handoff(answered, 2, HandoffState.AGENT, HandoffState.AWAITING_AGENT))

    found = {a.conversation_id: a for a in await store.awaiting()}
    assert waiting in found and answered not in found
    wait = found[waiting]
    assert wait.handoff_seq == 1
    assert abs(wait.since - since.timestamp()) < 0.01
    assert abs(wait.expected_by - expected_by.timestamp()) < 0.01


async def lets_one_caller_claim_each_reminder(store: TranscriptStore) -> None:
    cid = _conversation()
    await store.append(handoff(cid, 1, HandoffState.AWAITING_AGENT))
    assert await store.claim_reminder(cid, 1)
    assert not await store.claim_reminder(cid, 1)
    assert await store.claim_reminder(cid, 5)  # a later wait of the same conversation


async def lets_a_released_reminder_be_claimed_again(store: TranscriptStore) -> None:
    cid = _conversation()
    await store.append(handoff(cid, 1, HandoffState.AWAITING_AGENT))
    assert await store.claim_reminder(cid, 1)
    await store.release_reminder(cid, 1)
    assert await store.claim_reminder(cid, 1)
    assert not await store.claim_reminder(cid, 1)


async def keeps_the_owner_of_the_current_state(store: TranscriptStore) -> None:
    cid = _conversation()
    expected_by = utc_now() + timedelta(minutes=15)
    await store.append(
        handoff(cid, 1, HandoffState.AWAITING_AGENT, expected_response_by=expected_by)
    )
    waiting = await store.read(cid, limit=0)
    assert waiting is not None
    assert (waiting.agent_name, waiting.expected_response_by) == (None, expected_by)
    await store.append(
        handoff(cid, 2, HandoffState.AGENT, HandoffState.AWAITING_AGENT, actor_name="Asha")
    )
    owned = await store.read(cid, limit=0)
    assert owned is not None and (owned.agent_name, owned.expected_response_by) == ("Asha", None)
    await store.append(handoff(cid, 3, HandoffState.BOT, HandoffState.AGENT, actor_name="Asha"))
    back = await store.read(cid, limit=0)
    assert back is not None and (back.agent_name, back.expected_response_by) == (None, None)


async def keeps_watermarks_that_only_rise(store: TranscriptStore) -> None:
    # Partitions far beyond any topic's: other tests' projections do not write them.
    low, high = 1_000_000 + uuid.uuid4().int % 1_000_000, 3_000_000
    assert await store.watermarks([low]) == {low: 0}
    await store.advance_watermark(low, 12)
    await store.advance_watermark(low, 7)  # a slower projection, after a rebalance
    await store.advance_watermark(high, 3)
    assert await store.watermarks([low, high]) == {low: 12, high: 3}


BEHAVIOURS = (
    unknown_conversation_reads_as_none,
    keeps_entries_in_seq_order_after_a_point,
    keeps_the_first_event_of_each_seq,
    shapes_entries_as_the_websocket_sends_them,
    follows_the_latest_handoff_state,
    keeps_only_the_newest_entries,
    indexes_conversations_awaiting_a_person,
    lets_one_caller_claim_each_reminder,
    lets_a_released_reminder_be_claimed_again,
    keeps_the_owner_of_the_current_state,
    keeps_watermarks_that_only_rise,
)
