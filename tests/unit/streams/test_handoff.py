from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from runtime.errors import InvalidEventError
from schemas import AgentAction, EscalationReason, HandoffState, TranscriptRole
from streams.handoff import Change, HandoffMachine, Note, count
from streams.memory import ConversationState
from tests.unit.streams.doubles import HOURS, OPEN_MONDAY, TARGET_S

MACHINE = HandoffMachine(HOURS, TARGET_S)


def action(kind: str, **fields: Any) -> AgentAction:
    defaults: dict[str, Any] = {
        "request_id": "r",
        "conversation_id": "c",
        "correlation_id": "k",
        "action_id": f"api:{kind}",
        "action": kind,
    }
    if kind == "message":
        defaults |= {"text": "Hi, Asha here.", "author": {"name": "Asha"}}
    return AgentAction.model_validate(defaults | fields)


def awaiting(now: datetime = OPEN_MONDAY) -> ConversationState:
    state = ConversationState()
    MACHINE.escalate(state, EscalationReason.COMPLAINT, MACHINE.promise(now), "ticket-1", now)
    return state


def test_escalation_hands_the_conversation_to_a_person_with_the_promise() -> None:
    state = ConversationState()
    promise = MACHINE.promise(OPEN_MONDAY)

    change = MACHINE.escalate(
        state, EscalationReason.HUMAN_REQUESTED, promise, "ticket-1", OPEN_MONDAY
    )

    assert (change.previous, change.state, change.actor) == (
        HandoffState.BOT,
        HandoffState.AWAITING_AGENT,
        "bot",
    )
    assert change.reason == "human_requested" and change.notice == promise.notice
    assert change.expected_response_by == OPEN_MONDAY + timedelta(seconds=TARGET_S)
    assert change.ticket_event_id == "ticket-1"
    assert state.handoff is HandoffState.AWAITING_AGENT
    assert state.handoff_reason is EscalationReason.HUMAN_REQUESTED
    assert MACHINE.expected_by(state) == change.expected_response_by


def test_first_agent_message_takes_the_conversation_then_only_adds_messages() -> None:
    state = awaiting()
    later = OPEN_MONDAY + timedelta(seconds=300)

    first = MACHINE.apply(state, action("message", action_id="zendesk:comment:1"), later)
    second = MACHINE.apply(state, action("message", action_id="zendesk:comment:2"), later)

    [joined, note] = first
    assert isinstance(joined, Change) and joined.state is HandoffState.AGENT
    assert (joined.actor, joined.actor_name, joined.reason) == ("agent", "Asha", "agent_replied")
    assert joined.notice == "Asha from TechGear support joined the conversation."
    assert joined.waited_s == 300
    assert isinstance(note, Note) and note.author is not None and note.author.name == "Asha"
    assert (note.message_id, note.role, note.text) == (
        "zendesk:comment:1",
        TranscriptRole.AGENT,
        "Hi, Asha here.",
    )
    assert [type(step) for step in second] == [Note]
    assert state.handoff is HandoffState.AGENT and state.agent_name == "Asha"


def test_an_agent_may_take_a_conversation_the_bot_still_owns() -> None:
    state = ConversationState()
    [joined, _] = MACHINE.apply(state, action("message"), OPEN_MONDAY)
    assert isinstance(joined, Change) and joined.previous is HandoffState.BOT
    assert joined.waited_s is None


@pytest.mark.parametrize("missing", ["text", "author"])
def test_an_agent_message_without_text_or_author_is_invalid(missing: str) -> None:
    with pytest.raises(InvalidEventError):
        MACHINE.apply(awaiting(), action("message", **{missing: None}), OPEN_MONDAY)


@pytest.mark.parametrize(
    ("source", "reason"),
    [("api", "handback"), ("zendesk", "ticket_solved"), ("freshdesk", "ticket_solved")],
)
def test_handback_returns_the_conversation_to_the_bot(source: str, reason: str) -> None:
    state = awaiting()
    MACHINE.apply(state, action("message"), OPEN_MONDAY)

    [change] = MACHINE.apply(state, action("handback", source=source), OPEN_MONDAY)

    assert isinstance(change, Change) and change.state is HandoffState.BOT
    assert change.reason == reason and change.previous is HandoffState.AGENT
    assert change.notice == "You are back with the TechGear assistant; ask me anything."
    assert state.handoff is HandoffState.BOT and state.agent_name is None
    assert state.handoff_reason is None


def test_handback_of_a_bot_conversation_changes_nothing() -> None:
    state = ConversationState()
    assert MACHINE.apply(state, action("handback"), OPEN_MONDAY) == []
    assert state == ConversationState()


@pytest.mark.parametrize(("source", "reason"), [("api", "closed"), ("zendesk", "ticket_closed")])
def test_close_ends_the_conversation_for_good(source: str, reason: str) -> None:
    state = awaiting()

    [change] = MACHINE.apply(state, action("close", source=source), OPEN_MONDAY)

    assert isinstance(change, Change) and change.state is HandoffState.CLOSED
    assert change.reason == reason
    assert change.notice == "This conversation was closed. Start a new chat any time."
    for kind in ("message", "handback", "close", "remind"):
        assert MACHINE.apply(state, action(kind, source="system"), OPEN_MONDAY) == []
    assert state.handoff is HandoffState.CLOSED


def test_a_late_wait_is_reminded_once_with_the_expected_time() -> None:
    sunday = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)  # closed: a person is due Monday 09:15
    state = awaiting(sunday)
    remind = action("remind", source="system", action_id="remind:3")

    [note] = MACHINE.apply(state, remind, sunday + timedelta(days=1))
    again = MACHINE.apply(state, action("remind", source="system"), sunday + timedelta(days=1))

    assert isinstance(note, Note) and note.role is TranscriptRole.SYSTEM
    assert note.message_id == "remind:3"
    assert "we expected one by Monday 7 December at 09:15 IST" in note.text
    assert again == [] and state.reminded


def test_no_reminder_once_a_person_has_replied_and_a_new_wait_may_be_reminded() -> None:
    state = awaiting()
    MACHINE.apply(state, action("message"), OPEN_MONDAY)
    assert MACHINE.apply(state, action("remind", source="system"), OPEN_MONDAY) == []

    MACHINE.apply(state, action("handback"), OPEN_MONDAY)
    MACHINE.escalate(
        state, EscalationReason.COMPLAINT, MACHINE.promise(OPEN_MONDAY), "t", OPEN_MONDAY
    )
    assert len(MACHINE.apply(state, action("remind", source="system"), OPEN_MONDAY)) == 1


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_published_changes_are_counted_without_conversation_labels() -> None:
    handbacks = sample("techgear_handoff_handbacks_total", source="zendesk")
    entered = sample("techgear_handoff_changes_total", state="bot")
    replies = sample("techgear_handoff_first_agent_reply_seconds_count")

    state = awaiting()
    [joined, _] = MACHINE.apply(state, action("message"), OPEN_MONDAY + timedelta(minutes=5))
    [back] = MACHINE.apply(state, action("handback", source="zendesk"), OPEN_MONDAY)
    for change in (joined, back):
        assert isinstance(change, Change)
        count(change)

    assert sample("techgear_handoff_handbacks_total", source="zendesk") == handbacks + 1
    assert sample("techgear_handoff_changes_total", state="bot") == entered + 1
    assert sample("techgear_handoff_first_agent_reply_seconds_count") == replies + 1
