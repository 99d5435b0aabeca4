from __future__ import annotations

from datetime import UTC, datetime

from schemas import Category, ChatAnswer, EscalationReason, HandoffState
from streams.context import ConversationContext
from streams.memory import (
    KEPT_ANSWERS,
    MAX_TURNS,
    REMEMBERED_APPLIED,
    ConversationState,
    DictMemory,
    TicketRef,
    Turn,
    decode_state,
    encode_state,
)


def test_memory_keeps_only_the_last_turns() -> None:
    memory = DictMemory()
    state = memory.load("c")
    for n in range(MAX_TURNS + 3):
        state.remember(Turn(f"q{n}", f"a{n}"))
    memory.save("c", state)
    assert [t.question for t in memory.load("c").turns][0] == "q3"
    assert len(memory.load("c").turns) == MAX_TURNS and memory.load("other").turns == []


def test_state_round_trips_through_bytes() -> None:
    state = ConversationState(
        turns=[Turn("q", "a", ("doc-1",))],
        ticket=TicketRef("e-1", 1000.0),
        owner="key:aaa",
        handoff=HandoffState.AGENT,
        handoff_since=1500.5,
        handoff_reason=EscalationReason.COMPLAINT,
        agent_name="Asha",
        reminded=True,
        last_seq=7,
        context=ConversationContext(("product-fitband-3",), "TG48213", "order_status"),
    )
    state.mark_applied("r-1")
    state.keep(answer("r-1"))
    assert decode_state(encode_state(state)) == state and decode_state(None) == ConversationState()


def answer(request_id: str) -> ChatAnswer:
    return ChatAnswer(
        request_id=request_id,
        conversation_id="c",
        correlation_id="k",
        answer=f"The answer to {request_id}.",
        category=Category.PRODUCT_INFO,
        confidence=0.9,
        responder="offline",
        request_created_at=datetime(2026, 12, 7, 6, 0, tzinfo=UTC),
        transcript_seq=2,
    )


def test_only_the_last_answers_are_kept_and_found_by_request() -> None:
    state = ConversationState()
    for n in range(KEPT_ANSWERS + 2):
        state.keep(answer(f"r-{n}"))

    assert [a.request_id for a in state.answers] == [f"r-{n}" for n in range(2, KEPT_ANSWERS + 2)]
    kept = state.kept_answer("r-2")
    assert kept is not None and kept.answer == "The answer to r-2."
    assert state.kept_answer("r-1") is None


def test_applied_ids_are_bounded_and_keep_the_latest() -> None:
    state = ConversationState()
    for n in range(REMEMBERED_APPLIED + 5):
        state.mark_applied(f"zendesk:comment:{n}")
    assert len(state.applied) == REMEMBERED_APPLIED
    assert state.has_applied(f"zendesk:comment:{REMEMBERED_APPLIED + 4}")
    assert not state.has_applied("zendesk:comment:4")


def test_state_saved_before_handoffs_is_a_bot_conversation_that_knows_its_escalations() -> None:
    old = (
        b'{"turns": [{"q": "I want a human", "a": "...", "docs": []}], '
        b'"ticket": {"event_id": "e-1", "opened_at": 1000.0}, "escalated": ["r-1"], '
        b'"owner": "key:aaa"}'
    )
    state = decode_state(old)
    assert state.handoff is HandoffState.BOT and state.last_seq == 0 and not state.reminded
    assert state.has_applied("r-1") and state.ticket == TicketRef("e-1", 1000.0)
    assert state.handoff_reason is None and state.agent_name is None
    assert state.context == ConversationContext() and state.answers == []


def test_ticket_stays_open_within_the_window_only() -> None:
    state = ConversationState(ticket=TicketRef("e-1", 1000.0))
    assert state.open_ticket(now=1000.0 + 59, window_s=60) == TicketRef("e-1", 1000.0)
    assert state.open_ticket(now=1000.0 + 61, window_s=60) is None


def test_state_written_in_the_first_format_is_still_read() -> None:
    old = b'[{"q": "Tell me about the FitBand 3", "a": "...", "docs": ["product-fitband-3"]}]'
    state = decode_state(old)
    assert state.turns == [Turn("Tell me about the FitBand 3", "...", ("product-fitband-3",))]
    assert state.ticket is None and state.applied == []


def test_first_principal_owns_the_conversation_and_others_are_refused() -> None:
    state = ConversationState()
    assert state.admits("key:aaa") and state.owner == "key:aaa"
    assert state.admits("key:aaa")
    assert not state.admits("key:bbb") and not state.admits(None)
    assert state.owner == "key:aaa"


def test_state_saved_before_owners_adopts_the_first_principal() -> None:
    state = decode_state(b'{"turns": [{"q": "q", "a": "a"}], "ticket": null, "escalated": []}')
    assert state.owner is None and state.admits("user:asha")
    assert decode_state(encode_state(state)).owner == "user:asha"
