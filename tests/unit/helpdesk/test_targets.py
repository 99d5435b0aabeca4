"""How escalations become Zendesk and Freshdesk requests: escaped text, honest requesters,
ticket ids checked before they reach a URL."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest

from helpdesk.targets import (
    UNVERIFIED,
    Freshdesk,
    Requesters,
    Target,
    Zendesk,
    checked_ticket_id,
    marker,
)
from runtime.errors import InvalidTicketIdError
from schemas import (
    Category,
    Customer,
    Escalation,
    EscalationKind,
    EscalationReason,
    Priority,
    TicketType,
    TranscriptTurn,
)

HOSTILE = (
    "<img src=x onerror=alert(1)> [click](javascript:alert(1)) "
    '<a href="https://evil.example">refund</a>\nsecond line <script>x()</script>'
)
TAGS = re.compile(r"<(?!br>)")


def escalation(
    text: str = "I want to talk to a human", *, verified: bool = False, **customer: str
) -> Escalation:
    event_id = str(uuid.uuid4())
    return Escalation(
        request_id="r-1",
        conversation_id="c-1",
        correlation_id="r-1",
        event_id=event_id,
        ticket_event_id=event_id,
        requester=Customer(**customer),
        requester_verified=verified,
        subject=f"Help\r\nBcc: x@example.in {text[:40]}",
        summary=f"The customer asks for a person: {text}",
        transcript=[TranscriptTurn(role="customer", text=text)],
        category=Category.HUMAN_AGENT,
        confidence=0.9,
        reason=EscalationReason.HUMAN_REQUESTED,
        priority=Priority.NORMAL,
        ticket_type=TicketType.QUESTION,
        channel="api",
        tags=["techgear"],
    )


def targets(requesters: Requesters | None = None) -> list[Target]:
    return [
        Zendesk("bot@example.in", "token", requesters),
        Freshdesk("key", requesters=requesters),
    ]


def body_html(target: Target, call_body: dict[str, Any]) -> str:
    if target.name == "zendesk":
        comment = call_body["ticket"]["comment"]
        assert "body" not in comment  # Zendesk renders Markdown in a plain body
        return str(comment["html_body"])
    return str(call_body.get("description") or call_body["body"])


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.name)
def test_customer_text_reaches_tickets_notes_and_replies_escaped(target: Target) -> None:
    hostile = escalation(HOSTILE)
    calls = (
        target.create(hostile),
        target.add_note("17", hostile),
        target.add_customer_message("17", "9001", hostile),
    )
    for call in calls:
        assert call.body is not None
        sent = body_html(target, call.body)
        assert TAGS.search(sent) is None
        assert "&lt;img src=x onerror=alert(1)&gt;" in sent
        assert "&lt;a href=&quot;https://evil.example&quot;&gt;refund&lt;/a&gt;<br>" in sent
        assert "[click](javascript:alert(1))" in sent  # text: html_body is not Markdown


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.name)
def test_subject_is_one_line(target: Target) -> None:
    call = target.create(escalation())
    assert call.body is not None
    subject = (call.body.get("ticket") or call.body)["subject"]
    assert subject == "Help Bcc: x@example.in I want to talk to a human"


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.name)
def test_the_customers_language_reaches_the_ticket_as_a_tag(target: Target) -> None:
    hindi = escalation().model_copy(update={"language": "hi", "tags": ["lang-hi"]})
    call = target.create(hindi)
    assert call.body is not None
    assert "lang-hi" in (call.body.get("ticket") or call.body)["tags"]


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.name)
def test_an_asserted_requester_gets_no_mail_and_is_marked_unverified_in_the_body(
    target: Target,
) -> None:
    asserted = escalation(name="Asha <b>", email="victim@example.in", phone="+91 98765 43210")
    call = target.create(asserted)
    assert call.body is not None
    if target.name == "zendesk":
        ticket = call.body["ticket"]
        assert ticket["requester"] == {
            "name": "Unverified requester",
            "email": "unverified-requester@techgear.invalid",
        }
    else:
        assert call.body["email"] == "unverified-requester@techgear.invalid"
        assert "phone" not in call.body
    assert (
        f"Requester, {UNVERIFIED}: name: Asha &lt;b&gt;; email: victim@example.in; "
        "phone: +91 98765 43210"
    ) in body_html(target, call.body)


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.name)
def test_a_verified_requester_is_the_tickets_requester(target: Target) -> None:
    call = target.create(escalation(verified=True, name="Asha", email="asha@example.in"))
    assert call.body is not None
    if target.name == "zendesk":
        assert call.body["ticket"]["requester"] == {"name": "Asha", "email": "asha@example.in"}
    else:
        assert call.body["email"] == "asha@example.in" and call.body["name"] == "Asha"
    assert UNVERIFIED not in body_html(target, call.body)


@pytest.mark.parametrize("target", targets(Requesters(trust_unverified=True)), ids=lambda t: t.name)
def test_trusting_unverified_requesters_opens_the_ticket_for_the_asserted_address(
    target: Target,
) -> None:
    call = target.create(escalation(name="Asha", email="asha@example.in"))
    assert call.body is not None
    assert "asha@example.in" in str(call.body.get("ticket", {}).get("requester") or call.body)


@pytest.mark.parametrize("value", [1, "1", 42, "9007199254740993"])
def test_positive_integers_are_ticket_ids(value: object) -> None:
    assert checked_ticket_id(value) == str(value)


@pytest.mark.parametrize(
    "value",
    [
        "../users/1",
        "1/../../users/1",
        "0",
        "-3",
        "01",
        "1.json",
        " 1",
        "1\n",
        "١",
        "",
        None,
        True,
        0,
        -1,
        1.0,
        "1" * 20,
        "%2e%2e",
    ],
)
def test_anything_else_is_refused_as_a_ticket_id(value: object) -> None:
    with pytest.raises(InvalidTicketIdError):
        checked_ticket_id(value)


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.name)
def test_a_bad_ticket_id_never_becomes_a_request(target: Target) -> None:
    with pytest.raises(InvalidTicketIdError):
        target.add_note("../users/1", escalation())
    with pytest.raises(InvalidTicketIdError):
        target.find_note("../users/1")
    with pytest.raises(InvalidTicketIdError):
        target.show_ticket("../users/1")
    with pytest.raises(InvalidTicketIdError):
        target.add_customer_message("1/../../users/1", "9001", escalation())
    bad = {"id": "../users/1"}
    reply = httpx.Response(201, json={"ticket": bad} if target.name == "zendesk" else bad)
    with pytest.raises(InvalidTicketIdError):
        target.ticket_id(reply)


def customer_message(text: str) -> Escalation:
    """The customer's ``text``, written while a person owns the conversation."""
    opened = escalation()
    return escalation(text).model_copy(
        update={
            "kind": EscalationKind.CUSTOMER_MESSAGE,
            "ticket_event_id": opened.event_id,
            "summary": text,
        }
    )


