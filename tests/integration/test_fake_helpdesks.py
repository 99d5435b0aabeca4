"""The fake helpdesks act as the agent the way Zendesk and Freshdesk do: each comment, reply
or status change is delivered as the helpdesk's webhook, signed as Zendesk documents it
(checked here with an HMAC of its own, not the fake's) or carrying Freshdesk's shared
secret, once or twice, and the reply tells the test what the receiver answered."""

from __future__ import annotations

import base64
import json
import secrets
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.hmac import HMAC

from tests.integration.conftest import FAKE_URL

pytestmark = pytest.mark.integration

ZENDESK_SECRET = secrets.token_urlsafe(24)
FRESHDESK_SECRET = secrets.token_urlsafe(24)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint that keeps every request and answers ``status``."""

    url: str
    requests: list[Received] = field(default_factory=list)
    status: int = 202


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    kept: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            kept.append(Received(self.path, dict(self.headers.items()), body))
            answer = json.dumps({"status": "accepted"}).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}", kept)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    httpx.post(
        f"{FAKE_URL}/_webhooks",
        json={
            "zendesk": f"{state.url}/v1/webhooks/zendesk",
            "freshdesk": f"{state.url}/v1/webhooks/freshdesk",
            "zendesk_secret": ZENDESK_SECRET,
            "freshdesk_secret": FRESHDESK_SECRET,
        },
    ).raise_for_status()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


def created(path: str, body: dict[str, Any], auth: tuple[str, str]) -> dict[str, Any]:
    """A ticket made through the fake's API (its first creation answers 429 once)."""
    for _ in range(2):
        answer = httpx.post(f"{FAKE_URL}{path}", json=body, auth=auth)
        if answer.status_code != 429:
            break
    answer.raise_for_status()
    made: dict[str, Any] = answer.json()
    return made


def zendesk_ticket(conversation: str) -> int:
    ticket = {
        "subject": "Charger",
        "comment": {"html_body": "It does not charge", "public": False},
        "priority": "normal",
        "type": "question",
        "external_id": conversation,
    }
    made = created("/api/v2/tickets.json", {"ticket": ticket}, ("bot@techgear.in/token", "t"))
    return int(made["ticket"]["id"])


def freshdesk_ticket() -> int:
    ticket = {
        "subject": "Charger",
        "description": "It does not charge",
        "email": "asha@example.in",
        "priority": 2,
        "status": 2,
        "source": 7,
    }
    return int(created("/api/v2/tickets", ticket, ("fd-key", "X"))["id"])


def zendesk_signature(timestamp: str, body: bytes) -> str:
    mac = HMAC(ZENDESK_SECRET.encode(), hashes.SHA256())
    mac.update(timestamp.encode() + body)
    return base64.b64encode(mac.finalize()).decode()


def assert_signed_by_zendesk(request: Received) -> dict[str, Any]:
    timestamp = request.headers["X-Zendesk-Webhook-Signature-Timestamp"]
    signed_at = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - signed_at) < timedelta(minutes=1)
    assert request.headers["X-Zendesk-Webhook-Signature"] == zendesk_signature(
        timestamp, request.body
    )
    payload: dict[str, Any] = json.loads(request.body)
    return payload


def test_an_agent_comment_is_a_zendesk_webhook_signed_over_timestamp_and_body_delivered_twice(
    fake_helpdesks: str,
    receiver: Receiver,
) -> None:
    conversation = f"fake-{uuid.uuid4().hex}"
    ticket_id = zendesk_ticket(conversation)

    answer = httpx.post(
        f"{FAKE_URL}/_agent/zendesk/tickets/{ticket_id}/comment",
        params={"deliver": 2},
        json={"body": "Please try another cable.", "author_name": "Asha"},
    ).json()

    assert [d["status"] for d in answer["deliveries"]] == [202, 202]
    first, again = receiver.requests
    assert first.path == "/v1/webhooks/zendesk"
    assert (first.body, first.headers) == (again.body, again.headers)  # one event, redelivered
    payload = assert_signed_by_zendesk(first)
    assert payload["type"] == "zen:event-type:ticket.comment_added"
    assert payload["subject"] == f"zen:ticket:{ticket_id}"
    assert payload["detail"]["id"] == str(ticket_id)
    assert payload["detail"]["external_id"] == conversation
    comment = payload["event"]["comment"]
    assert comment["id"] == str(answer["comment_id"])
    assert (comment["body"], comment["is_public"]) == ("Please try another cable.", True)
    assert (comment["author"]["name"], comment["author"]["is_staff"]) == ("Asha", True)
    public = httpx.get(f"{FAKE_URL}/_inspect").json()["public_comments"]["zendesk"]
    assert [c["body"] for c in public if c["ticket_id"] == ticket_id] == [comment["body"]]


def test_a_solved_zendesk_ticket_is_a_signed_status_change_and_the_receivers_answer_returns(
    fake_helpdesks: str,
    receiver: Receiver,
) -> None:
    ticket_id = zendesk_ticket(f"fake-{uuid.uuid4().hex}")
    receiver.status = 401

    answer = httpx.post(
        f"{FAKE_URL}/_agent/zendesk/tickets/{ticket_id}/status", json={"status": "solved"}
    ).json()

    assert answer["deliveries"] == [{"status": 401, "reply": {"status": "accepted"}}]
    payload = assert_signed_by_zendesk(receiver.requests[0])
    assert payload["type"] == "zen:event-type:ticket.status_changed"
    assert payload["event"] == {"current": "SOLVED", "previous": "NEW"}
    assert payload["detail"]["status"] == "SOLVED"


def test_a_freshdesk_reply_and_resolution_are_automation_webhooks_with_the_shared_secret(
    fake_helpdesks: str,
    receiver: Receiver,
) -> None:
    ticket_id = freshdesk_ticket()

    replied = httpx.post(
        f"{FAKE_URL}/_agent/freshdesk/tickets/{ticket_id}/reply",
        json={"body": "Please try another cable.", "author_name": "Asha"},
    ).json()
    resolved = httpx.post(
        f"{FAKE_URL}/_agent/freshdesk/tickets/{ticket_id}/status", json={"status": "resolved"}
    ).json()

    assert [d["status"] for d in replied["deliveries"] + resolved["deliveries"]] == [202, 202]
    reply, resolution = receiver.requests
    for request in (reply, resolution):
        assert request.path == "/v1/webhooks/freshdesk"
        assert request.headers["X-TechGear-Webhook-Secret"] == FRESHDESK_SECRET
    assert json.loads(reply.body) == {
        "freshdesk_webhook": {
            "ticket_id": ticket_id,
            "ticket_status": "Open",
            "triggered_event": "{reply_sent:sent}",
            "ticket_latest_public_comment": "Please try another cable.",
            "ticket_agent_name": "Asha",
        }
    }
    changed = json.loads(resolution.body)["freshdesk_webhook"]
    assert changed["ticket_status"] == "Resolved"
    assert changed["triggered_event"] == "{status:{from:Open,to:Resolved}}"
    delivered = httpx.get(f"{FAKE_URL}/_inspect").json()["webhooks"]
    assert FRESHDESK_SECRET not in json.dumps(delivered)
