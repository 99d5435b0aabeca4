from __future__ import annotations

from typing import Any

import orjson
import pytest

from gateway.helpdesk_events import (
    DEFAULT_AUTHOR,
    HelpdeskAction,
    Ignored,
    MalformedPayload,
    parse_freshdesk,
    parse_zendesk,
)
from schemas import MAX_MESSAGE_CHARS, AgentActionKind


def zendesk_comment(**comment: Any) -> bytes:
    body = {
        "id": "c-9",
        "body": "Hi, I have issued the refund.",
        "is_public": True,
        "author": {"id": "77", "is_staff": True, "name": "Asha"},
    } | comment
    return orjson.dumps(
        {
            "type": "zen:event-type:ticket.comment_added",
            "id": "5e1c7a3e-7a1b-4c55-9f0a-0a0a0a0a0a0a",
            "time": "2026-12-01T09:30:00Z",
            "subject": "zen:ticket:42",
            "zendesk_event_version": "2022-11-06",
            "detail": {"id": "42", "external_id": "conv-1", "status": "OPEN"},
            "event": {"comment": body},
        }
    )


def zendesk_status(current: str, external_id: str | None = "conv-1") -> bytes:
    return orjson.dumps(
        {
            "type": "zen:event-type:ticket.status_changed",
            "id": "evt-3",
            "subject": "zen:ticket:42",
            "detail": {"id": 42, "external_id": external_id},
            "event": {"current": current, "previous": "OPEN"},
        }
    )


def freshdesk(**ticket: Any) -> bytes:
    return orjson.dumps(
        {
            "freshdesk_webhook": {
                "ticket_id": 123,
                "ticket_status": "Open",
                "triggered_event": "{ticket_action:note_added}",
                "ticket_latest_public_comment": "We shipped a replacement.",
                "ticket_agent_name": "Ravi",
            }
            | ticket
        }
    )


def test_staff_public_zendesk_comment_is_an_agent_message() -> None:
    assert parse_zendesk(zendesk_comment()) == HelpdeskAction(
        "zendesk",
        "42",
        "conv-1",
        "zendesk:comment:c-9",
        AgentActionKind.MESSAGE,
        "Hi, I have issued the refund.",
        "Asha",
    )


@pytest.mark.parametrize(
    ("comment", "reason"),
    [
        ({"is_public": False}, "private_comment"),
        ({"author": {"is_staff": False, "name": "Customer"}}, "not_from_staff"),
        ({"body": "The customer wrote:\nmy order\n\nEscalation: abc123"}, "written_by_bridge"),
        ({"body": "<p>hello</p>\n<p>Escalation: abc123</p>"}, "written_by_bridge"),
        ({"body": "   "}, "empty_comment"),
    ],
)
def test_zendesk_comments_not_from_an_agent_to_the_customer_are_ignored(
    comment: dict[str, Any], reason: str
) -> None:
    assert parse_zendesk(zendesk_comment(**comment)) == Ignored(reason)


def test_zendesk_comment_mentioning_an_escalation_mid_line_is_still_a_message() -> None:
    parsed = parse_zendesk(zendesk_comment(body="See the note (Escalation: abc) below"))
    assert isinstance(parsed, HelpdeskAction)


def test_long_zendesk_comment_is_cut_to_a_message() -> None:
    parsed = parse_zendesk(zendesk_comment(body="x" * (MAX_MESSAGE_CHARS + 50)))
    assert isinstance(parsed, HelpdeskAction) and parsed.text is not None
    assert len(parsed.text) == MAX_MESSAGE_CHARS and parsed.text.endswith("…")


def test_zendesk_comment_without_author_name_shows_the_team() -> None:
    parsed = parse_zendesk(zendesk_comment(author={"is_staff": True}))
    assert isinstance(parsed, HelpdeskAction) and parsed.author == DEFAULT_AUTHOR


