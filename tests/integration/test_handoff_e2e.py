"""Human handoff end to end on the whole real system: the session worker, two gateways (the
customer's WebSocket on A, the helpdesk webhooks and the agent API on B), the helpdesk
bridge and the fake Zendesk or Freshdesk acting as the agent. Nothing is stood in for:
the escalation reaches the fake as a ticket, the agent's comment comes back as a signed
webhook, the customer's answer lands on the ticket, solving it hands the conversation back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from runtime.redis import HELPDESK_TICKET_PREFIX
from tests.conftest import (
    ADMIN_KEY,
    AGENT_KEY,
    API_KEY,
    GATEWAY_PORT,
    WORKER_METRICS_PORT,
    WorkerProcess,
    start_gateway,
    stop_process,
)
from tests.integration.conftest import (
    as_the_agent,
    customer_replied,
    customer_replies,
    deliver_webhooks_to,
    start_bridge,
    wait_until,
    zendesk_ticket,
)
from tests.integration.test_handoff_gateway import (
    Gateways,
    agent_call,
    customer_socket,
    gateways,
    handoff_env,
    messages,
    until_projected,
)
from tests.integration.test_websocket import receive

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

__all__ = ["gateways"]  # a fixture of this module too

HUMAN_PLEASE = "I want to talk to a human"
ORDER = "My order number is TG-48213"
PRICE_QUESTION = "What is the price of SmartWatch Pro X?"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
Seen = list[dict[str, Any]]
"""Messages a socket received, in order."""


class Socket:
    """A customer's WebSocket and every message it received, in order."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def ask(self, question: str) -> None:
        await self.ws.send(json.dumps({"type": "ask", "message": question}))

    async def until(self, done: Callable[[Seen], bool], timeout_s: float = 60) -> Seen:
        """Receive until ``done`` holds for what arrived meanwhile; that."""
        start = len(self.received)
        async with asyncio.timeout(timeout_s):
            while not done(self.received[start:]):
                self.received.append(await receive(self.ws))
        return self.received[start:]

    async def drain(self) -> None:
        """Whatever arrives until the connection drops."""
        try:
            while True:
                self.received.append(await receive(self.ws))
        except ConnectionClosed:
            return

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.received if m["type"] == kind]

    def last_seq(self) -> int:
        return max((m.get("conversation_seq") or 0 for m in self.received), default=0)


def matches(message: dict[str, Any], kind: str, fields: dict[str, Any]) -> bool:
    return message["type"] == kind and all(message.get(k) == v for k, v in fields.items())


def has(kind: str, **fields: Any) -> Callable[[Seen], bool]:
    return lambda seen: any(matches(m, kind, fields) for m in seen)


def both(*conditions: Callable[[Seen], bool]) -> Callable[[Seen], bool]:
    return lambda seen: all(condition(seen) for condition in conditions)


def first(seen: Seen, kind: str, **fields: Any) -> dict[str, Any]:
    return next(m for m in seen if matches(m, kind, fields))


OpenSocket = Callable[..., Awaitable[Socket]]


@pytest.fixture
async def socket_on() -> AsyncIterator[OpenSocket]:
    """Opens customer sockets (``API_KEY``'s) on a gateway; all closed after the test."""
    async with contextlib.AsyncExitStack() as stack:

        async def open_socket(gateway_url: str, **params: str) -> Socket:
            connection = customer_socket(gateway_url, **params)
            return Socket(await stack.enter_async_context(connection))

        yield open_socket


async def escalated(socket: Socket) -> dict[str, Any]:
    """Asks for a person; the handoff to ``awaiting_agent`` the socket then received."""
    await socket.ask(HUMAN_PLEASE)
    seen = await socket.until(both(has("answer"), has("handoff", state="awaiting_agent")))
    return first(seen, "handoff", state="awaiting_agent")


