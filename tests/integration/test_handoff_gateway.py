"""The gateway's side of human handoff on the real Kafka and Redis, with two gateways: the
customer's socket on one (A), the agent API and the webhooks called on the other (B). The
test stands in for the worker: it publishes the conversation events the worker would, and
reads back the agent actions the gateways publish on ``support.requests``."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from websockets.asyncio.client import ClientConnection, connect

from gateway.keys import digest
from runtime.envelope import envelope
from runtime.kafka import KafkaConnection
from runtime.redis import HELPDESK_TICKET_PREFIX
from schemas import (
    AgentAction,
    AgentActionKind,
    HandoffState,
    TranscriptRole,
    new_id,
    utc_now,
)
from schemas.topics import CONVERSATION_EVENTS, REQUESTS
from techgear.records import end_offsets, read_records
from tests.conftest import (
    ADMIN_KEY,
    AGENT_KEY,
    API_KEY,
    FRESHDESK_WEBHOOK_SECRET,
    GATEWAY_PORT,
    OTHER_CHAT_KEY,
    READ_ONLY_KEY,
    ZENDESK_WEBHOOK_SECRET,
    WorkerProcess,
    run_on_own_loop,
    running_gateway,
)
from tests.handoff_events import handoff, message
from tests.integration.conftest import decodes_as, read_until, wait_until
from tests.integration.test_websocket import offering, receive, until, ws_url

pytestmark = pytest.mark.integration

WORKER_SOURCE = "/techgear/worker"


@dataclass(frozen=True)
class Gateways:
    a: str
    """Holds the customers' sockets."""
    b: str
    """Takes the agents' calls and the webhooks."""


def handoff_env(gateway_env: dict[str, str]) -> dict[str, str]:
    """Overdue waits are looked for every second."""
    return gateway_env | {"HANDOFF_REMINDER_INTERVAL_S": "1"}


@pytest.fixture(scope="module")
def gateways(gateway_env: dict[str, str], worker: WorkerProcess) -> Iterator[Gateways]:
    env = handoff_env(gateway_env)
    with (
        running_gateway(env, GATEWAY_PORT + 20, worker) as a,
        running_gateway(env, GATEWAY_PORT + 21, worker) as b,
    ):
        yield Gateways(a, b)


async def publish(producer: AIOKafkaProducer, *events: Any) -> None:
    """As the worker does: each conversation event keyed by its conversation."""
    for event in events:
        await envelope(event, source=WORKER_SOURCE, key=event.conversation_id).send(
            producer, CONVERSATION_EVENTS
        )


def customer_socket(gateway_url: str, **params: str) -> Any:
    return connect(ws_url(gateway_url, **params), subprotocols=offering("key", API_KEY))


async def next_entry(ws: ClientConnection) -> dict[str, Any]:
    """The next message that is a transcript entry (it has a ``conversation_seq``)."""
    while True:
        msg = await receive(ws)
        if "conversation_seq" in msg and msg["type"] != "answer":
            return msg