def test_a_customer_message_is_a_public_zendesk_comment_by_the_tickets_requester() -> None:
    zendesk = Zendesk("bot@example.in", "token")
    shown = zendesk.show_ticket("17")
    assert (shown.method, shown.path, shown.body) == ("GET", "/api/v2/tickets/17.json", None)
    requester = zendesk.requester_id(
        httpx.Response(200, json={"ticket": {"id": 17, "requester_id": 9001}})
    )
    message = customer_message("Still broken <b>after</b> the reset")

    call = zendesk.add_customer_message("17", requester, message)

    assert (call.method, call.path) == ("PUT", "/api/v2/tickets/17.json")
    assert call.body == {
        "ticket": {
            "comment": {
                "html_body": "Still broken &lt;b&gt;after&lt;/b&gt; the reset<br><br>"
                + marker(message),
                "public": True,
                "author_id": 9001,
            }
        }
    }


def test_a_customer_message_is_a_public_incoming_freshdesk_note_by_the_requester() -> None:
    freshdesk = Freshdesk("key")
    shown = freshdesk.show_ticket("17")
    assert (shown.method, shown.path, shown.body) == ("GET", "/api/v2/tickets/17", None)
    requester = freshdesk.requester_id(httpx.Response(200, json={"id": 17, "requester_id": 9001}))
    message = customer_message("Still broken\nafter the reset")

    call = freshdesk.add_customer_message("17", requester, message)

    # A note, not POST .../reply, which would mail the customer their own message.
    assert (call.method, call.path) == ("POST", "/api/v2/tickets/17/notes")
    assert call.body == {
        "body": f"Still broken<br>after the reset<br><br>{marker(message)}",
        "private": False,
        "incoming": True,
        "user_id": 9001,
    }
    assert "notify_emails" not in call.body


@pytest.mark.parametrize("target", targets(), ids=lambda t: t.name)
@pytest.mark.parametrize("requester_id", ["../users/1", None, True, 0, -5, 1.5, ""])
def test_a_requester_id_that_is_not_a_positive_integer_is_a_reply_not_as_documented(
    target: Target, requester_id: object
) -> None:
    ticket = {"id": 17, "requester_id": requester_id}
    reply = httpx.Response(200, json={"ticket": ticket} if target.name == "zendesk" else ticket)
    with pytest.raises(ValueError):
        target.requester_id(reply)