def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
    text = httpx.get(url, headers=headers or {}, timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def worker_metrics() -> Samples:
    return scrape(f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics")


def gateway_metrics(gateway_url: str) -> Samples:
    return scrape(f"{gateway_url}/metrics", {"X-API-Key": ADMIN_KEY})


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_a_zendesk_agent_takes_over_answers_once_and_hands_back_to_the_bot(
    gateways: Gateways,
    zendesk_bridge: subprocess.Popen[bytes],
    socket_on: OpenSocket,
) -> None:
    deliver_webhooks_to(gateways.b)
    worker_before, b_before = worker_metrics(), gateway_metrics(gateways.b)
    socket = await socket_on(gateways.a)
    cid = (await socket.until(has("ready")))[0]["conversation_id"]

    waiting = await escalated(socket)
    escalation = socket.of_type("escalation")[0]
    handed_over = socket.of_type("answer")[0]
    ticket = await zendesk_ticket(cid)

    async def counted_as_waiting() -> bool:
        return all(
            figures[("techgear_handoff_awaiting_conversations", frozenset())] >= 1
            for figures in (gateway_metrics(gateways.a), gateway_metrics(gateways.b))
        )

    await wait_until(counted_as_waiting, "both gateways to count the wait")

    comment = "Hi, Asha here. I am looking at your order now."
    deliveries = await as_the_agent(
        f"zendesk/tickets/{ticket['id']}/comment", deliver=2, body=comment, author_name="Asha"
    )
    await socket.until(has("agent_message"))
    await socket.ask(ORDER)
    forwarded = first(await socket.until(has("answer", forwarded=True)), "answer")

    await customer_replied(ticket)
    solved = await as_the_agent(f"zendesk/tickets/{ticket['id']}/status", status="solved")
    handback = first(await socket.until(has("handoff", state="bot")), "handoff")
    await socket.ask(PRICE_QUESTION)
    last = first(await socket.until(has("answer", forwarded=False)), "answer")

    stored = await until_projected(gateways.b, cid, last["conversation_seq"])
    owner = (await messages(gateways.b, cid, API_KEY)).json()
    by_agent = (await messages(gateways.a, cid, AGENT_KEY)).json()
    replies = await customer_replies(ticket)
    worker_after, b_after = worker_metrics(), gateway_metrics(gateways.b)

    assert escalation["expected_response_by"] == waiting["expected_response_by"] is not None
    assert (handed_over["handoff_state"], handed_over["conversation_seq"]) == ("awaiting_agent", 2)
    # The same instant (the answer writes UTC as "Z", the handoff event as "+00:00").
    assert instant(handed_over["expected_response_by"]) == instant(waiting["expected_response_by"])
    assert (waiting["conversation_seq"], waiting["reason"]) == (3, "human_requested")
    assert escalation["message"] in handed_over["answer"]
    assert deliveries == [202, 202] and solved == [202]
    [agent_message] = socket.of_type("agent_message")  # delivered twice, shown once
    assert (agent_message["text"], agent_message["author"]) == (comment, {"name": "Asha"})
    joined = first(socket.received, "handoff", state="agent")
    assert (joined["conversation_seq"], agent_message["conversation_seq"]) == (4, 5)
    assert joined["author"] == {"name": "Asha"} and "Asha" in joined["notice"]
    assert (forwarded["conversation_seq"], forwarded["handoff_state"]) == (6, "agent")
    assert forwarded["answer"] == "Passed on to Asha; they will reply here."
    [reply] = replies  # the customer's message, once, as the requester, in public
    assert reply["body"].startswith(ORDER) and reply["public"] is True
    assert reply["author_id"] == ticket["requester_id"]
    assert (handback["conversation_seq"], handback["reason"]) == (7, "ticket_solved")
    assert (last["conversation_seq"], last["handoff_state"]) == (9, "bot")
    assert "₹15,999" in last["answer"]
    # The socket's own questions and answers are not repeated as transcript entries.
    assert socket.of_type("transcript") == []

    expected = [
        ("transcript", "customer", HUMAN_PLEASE),
        ("transcript", "assistant", handed_over["answer"]),
        ("handoff", "awaiting_agent", waiting["notice"]),
        ("handoff", "agent", joined["notice"]),
        ("agent_message", "Asha", comment),
        ("transcript", "customer", ORDER),
        ("handoff", "bot", handback["notice"]),
        ("transcript", "customer", PRICE_QUESTION),
        ("transcript", "assistant", last["answer"]),
    ]
    for transcript in (stored, owner, by_agent):
        entries = transcript["messages"]
        assert [e["conversation_seq"] for e in entries] == list(range(1, 10))
        assert [summary(e) for e in entries] == expected
        assert transcript["handoff_state"] == "bot" and transcript["last_seq"] == 9
    assert [e.get("forwarded") for e in owner["messages"] if e["type"] == "transcript"] == [
        False,
        False,
        True,
        False,
        False,
    ]

    for name, labels in (
        ("techgear_handoff_changes_total", {"state": "awaiting_agent"}),
        ("techgear_handoff_changes_total", {"state": "agent"}),
        ("techgear_handoff_changes_total", {"state": "bot"}),
        ("techgear_handoff_handbacks_total", {"source": "zendesk"}),
        ("techgear_handoff_messages_forwarded_total", {}),
        ("techgear_handoff_first_agent_reply_seconds_count", {}),
    ):
        assert moved(worker_before, worker_after, name, **labels) >= 1, (name, labels)
    accepted = {"helpdesk": "zendesk", "outcome": "accepted"}
    assert moved(b_before, b_after, "techgear_gateway_webhooks_total", **accepted) == 3
    assert moved(b_before, b_after, "techgear_gateway_agent_messages_total", source="zendesk") == 2
    handbacks = moved(
        b_before, b_after, "techgear_gateway_handbacks_requested_total", source="zendesk"
    )
    assert handbacks == 1


def instant(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def summary(entry: dict[str, Any]) -> tuple[str, str, str]:
    """What an entry of ``GET …/messages`` says, and who says it."""
    if entry["type"] == "handoff":
        return ("handoff", entry["state"], entry["notice"])
    if entry["type"] == "agent_message":
        return ("agent_message", entry["author"]["name"], entry["text"])
    return (entry["type"], entry["role"], entry["text"])


async def test_the_agent_api_on_one_gateway_reaches_the_customer_on_the_other_until_closed(
    gateways: Gateways,
    zendesk_bridge: subprocess.Popen[bytes],
    socket_on: OpenSocket,
) -> None:
    deliver_webhooks_to(gateways.b)
    socket = await socket_on(gateways.a)
    cid = (await socket.until(has("ready")))[0]["conversation_id"]
    await escalated(socket)
    ticket = await zendesk_ticket(cid)
    path = f"/v1/conversations/{cid}/messages"

    reply = await agent_call(gateways.b, path, text="Ravi here, checking.", author={"name": "Ravi"})
    agent_message = first(await socket.until(has("agent_message")), "agent_message")
    closing = await as_the_agent(f"zendesk/tickets/{ticket['id']}/status", status="closed")
    closed = first(await socket.until(has("handoff", state="closed")), "handoff")
    await until_projected(gateways.b, cid, closed["conversation_seq"])
    after_close = await agent_call(gateways.b, path, text="still there?", author={"name": "Ravi"})
    handback = await agent_call(gateways.b, f"/v1/conversations/{cid}/handback")
    await socket.ws.send(json.dumps({"type": "ask", "message": "hello?"}))
    refused = first(await socket.until(has("error")), "error")

    assert reply.status_code == 202
    assert (agent_message["text"], agent_message["author"]) == (
        "Ravi here, checking.",
        {"name": "Ravi"},
    )
    assert agent_message["message_id"] == reply.json()["action_id"]
    assert closing == [202] and closed["reason"] == "ticket_closed"
    for refusal in (after_close, handback):
        assert (refusal.status_code, refusal.json()["error"]["code"]) == (
            409,
            "conversation_closed",
        )
    assert refused["code"] == "conversation_closed"


async def test_a_freshdesk_agent_reply_and_resolution_reach_the_customer(
    gateways: Gateways,
    fake_helpdesks: str,
    kafka_bootstrap: str,
    redis_url: str,
    socket_on: OpenSocket,
) -> None:
    deliver_webhooks_to(gateways.b)
    bridge = start_bridge("freshdesk", kafka_bootstrap, redis_url)
    try:
        socket = await socket_on(gateways.a)
        cid = (await socket.until(has("ready")))[0]["conversation_id"]
        await escalated(socket)
        ticket_id = await freshdesk_ticket(redis_url, cid)
        deliveries = await as_the_agent(
            f"freshdesk/tickets/{ticket_id}/reply",
            deliver=2,
            body="Ravi from Freshdesk here.",
            author_name="Ravi",
        )
        await socket.until(has("agent_message"))
        resolved = await as_the_agent(f"freshdesk/tickets/{ticket_id}/status", status="resolved")
        handback = first(await socket.until(has("handoff", state="bot")), "handoff")
    finally:
        stop_process(bridge)

    assert deliveries == [202, 202] and resolved == [202]
    [agent_message] = socket.of_type("agent_message")
    assert (agent_message["text"], agent_message["author"]) == (
        "Ravi from Freshdesk here.",
        {"name": "Ravi"},
    )
    assert handback["reason"] == "ticket_solved"


async def freshdesk_ticket(redis_url: str, conversation_id: str) -> str:
    """The Freshdesk ticket the bridge made for the conversation, once it has recorded it
    for the gateways (the webhook names the ticket, not the conversation)."""
    found: list[str] = []
    redis = Redis.from_url(redis_url, decode_responses=True)

    async def recorded() -> bool:
        async for key in redis.scan_iter(f"{HELPDESK_TICKET_PREFIX}freshdesk:*"):
            if await redis.get(key) == conversation_id:
                found.append(key.rsplit(":", 1)[1])
                return True
        return False

    try:
        await wait_until(recorded, f"the Freshdesk ticket of {conversation_id}", timeout_s=90)
    finally:
        await redis.aclose()
    return found[0]


@pytest.fixture
def restartable_gateway(
    gateway_env: dict[str, str], worker: WorkerProcess
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts the customer's gateway (on a port of its own), again after a test killed it."""
    port = GATEWAY_PORT + 24
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        started.append(start_gateway(handoff_env(gateway_env), port, worker))
        return started[-1]

    yield start
    for process in started:
        stop_process(process)


async def test_an_agent_message_in_flight_while_the_customers_gateway_dies_arrives_once(
    gateways: Gateways,
    restartable_gateway: Callable[[], subprocess.Popen[bytes]],
    socket_on: OpenSocket,
) -> None:
    gateway = restartable_gateway()
    a = f"http://127.0.0.1:{GATEWAY_PORT + 24}"
    before = await socket_on(a)
    cid = (await before.until(has("ready")))[0]["conversation_id"]
    await escalated(before)
    path = f"/v1/conversations/{cid}/messages"

    async def say(text: str) -> None:
        response = await agent_call(gateways.b, path, text=text, author={"name": "Asha"})
        assert response.status_code == 202

    await say("Asha here.")
    await before.until(has("agent_message"))
    await say("Sent as your gateway died.")
    gateway.kill()  # SIGKILL: no goodbye to the socket, no commit
    gateway.wait()
    await before.drain()
    await say("Sent while you were away.")
    restartable_gateway()
    after = await socket_on(a, conversation_id=cid, after=str(before.last_seq()))
    ready = (await after.until(has("ready")))[0]
    await after.until(has("agent_message", text="Sent while you were away."))
    await say("Live again.")
    await after.until(has("agent_message", text="Live again."))

    entries = [
        m
        for m in before.received + after.received
        if m["type"] in ("agent_message", "handoff", "transcript")
    ]
    assert [m["text"] for m in entries if m["type"] == "agent_message"] == [
        "Asha here.",
        "Sent as your gateway died.",
        "Sent while you were away.",
        "Live again.",
    ]
    seqs = [m["conversation_seq"] for m in entries]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # in order, each once
    assert ready["handoff_state"] == "agent"