async def messages(
    gateway_url: str, conversation_id: str, key: str = AGENT_KEY, **params: int
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        return await client.get(
            f"/v1/conversations/{conversation_id}/messages",
            params=params,
            headers={"X-API-Key": key},
        )


async def until_projected(gateway_url: str, conversation_id: str, seq: int) -> dict[str, Any]:
    """The conversation as the transcript store has it, once it holds ``seq``."""
    last: dict[str, Any] = {}

    async def holds() -> bool:
        nonlocal last
        response = await messages(gateway_url, conversation_id)
        last = response.json() if response.status_code == 200 else {}
        return bool(last) and last["last_seq"] >= seq

    await wait_until(holds, f"the projection to hold seq {seq} of {conversation_id}")
    return last


async def agent_call(
    gateway_url: str, path: str, key: str | None = AGENT_KEY, **body: Any
) -> httpx.Response:
    headers = {"X-API-Key": key} if key else {}
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        return await client.post(path, json=body or None, headers=headers)


@pytest.fixture(scope="module")
def requests_start(kafka_bootstrap: str) -> dict[int, int]:
    """Where support.requests ended before this module published anything: actions are
    looked for after it, not through every record an earlier run left there."""
    return run_on_own_loop(end_offsets(KafkaConnection(kafka_bootstrap), REQUESTS))


async def action_published(bootstrap: str, action_id: str, since: dict[int, int]) -> AgentAction:
    """The first ``AgentAction`` with ``action_id`` published on support.requests since
    ``since`` (the gateway answers 202 only once Kafka has it)."""
    for record in await read_records(KafkaConnection(bootstrap), REQUESTS, since):
        action = decodes_as(record, AgentAction)
        if action is not None and action.action_id == action_id:
            assert record.key == action.conversation_id.encode()
            return action
    raise AssertionError(f"no action {action_id} on {REQUESTS}")


async def owned_conversation(gateway_url: str) -> str:
    """A new conversation of ``API_KEY``'s, as its first socket starts it."""
    async with customer_socket(gateway_url) as ws:
        ready = await receive(ws)
    conversation_id: str = ready["conversation_id"]
    return conversation_id


async def test_agent_reply_sent_through_one_gateway_reaches_the_customer_on_the_other(
    gateways: Gateways,
    kafka_bootstrap: str,
    requests_start: dict[int, int],
) -> None:
    # The session worker applies the action: it is the transcript's only writer, so this
    # test publishes no stand-in events of its own for the conversation.
    async with customer_socket(gateways.a) as ws:
        ready = await receive(ws)
        cid = ready["conversation_id"]
        assert (ready["handoff_state"], ready["last_seq"]) == ("bot", 0)
        # The agent API knows conversations that have a transcript: one question, answered.
        await ws.send(json.dumps({"type": "ask", "message": "Do you ship to Pune?"}))
        await until(ws, "answer")
        await until_projected(gateways.b, cid, 2)

        reply_id = f"reply-{uuid.uuid4().hex}"
        reply = await agent_call(
            gateways.b,
            f"/v1/conversations/{cid}/messages",
            text="Hi, Asha here. I am looking at your order.",
            author={"name": "Asha"},
            message_id=reply_id,
        )
        action = await action_published(kafka_bootstrap, f"api:{reply_id}", requests_start)
        joined = await next_entry(ws)
        agent_message = await next_entry(ws)

    assert reply.status_code == 202
    assert reply.json() == {
        "conversation_id": cid,
        "action_id": f"api:{reply_id}",
        "status": "accepted",
    }
    assert (action.action, action.source, action.conversation_id) == (
        AgentActionKind.MESSAGE,
        "api",
        cid,
    )
    assert action.author is not None and action.author.name == "Asha"
    assert action.principal == f"key:{digest(AGENT_KEY).hex()[:12]}"
    assert (joined["type"], joined["conversation_seq"], joined["state"]) == ("handoff", 3, "agent")
    assert (joined["previous_state"], joined["author"]) == ("bot", {"name": "Asha"})
    assert agent_message == {
        "type": "agent_message",
        "seq": agent_message["seq"],
        "conversation_seq": 4,
        "message_id": f"api:{reply_id}",
        "text": "Hi, Asha here. I am looking at your order.",
        "author": {"name": "Asha"},
        "sent_at": agent_message["sent_at"],
    }


async def test_agent_api_refuses_what_it_may_not_do(
    gateways: Gateways,
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    requests_start: dict[int, int],
) -> None:
    cid = await owned_conversation(gateways.a)
    await publish(producer, handoff(cid, 1, HandoffState.AWAITING_AGENT))
    await until_projected(gateways.b, cid, 1)
    path = f"/v1/conversations/{cid}/messages"
    body = {"text": "hello", "author": {"name": "Asha"}}

    anonymous = await agent_call(gateways.b, path, key=None, **body)
    chat_only = await agent_call(gateways.b, path, key=API_KEY, **body)
    unknown = await agent_call(
        gateways.b, f"/v1/conversations/never-{uuid.uuid4().hex}/messages", **body
    )
    no_author = await agent_call(gateways.b, path, text="hello")
    handback = await agent_call(gateways.b, f"/v1/conversations/{cid}/handback")
    handed_back = await action_published(
        kafka_bootstrap, handback.json()["action_id"], requests_start
    )

    await publish(producer, handoff(cid, 2, HandoffState.CLOSED, HandoffState.AWAITING_AGENT))
    await until_projected(gateways.b, cid, 2)
    closed_message = await agent_call(gateways.b, path, **body)
    closed_handback = await agent_call(gateways.b, f"/v1/conversations/{cid}/handback")
    async with httpx.AsyncClient(base_url=gateways.a, timeout=30) as client:
        chat = await client.post(
            "/v1/chat",
            json={"message": "hello again", "conversation_id": cid},
            headers={"X-API-Key": API_KEY},
        )
    async with customer_socket(gateways.a, conversation_id=cid) as ws:
        ready = await receive(ws)
        await ws.send(json.dumps({"type": "ask", "message": "anyone?", "client_message_id": "q"}))
        refused, _ = await until(ws, "error")

    assert (anonymous.status_code, chat_only.status_code) == (401, 403)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (
        404,
        "conversation_not_found",
    )
    assert no_author.status_code == 422
    assert handback.status_code == 202 and handback.json()["action_id"].startswith("api:")
    assert (handed_back.action, handed_back.conversation_id) == (AgentActionKind.HANDBACK, cid)
    for refusal in (closed_message, closed_handback, chat):
        assert (refusal.status_code, refusal.json()["error"]["code"]) == (
            409,
            "conversation_closed",
        )
    assert ready["handoff_state"] == "closed"
    assert (refused["type"], refused["code"], refused["client_message_id"]) == (
        "error",
        "conversation_closed",
        "q",
    )


async def test_messages_are_read_in_order_by_their_owner_or_an_agent_only(
    gateways: Gateways, producer: AIOKafkaProducer
) -> None:
    cid = await owned_conversation(gateways.a)
    await publish(
        producer,
        message(cid, 1, "where is my order?", role=TranscriptRole.CUSTOMER, message_id="r1"),
        message(cid, 2, "Let me find a person.", role=TranscriptRole.ASSISTANT),
        handoff(cid, 3, HandoffState.AWAITING_AGENT),
        message(cid, 4, "Asha here."),
        message(cid, 4, "a duplicate of seq 4, published again after a crash"),
    )
    await until_projected(gateways.b, cid, 4)

    owner = await messages(gateways.b, cid, API_KEY)
    page = await messages(gateways.b, cid, API_KEY, after=1, limit=2)
    agent = await messages(gateways.a, cid, AGENT_KEY, after=3)
    other = await messages(gateways.b, cid, OTHER_CHAT_KEY)
    read_only = await messages(gateways.b, cid, READ_ONLY_KEY)
    async with httpx.AsyncClient(base_url=gateways.b, timeout=30) as client:
        anonymous = await client.get(f"/v1/conversations/{cid}/messages")
        too_many = await client.get(
            f"/v1/conversations/{cid}/messages",
            params={"limit": 501},
            headers={"X-API-Key": API_KEY},
        )

    assert owner.status_code == 200
    body = owner.json()
    assert (body["conversation_id"], body["handoff_state"], body["last_seq"]) == (
        cid,
        "awaiting_agent",
        4,
    )
    assert [m["conversation_seq"] for m in body["messages"]] == [1, 2, 3, 4]
    assert [m["type"] for m in body["messages"]] == [
        "transcript",
        "transcript",
        "handoff",
        "agent_message",
    ]
    assert body["messages"][0]["role"] == "customer" and body["messages"][3]["text"] == "Asha here."
    assert [m["conversation_seq"] for m in page.json()["messages"]] == [2, 3]
    assert [m["conversation_seq"] for m in agent.json()["messages"]] == [4]
    assert (other.status_code, other.json()["error"]["code"]) == (404, "conversation_not_found")
    assert (read_only.status_code, anonymous.status_code, too_many.status_code) == (403, 401, 422)


async def test_customer_back_after_a_disconnect_gets_what_was_missed_once_in_order(
    gateways: Gateways, producer: AIOKafkaProducer
) -> None:
    async with customer_socket(gateways.a) as ws:
        cid = (await receive(ws))["conversation_id"]
        await publish(producer, handoff(cid, 1, HandoffState.AWAITING_AGENT), message(cid, 2))
        seen_before = [(await next_entry(ws))["conversation_seq"] for _ in range(2)]
    await publish(producer, message(cid, 3, "while you were away"), message(cid, 4))
    await until_projected(gateways.b, cid, 4)

    async with customer_socket(gateways.a, conversation_id=cid, after="2") as ws:
        ready = await receive(ws)
        caught_up = [await next_entry(ws) for _ in range(2)]
        await publish(producer, message(cid, 4, "again"), message(cid, 5, "live"))
        live = await next_entry(ws)

    assert seen_before == [1, 2]
    assert (ready["handoff_state"], ready["last_seq"]) == ("awaiting_agent", 4)
    assert [(e["conversation_seq"], e["text"]) for e in caught_up] == [
        (3, "while you were away"),
        (4, "message 4"),
    ]
    assert (live["conversation_seq"], live["text"]) == (5, "live")


def zendesk_headers(
    body: bytes, *, secret: str = ZENDESK_WEBHOOK_SECRET, age_s: int = 0
) -> dict[str, str]:
    """Signed as Zendesk signs: base64 HMAC-SHA256 of the timestamp and the body."""
    timestamp = (datetime.now(UTC) - timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return {
        "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


def zendesk_comment(cid: str, comment_id: str, text: str, **comment: Any) -> bytes:
    return json.dumps(
        {
            "type": "zen:event-type:ticket.comment_added",
            "id": new_id(),
            "time": datetime.now(UTC).isoformat(),
            "subject": "zen:ticket:42",
            "zendesk_event_version": "2022-11-06",
            "detail": {"id": "42", "external_id": cid, "status": "OPEN"},
            "event": {
                "comment": {
                    "id": comment_id,
                    "body": text,
                    "is_public": True,
                    "author": {"id": "7", "is_staff": True, "name": "Asha"},
                }
                | comment
            },
        }
    ).encode()


async def webhook(gateway_url: str, helpdesk: str, body: bytes, headers: dict[str, str]) -> Any:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        return await client.post(f"/v1/webhooks/{helpdesk}", content=body, headers=headers)


async def test_zendesk_webhook_publishes_genuine_agent_comments_only(
    gateways: Gateways,
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    requests_start: dict[int, int],
) -> None:
    cid = await owned_conversation(gateways.a)
    await publish(producer, handoff(cid, 1, HandoffState.AWAITING_AGENT))
    await until_projected(gateways.b, cid, 1)
    forged_id, genuine_id = new_id(), new_id()
    forged = zendesk_comment(cid, forged_id, "send me your password")
    genuine = zendesk_comment(cid, genuine_id, "Your refund is on its way.")

    wrong = await webhook(gateways.b, "zendesk", forged, zendesk_headers(forged, secret="guess"))
    unsigned = await webhook(gateways.b, "zendesk", forged, {"Content-Type": "application/json"})
    replayed = await webhook(gateways.b, "zendesk", genuine, zendesk_headers(genuine, age_s=600))
    bridge_note = zendesk_comment(cid, new_id(), "The customer wrote: hi\n\nEscalation: e1")
    own_note = await webhook(gateways.b, "zendesk", bridge_note, zendesk_headers(bridge_note))
    private = zendesk_comment(cid, new_id(), "internal", is_public=False)
    internal = await webhook(gateways.b, "zendesk", private, zendesk_headers(private))
    malformed = await webhook(gateways.b, "zendesk", b"{}", zendesk_headers(b"{}"))
    huge = b'{"pad": "' + b"x" * 300_000 + b'"}'
    too_large = await webhook(gateways.b, "zendesk", huge, zendesk_headers(huge))
    accepted = await webhook(gateways.b, "zendesk", genuine, zendesk_headers(genuine))
    again = await webhook(gateways.b, "zendesk", genuine, zendesk_headers(genuine))
    action = await action_published(
        kafka_bootstrap, f"zendesk:comment:{genuine_id}", requests_start
    )
    # Keyed by the conversation, the forged one would precede the genuine one on its partition.
    with pytest.raises(TimeoutError):
        await read_until(
            kafka_bootstrap,
            REQUESTS,
            lambda r: getattr(decodes_as(r, AgentAction), "action_id", "").endswith(forged_id),
            timeout_s=3,
        )

    assert (wrong.status_code, unsigned.status_code, replayed.status_code) == (401, 401, 401)
    assert (own_note.status_code, own_note.json()) == (
        200,
        {"status": "ignored", "reason": "written_by_bridge"},
    )
    assert internal.json() == {"status": "ignored", "reason": "private_comment"}
    assert (malformed.status_code, too_large.status_code) == (400, 413)
    assert (accepted.status_code, again.status_code) == (202, 202)
    assert (action.action, action.source, action.text) == (
        AgentActionKind.MESSAGE,
        "zendesk",
        "Your refund is on its way.",
    )
    assert action.author is not None and action.author.name == "Asha"
    assert action.principal == "webhook:zendesk"


async def test_freshdesk_webhook_finds_the_conversation_of_its_ticket(
    gateways: Gateways,
    producer: AIOKafkaProducer,
    kafka_bootstrap: str,
    redis_url: str,
    requests_start: dict[int, int],
) -> None:
    cid = await owned_conversation(gateways.a)
    ticket = str(uuid.uuid4().int % 10**9)
    redis = Redis.from_url(redis_url)
    await redis.set(f"{HELPDESK_TICKET_PREFIX}freshdesk:{ticket}", cid)  # as the bridge does
    await redis.aclose()
    await publish(producer, handoff(cid, 1, HandoffState.AGENT))
    await until_projected(gateways.b, cid, 1)
    resolved = json.dumps(
        {"freshdesk_webhook": {"ticket_id": int(ticket), "ticket_status": "Resolved"}}
    ).encode()
    comment = json.dumps(
        {
            "freshdesk_webhook": {
                "ticket_id": int(ticket),
                "ticket_status": "Pending",
                "ticket_latest_public_comment": "We shipped a replacement.",
                "ticket_agent_name": "Ravi",
            }
        }
    ).encode()
    shared = {
        "X-TechGear-Webhook-Secret": FRESHDESK_WEBHOOK_SECRET,
        "Content-Type": "application/json",
    }

    wrong = await webhook(
        gateways.b, "freshdesk", comment, shared | {"X-TechGear-Webhook-Secret": "guess"}
    )
    replied = await webhook(gateways.b, "freshdesk", comment, shared)
    solved = await webhook(gateways.b, "freshdesk", resolved, shared)
    # No ticket this large exists: the fake helpdesk numbers its tickets from 1, and other
    # tests' bridges record those.
    never_made = 10**15 + int(ticket)
    unknown = json.dumps(
        {"freshdesk_webhook": {"ticket_id": never_made, "ticket_status": "Closed"}}
    )
    stranger = await webhook(gateways.b, "freshdesk", unknown.encode(), shared)

    assert wrong.status_code == 401
    assert (replied.status_code, solved.status_code) == (202, 202)
    reply = await action_published(kafka_bootstrap, replied.json()["action_id"], requests_start)
    handback = await action_published(kafka_bootstrap, solved.json()["action_id"], requests_start)
    assert (reply.conversation_id, reply.action, reply.text, reply.source) == (
        cid,
        AgentActionKind.MESSAGE,
        "We shipped a replacement.",
        "freshdesk",
    )
    assert reply.author is not None and reply.author.name == "Ravi"
    assert (handback.conversation_id, handback.action) == (cid, AgentActionKind.HANDBACK)
    assert stranger.json() == {"status": "ignored", "reason": "unknown_ticket"}


async def test_overdue_wait_is_reminded_once_and_counted(
    gateways: Gateways, producer: AIOKafkaProducer, kafka_bootstrap: str
) -> None:
    cid = await owned_conversation(gateways.a)
    promised = utc_now() - timedelta(minutes=1)
    await publish(
        producer,
        handoff(
            cid, 4, HandoffState.AWAITING_AGENT, expected_response_by=promised,
            occurred_at=promised - timedelta(minutes=15),
        ),
    )  # fmt: skip

    remind = await read_until(kafka_bootstrap, REQUESTS, reminder_of(cid))
    seen: dict[str, dict[str, float]] = {}

    async def both_count_it() -> bool:
        seen.update({url: await gauges(url) for url in (gateways.a, gateways.b)})
        return all(
            figures["techgear_handoff_oldest_wait_seconds"] >= 16 * 60
            and figures["techgear_handoff_overdue_conversations"] >= 1
            for figures in seen.values()
        )

    await wait_until(both_count_it, "both gateways to count the overdue wait")
    counted = dict(seen)

    async def both_ticked_again() -> bool:
        now = {url: await gauges(url) for url in counted}
        return all(
            now[url]["techgear_handoff_oldest_wait_seconds"]
            >= counted[url]["techgear_handoff_oldest_wait_seconds"] + 2
            for url in counted
        )

    await wait_until(both_ticked_again, "both gateways to look at the waits again")
    reminders = await all_records(kafka_bootstrap, REQUESTS, reminder_of(cid))

    action = decodes_as(remind, AgentAction)
    assert action is not None
    assert (action.action, action.source, action.principal) == (
        AgentActionKind.REMIND,
        "system",
        "system:reminders",
    )
    assert len(reminders) == 1
    assert all(f["techgear_handoff_awaiting_conversations"] >= 1 for f in counted.values())


def reminder_of(cid: str) -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    def matches(record: ConsumerRecord[bytes, bytes]) -> bool:
        action = decodes_as(record, AgentAction)
        return (
            action is not None
            and action.conversation_id == cid
            and action.action is AgentActionKind.REMIND
            and action.action_id == "remind:4"
        )

    return matches


async def gauges(gateway_url: str) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        text = (await client.get("/metrics", headers={"X-API-Key": ADMIN_KEY})).text
    return {
        family.name: family.samples[0].value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("techgear_handoff_")
    }


async def all_records(
    bootstrap: str, topic: str, predicate: Callable[[ConsumerRecord[bytes, bytes]], bool]
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic`` up to its current end that matches ``predicate``."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = await consumer.end_offsets(partitions)
        found = []
        async with asyncio.timeout(30):
            while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
                batches = await consumer.getmany(timeout_ms=500)
                found += [r for records in batches.values() for r in records if predicate(r)]
        return found
    finally:
        await consumer.stop()


async def test_restart_of_the_gateway_holding_the_socket_loses_nothing(
    gateways: Gateways,
    gateway_env: dict[str, str],
    worker: WorkerProcess,
    producer: AIOKafkaProducer,
) -> None:
    unset = {"ZENDESK_WEBHOOK_SECRET", "FRESHDESK_WEBHOOK_SECRET"}
    # No webhook secrets: the webhooks do not exist here.
    env = {k: v for k, v in handoff_env(gateway_env).items() if k not in unset}
    with running_gateway(env, GATEWAY_PORT + 22, worker) as c:
        async with customer_socket(c) as ws:
            cid = (await receive(ws))["conversation_id"]
            await publish(producer, handoff(cid, 1, HandoffState.AWAITING_AGENT))
            before = await next_entry(ws)
        no_webhook = await webhook(c, "zendesk", b"{}", zendesk_headers(b"{}"))
    # The gateway is gone; an agent's reply is published meanwhile.
    await publish(producer, message(cid, 2, "Asha here, sorry for the wait."))
    await until_projected(gateways.b, cid, 2)
    with running_gateway(env, GATEWAY_PORT + 22, worker) as c:
        async with customer_socket(c, conversation_id=cid, after="1") as ws:
            ready = await receive(ws)
            missed = await next_entry(ws)
            await publish(producer, message(cid, 2, "a duplicate"), message(cid, 3, "live"))
            live = await next_entry(ws)

    assert (before["conversation_seq"], no_webhook.status_code) == (1, 404)
    assert ready["last_seq"] == 2
    assert (missed["type"], missed["conversation_seq"], missed["text"]) == (
        "agent_message",
        2,
        "Asha here, sorry for the wait.",
    )
    assert (live["conversation_seq"], live["text"]) == (3, "live")


async def test_handoff_metrics_count_without_conversation_ids(gateways: Gateways) -> None:
    async with httpx.AsyncClient(base_url=gateways.b, timeout=30) as client:
        text = (await client.get("/metrics", headers={"X-API-Key": ADMIN_KEY})).text
        transcripts = (await client.get("/ready")).json()["checks"]["transcripts"]
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    webhooks = {
        labels: value
        for (name, labels), value in samples.items()
        if name == "techgear_gateway_webhooks_total"
    }
    assert webhooks[(("helpdesk", "zendesk"), ("outcome", "bad_signature"))] >= 0
    assert {dict(labels)["outcome"] for labels in webhooks} == {
        "accepted",
        "ignored",
        "bad_signature",
        "stale",
        "malformed",
    }
    assert transcripts == {
        "ok": True,
        "required": False,
        "latency_ms": 0.0,
        "detail": "writing transcripts",
    }
    counted_by = {
        labels
        for (name, labels) in samples
        if name
        in ("techgear_gateway_agent_messages_total", "techgear_gateway_handbacks_requested_total")
    }
    # Where actions came from, never which conversation: labels stay few.
    assert {dict(labels)["source"] for labels in counted_by} <= {"api", "zendesk", "freshdesk"}
    assert all(len(labels) == 1 for labels in counted_by) and counted_by