@pytest.mark.parametrize(
    ("status", "kind"),
    [("SOLVED", AgentActionKind.HANDBACK), ("closed", AgentActionKind.CLOSE)],
)
def test_zendesk_solved_hands_back_and_closed_closes(status: str, kind: AgentActionKind) -> None:
    parsed = parse_zendesk(zendesk_status(status))
    assert isinstance(parsed, HelpdeskAction)
    assert (parsed.kind, parsed.conversation_id, parsed.ticket_id) == (kind, "conv-1", "42")
    assert parsed.action_id == f"zendesk:status:42:{status.lower()}:evt-3"


def test_zendesk_other_statuses_and_event_types_are_ignored() -> None:
    assert parse_zendesk(zendesk_status("PENDING")) == Ignored("status_not_acted_on")
    other = orjson.loads(zendesk_status("SOLVED")) | {"type": "zen:event-type:ticket.created"}
    assert parse_zendesk(orjson.dumps(other)) == Ignored("event_type_not_acted_on")


def test_zendesk_ticket_without_external_id_is_found_by_ticket() -> None:
    parsed = parse_zendesk(zendesk_status("SOLVED", external_id=None))
    assert isinstance(parsed, HelpdeskAction) and parsed.conversation_id is None


def test_zendesk_ticket_of_a_foreign_external_id_is_ignored() -> None:
    parsed = parse_zendesk(zendesk_status("SOLVED", external_id="not ours/../x"))
    assert parsed == Ignored("foreign_external_id")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"type": "zen:event-type:ticket.comment_added"}',
        orjson.dumps(orjson.loads(zendesk_comment()) | {"event": {}}),
        orjson.dumps(orjson.loads(zendesk_comment()) | {"detail": {"id": "4 2"}}),
    ],
)
def test_malformed_zendesk_payloads_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedPayload):
        parse_zendesk(body)


def test_freshdesk_public_comment_is_an_agent_message_keyed_by_its_text() -> None:
    first = parse_freshdesk(freshdesk())
    again = parse_freshdesk(freshdesk())
    other = parse_freshdesk(freshdesk(ticket_latest_public_comment="Another reply"))
    assert isinstance(first, HelpdeskAction) and isinstance(other, HelpdeskAction)
    assert (first.kind, first.text, first.author, first.ticket_id) == (
        AgentActionKind.MESSAGE,
        "We shipped a replacement.",
        "Ravi",
        "123",
    )
    assert first.conversation_id is None  # found by ticket
    assert first == again and first.action_id != other.action_id
    assert first.action_id.startswith("freshdesk:comment:")


def test_freshdesk_comment_id_keys_the_message_when_given() -> None:
    parsed = parse_freshdesk(freshdesk(comment_id=555))
    assert isinstance(parsed, HelpdeskAction) and parsed.action_id == "freshdesk:comment:555"


@pytest.mark.parametrize(
    ("status", "kind"),
    [("Resolved", AgentActionKind.HANDBACK), ("CLOSED", AgentActionKind.CLOSE)],
)
def test_freshdesk_resolved_hands_back_and_closed_closes(
    status: str, kind: AgentActionKind
) -> None:
    parsed = parse_freshdesk(freshdesk(ticket_status=status))
    assert isinstance(parsed, HelpdeskAction) and parsed.kind is kind
    assert parsed.action_id.startswith(f"freshdesk:status:123:{status.lower()}:")


def test_freshdesk_bridge_notes_and_empty_comments_are_ignored() -> None:
    written = parse_freshdesk(freshdesk(ticket_latest_public_comment="hi\nEscalation: e1"))
    assert written == Ignored("written_by_bridge")
    assert parse_freshdesk(freshdesk(ticket_latest_public_comment="")) == Ignored("no_comment")


def test_malformed_freshdesk_payloads_are_refused() -> None:
    for body in (b"{}", b'{"freshdesk_webhook": {}}', freshdesk(ticket_id="1/2")):
        with pytest.raises(MalformedPayload):
            parse_freshdesk(body)
