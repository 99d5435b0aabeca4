"""The helpdesk bridge against local Zendesk- and Freshdesk-shaped servers, the real Kafka
and Redis: one ticket per escalation, one note per follow-up and one public reply from the
requester per customer message, also across restarts, redeliveries, crashes mid-batch,
garbled replies and a Redis outage; each ticket's conversation recorded for the gateways;
customer text escaped, asserted requesters not mailed, ticket ids checked, new tickets
limited per principal."""

from __future__ import annotations

import asyncio
import base64
import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord, RecordMetadata, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from helpdesk.targets import STAND_IN_EMAIL, UNVERIFIED, marker
from runtime.codec import decode, encode
from runtime.kafka import KafkaConnection
from runtime.redis import HELPDESK_TICKET_PREFIX
from runtime.topics import ensure_topics
from schemas import (
    Category,
    Customer,
    Escalation,
    EscalationKind,
    EscalationReason,
    HelpdeskDeadLetter,
    Priority,
    TicketType,
    TranscriptTurn,
)
from schemas.cloudevents import ce_type, header_value
from schemas.topics import ESCALATIONS, HELPDESK_DEADLETTER
from techgear.services import LocalRedis, ServicesSettings
from tests.conftest import API_KEY, REDIS_PORT, STATE_DIR, stop_process
from tests.integration.conftest import (
    FAKE_PORT,
    FAKE_URL,
    hand_back,
    produce_raw,
    read_until,
    start_bridge,
    wait_for,
    wait_until,
)

pytestmark = pytest.mark.integration

OWN_REDIS_PORT = int(os.environ.get("TEST_HELPDESK_REDIS_PORT", str(REDIS_PORT + 1)))
"""A Redis of the Redis-outage test alone, stopped and started by it."""


def records(target: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    state = httpx.get(f"{FAKE_URL}/_inspect").json()
    return state["tickets"][target], state["notes"][target]


def text_of(item: dict[str, Any]) -> str:
    return str(
        item.get("comment", {}).get("body") or item.get("description") or item.get("body") or ""
    )


def mentions(items: list[dict[str, Any]], request_id: str) -> int:
    """Tickets or notes made for ``request_id`` (transcripts may quote other references)."""
    return sum(f"Reference: {request_id} " in text_of(item) for item in items)


def escalate(gateway_url: str, conversation: str, message: str, **customer: str) -> str:
    response = httpx.post(
        f"{gateway_url}/v1/chat",
        json={
            "message": message,
            "conversation_id": conversation,
            **({"customer": customer} if customer else {}),
        },
        headers={"X-API-Key": API_KEY},
        timeout=30,
    )
    assert response.json()["escalated"] is True
    return str(response.json()["request_id"])


@pytest.mark.parametrize("target", ["zendesk", "freshdesk"])
def test_one_ticket_per_escalation_follow_ups_as_notes_also_across_a_restart(
    target: str, fake_helpdesks: str, gateway_url: str, kafka_bootstrap: str, redis_url: str
) -> None:
    redis.Redis.from_url(redis_url).delete(
        *redis.Redis.from_url(redis_url).keys(f"techgear:helpdesk:{target}:*") or ["none"]
    )
    first_conversation, second_conversation = f"hd-{uuid.uuid4().hex}", f"hd-{uuid.uuid4().hex}"
    opened = escalate(
        gateway_url,
        first_conversation,
        "I want to talk to a human",
        name="Asha",
        email="asha@example.in",
    )
    asyncio.run(hand_back(kafka_bootstrap, first_conversation))  # escalates again, not forwarded
    followed = escalate(
        gateway_url, first_conversation, "This is unacceptable, I will go to consumer court!"
    )

    bridge = start_bridge(target, kafka_bootstrap, redis_url)
    try:
        wait_for(
            lambda: mentions(records(target)[1], followed) == 1, "the follow-up note", timeout_s=60
        )
    finally:
        stop_process(bridge)
    later = escalate(
        gateway_url, second_conversation, "Please connect me to an agent", phone="+91 98765 43210"
    )
    bridge = start_bridge(target, kafka_bootstrap, redis_url)  # restarted mid-stream
    try:
        wait_for(
            lambda: mentions(records(target)[0], later) == 1, "the ticket created after the restart"
        )
        time.sleep(2)  # room for any duplicate to appear
    finally:
        stop_process(bridge)

    tickets, notes = records(target)
    assert mentions(tickets, opened) == 1 and mentions(notes, opened) == 0
    assert mentions(notes, followed) == 1 and mentions(tickets, followed) == 0
    assert mentions(tickets, later) == 1
    ticket = next(t for t in tickets if mentions([t], opened))
    assert next(n for n in notes if mentions([n], followed))["ticket_id"] == ticket["id"]
    # The key's caller asserted Asha: the helpdesk mails the stand-in, not her address.
    assert f"Requester, {UNVERIFIED}: name: Asha; email: asha@example.in" in text_of(ticket)
    if target == "zendesk":
        assert ticket["requester"] == {"name": "Unverified requester", "email": STAND_IN_EMAIL}
        assert ticket["external_id"] == first_conversation and ticket["priority"] == "normal"
    else:
        assert ticket["email"] == STAND_IN_EMAIL
        assert ticket["priority"] == 2 and ticket["source"] == 7


HOSTILE = (
    "I want to talk to a human <img src=x onerror=alert(1)> [click](javascript:alert(1)) "
    '<a href="https://evil.example/refund">refund</a>'
)


@pytest.mark.parametrize("target", ["zendesk", "freshdesk"])
def test_hostile_customer_text_reaches_the_ticket_and_its_notes_escaped(
    target: str, fake_helpdesks: str, gateway_url: str, kafka_bootstrap: str, redis_url: str
) -> None:
    conversation = f"hd-hostile-{uuid.uuid4().hex}"
    opened = escalate(gateway_url, conversation, HOSTILE, name='<b onclick="x()">Asha</b>')
    asyncio.run(hand_back(kafka_bootstrap, conversation))  # escalates again, not forwarded
    followed = escalate(
        gateway_url, conversation, f"This is unacceptable, I will go to consumer court! {HOSTILE}"
    )

    bridge = start_bridge(target, kafka_bootstrap, redis_url)
    try:
        wait_for(lambda: mentions(records(target)[1], followed) == 1, "the note", timeout_s=60)
    finally:
        stop_process(bridge)

    tickets, notes = records(target)
    ticket = next(t for t in tickets if mentions([t], opened))
    note = next(n for n in notes if mentions([n], followed))
    if target == "zendesk":  # the fake keeps what it was sent as html_body
        sent = [ticket["comment"]["html_body"], note["html_body"]]
    else:
        sent = [ticket["description"], note["body"]]
    for html in sent:
        assert "&lt;img src=x onerror=alert(1)&gt; [click](javascript:alert(1)) " in html
        assert "&lt;a href=&quot;https://evil.example/refund&quot;&gt;refund&lt;/a&gt;" in html
        assert "<img" not in html and "<a " not in html
    assert "name: &lt;b onclick=&quot;x()&quot;&gt;Asha&lt;/b&gt;" in sent[0]


async def test_ticket_refused_as_invalid_goes_to_the_helpdesk_dead_letters(
    fake_helpdesks: str, gateway_url: str, kafka_bootstrap: str, redis_url: str
) -> None:
    conversation = f"hd-{uuid.uuid4().hex}"
    refused = escalate(gateway_url, conversation, "REFUSE-ME connect me to a human agent")
    bridge = start_bridge("freshdesk", kafka_bootstrap, redis_url)
    try:
        record = await read_until(
            kafka_bootstrap,
            HELPDESK_DEADLETTER,
            # The letter carries the escalation's bytes in base64, its conversation as is.
            lambda r: conversation.encode() in (r.value or b""),
            timeout_s=60,
        )
    finally:
        stop_process(bridge)
    letter = decode(record.value or b"", HelpdeskDeadLetter)
    assert (letter.request_id, letter.reason) == (refused, "refused")
    assert "Validation failed" in letter.error
    assert mentions(records("freshdesk")[0], refused) == 0


@pytest.fixture(scope="module")
async def escalations_topic(kafka_bootstrap: str) -> str:
    await ensure_topics(KafkaConnection(kafka_bootstrap))
    return ESCALATIONS


def escalation(
    conversation: str, opened_by: Escalation | None = None, principal: str | None = None
) -> Escalation:
    """A new escalation, or with ``opened_by`` a follow-up on that one's ticket."""
    request_id, event_id = f"hd-{uuid.uuid4().hex}", str(uuid.uuid4())
    return Escalation(
        request_id=request_id,
        conversation_id=conversation,
        correlation_id=request_id,
        event_id=event_id,
        kind=EscalationKind.FOLLOW_UP if opened_by else EscalationKind.NEW,
        ticket_event_id=opened_by.event_id if opened_by else event_id,
        requester=Customer(name="Asha", email="asha@example.in"),
        principal=principal,
        subject="My charger stopped working",
        summary="The customer asks for a person.",
        transcript=[TranscriptTurn(role="customer", text="I want to talk to a human")],
        category=Category.HUMAN_AGENT,
        confidence=0.9,
        reason=EscalationReason.HUMAN_REQUESTED,
        priority=Priority.NORMAL,
        ticket_type=TicketType.QUESTION,
        channel="api",
        tags=["techgear"],
    )


async def produce(kafka_bootstrap: str, escalations: list[Escalation]) -> list[RecordMetadata]:
    """In order; one conversation's escalations share a partition."""
    return [
        await produce_raw(kafka_bootstrap, ESCALATIONS, encode(e), key=e.conversation_id.encode())
        for e in escalations
    ]


async def committed(kafka_bootstrap: str, target: str, partition: int) -> int:
    """The bridge's committed offset on ``partition`` of support.escalations (-1: none)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        tp = TopicPartition(ESCALATIONS, partition)
        offsets = await admin.list_consumer_group_offsets(
            f"techgear-helpdesk-{target}", partitions=[tp]
        )
    finally:
        await admin.close()
    return offsets[tp].offset if tp in offsets else -1


def arm(**faults: list[str]) -> None:
    httpx.post(f"{FAKE_URL}/_faults", json=faults).raise_for_status()


def wait_until_held(armed: str) -> None:
    """Until the fake helpdesk has made the write armed with ``armed`` and holds its answer."""

    def held() -> bool:
        return armed in httpx.get(f"{FAKE_URL}/_inspect").json()["held"]

    wait_for(held, f"the held write of {armed}", timeout_s=60)


def release() -> None:
    httpx.post(f"{FAKE_URL}/_release").raise_for_status()


def assert_made_exactly_once(
    target: str, tickets_for: list[Escalation], notes_for: list[Escalation]
) -> None:
    tickets, notes = records(target)
    assert [mentions(tickets, e.request_id) for e in tickets_for] == [1] * len(tickets_for)
    assert [mentions(notes, e.request_id) for e in notes_for] == [1] * len(notes_for)
    assert [mentions(tickets, e.request_id) for e in notes_for] == [0] * len(notes_for)
    ticket_ids = {
        e.event_id: t["id"] for e in tickets_for for t in tickets if mentions([t], e.request_id)
    }
    for follow_up in notes_for:
        note = next(n for n in notes if mentions([n], follow_up.request_id))
        assert note["ticket_id"] == ticket_ids[follow_up.ticket_event_id]


@pytest.mark.parametrize("target", ["zendesk", "freshdesk"])
async def test_a_bridge_killed_or_answered_garbage_mid_batch_makes_each_ticket_and_note_once(
    target: str, fake_helpdesks: str, escalations_topic: str, kafka_bootstrap: str, redis_url: str
) -> None:
    conversation = f"hd-crash-{uuid.uuid4().hex}"
    new1 = escalation(conversation)
    follow1 = escalation(conversation, opened_by=new1)
    new2 = escalation(conversation)
    follow2 = escalation(conversation, opened_by=new2)
    new3 = escalation(conversation)
    # Made at the helpdesk, answered with a body that is not JSON: retried in-process.
    arm(garble=[new1.request_id, follow2.request_id])
    # Made at the helpdesk, the answer withheld while the test kills the bridge.
    arm(hold=[follow1.request_id, new2.request_id])
    sent = await produce(kafka_bootstrap, [new1, follow1, new2, follow2, new3])
    partition = sent[0].partition

    bridge = start_bridge(target, kafka_bootstrap, redis_url)
    try:
        for in_flight, position in ((follow1, sent[1]), (new2, sent[2])):
            wait_until_held(in_flight.request_id)
            bridge.kill()  # SIGKILL: the helpdesk made it, Redis never heard of it
            bridge.wait()
            assert await committed(kafka_bootstrap, target, partition) == position.offset
            release()
            bridge = start_bridge(target, kafka_bootstrap, redis_url)

        async def all_committed() -> bool:
            return await committed(kafka_bootstrap, target, partition) > sent[-1].offset

        await wait_until(all_committed, "every escalation committed", timeout_s=120)
    finally:
        stop_process(bridge)

    assert_made_exactly_once(target, [new1, new2, new3], [follow1, follow2])


@pytest.fixture
def own_redis() -> Iterator[LocalRedis]:
    """A Redis only the test below uses, so it can stop it; data survives a restart when
    saved first (``--save ""`` still loads the dump at start)."""
    settings = ServicesSettings(
        _env_file=None,  # type: ignore[call-arg]
        techgear_state_dir=STATE_DIR / "helpdesk-redis",
        redis_port=OWN_REDIS_PORT,
    )
    local = LocalRedis(settings)
    local.start()
    with redis.Redis(port=OWN_REDIS_PORT) as client:
        client.flushall()
    yield local
    local.stop()


@pytest.mark.parametrize("target", ["zendesk", "freshdesk"])
async def test_redis_down_after_the_helpdesk_took_a_ticket_skips_nothing_and_doubles_nothing(
    target: str,
    fake_helpdesks: str,
    escalations_topic: str,
    kafka_bootstrap: str,
    own_redis: LocalRedis,
) -> None:
    conversation = f"hd-redis-{uuid.uuid4().hex}"
    new1 = escalation(conversation)
    follow1 = escalation(conversation, opened_by=new1)
    new2 = escalation(conversation)
    new3 = escalation(conversation)
    arm(hold=[new2.request_id])
    sent = await produce(kafka_bootstrap, [new1, follow1, new2, new3])
    log_path = STATE_DIR / f"helpdesk-{target}-redis-down.log"
    log_path.unlink(missing_ok=True)

    bridge = start_bridge(
        target, kafka_bootstrap, f"redis://127.0.0.1:{OWN_REDIS_PORT}/0", log_path
    )
    try:
        wait_until_held(new2.request_id)
        with redis.Redis(port=OWN_REDIS_PORT) as client:
            client.save()  # nothing writes meanwhile: the bridge waits for the helpdesk
        own_redis.stop()
        release()  # the ticket exists; recording it fails
        wait_for(lambda: "ConnectionError" in log_path.read_text(), "the bridge retrying")
        assert await committed(kafka_bootstrap, target, sent[2].partition) == sent[2].offset
        assert mentions(records(target)[0], new3.request_id) == 0
        own_redis.start()

        async def all_committed() -> bool:
            return await committed(kafka_bootstrap, target, sent[2].partition) > sent[-1].offset

        await wait_until(all_committed, "every escalation committed", timeout_s=120)
    finally:
        stop_process(bridge)

    assert_made_exactly_once(target, [new1, new2, new3], [follow1])


async def caught_up(kafka_bootstrap: str, target: str) -> bool:
    """Whether the bridge has committed every escalation on the topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(ESCALATIONS, p) for p in range(3)])
    finally:
        await consumer.stop()
    # A partition without a commit (-1) is caught up only while it is empty.
    return all(
        [
            max(await committed(kafka_bootstrap, target, tp.partition), 0) >= end
            for tp, end in ends.items()
        ]
    )


def serving(metrics_port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").is_success
    except httpx.ConnectError:
        return False


def counted(metrics_port: int, name: str, **labels: str) -> float:
    """The bridge's counter ``name`` with exactly ``labels`` (0 before any)."""
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    return next(
        (
            sample.value
            for family in text_string_to_metric_families(scraped)
            for sample in family.samples
            if sample.name == name and sample.labels == labels
        ),
        0.0,
    )


def rate_limited(metrics_port: int, target: str) -> float:
    """The bridge's count of escalations it dead-lettered as rate limited (0 before any)."""
    return counted(
        metrics_port, "techgear_helpdesk_dead_letters_total", target=target, reason="rate_limited"
    )


def dead_letter_of(event: Escalation) -> Callable[[ConsumerRecord[bytes, bytes]], bool]:
    return lambda r: event.event_id.encode() in (r.value or b"")


@pytest.mark.parametrize("target", ["zendesk", "freshdesk"])
async def test_a_ticket_id_that_is_not_a_positive_integer_is_dead_lettered_unrequested(
    target: str,
    fake_helpdesks: str,
    escalations_topic: str,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    opened = escalation(f"hd-ticket-id-{uuid.uuid4().hex}")
    follow_up = escalation(opened.conversation_id, opened_by=opened)
    with redis.Redis.from_url(redis_url) as client:  # as if Redis had been tampered with
        client.set(f"techgear:helpdesk:{target}:ticket:{opened.event_id}", "../users/1")
    await produce(kafka_bootstrap, [follow_up])

    bridge = start_bridge(target, kafka_bootstrap, redis_url)
    try:
        record = await read_until(
            kafka_bootstrap, HELPDESK_DEADLETTER, dead_letter_of(follow_up), timeout_s=60
        )
    finally:
        stop_process(bridge)
    letter = decode(record.value or b"", HelpdeskDeadLetter)
    assert (letter.reason, letter.target) == ("invalid_ticket_id", target)
    assert letter.escalation_event_id == follow_up.event_id
    assert base64.b64decode(letter.original_value_b64) == encode(follow_up)
    assert header_value(record.headers, "ce_type") == ce_type(letter.event_type)
    paths = httpx.get(f"{FAKE_URL}/_inspect").json()["paths"]
    assert not [p for p in paths if "users" in p or ".." in p]
    assert mentions(records(target)[1], follow_up.request_id) == 0


@pytest.mark.parametrize("target", ["zendesk", "freshdesk"])
async def test_new_tickets_over_a_principals_hourly_limit_are_dead_lettered_and_counted(
    target: str,
    fake_helpdesks: str,
    escalations_topic: str,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    flooder, other = f"key:flood{uuid.uuid4().hex[:8]}", f"key:calm{uuid.uuid4().hex[:8]}"
    flooded = f"hd-flood-{uuid.uuid4().hex}"  # one partition: the order is the bridge's
    first, second, third = (escalation(flooded, principal=flooder) for _ in range(3))
    follow_up = escalation(first.conversation_id, opened_by=first, principal=flooder)
    unrelated = escalation(f"hd-calm-{uuid.uuid4().hex}", principal=other)

    metrics_port = FAKE_PORT + 1
    bridge = start_bridge(
        target,
        kafka_bootstrap,
        redis_url,
        HELPDESK_TICKETS_PER_PRINCIPAL_PER_HOUR="2",
        HELPDESK_METRICS_PORT=str(metrics_port),
    )
    try:
        # Other tests' escalations are this bridge's backlog: count from once it is settled.
        wait_for(lambda: serving(metrics_port), "the bridge's metrics endpoint")
        await wait_until(lambda: caught_up(kafka_bootstrap, target), "the backlog settled")
        before = rate_limited(metrics_port, target)
        await produce(kafka_bootstrap, [first, second, third, follow_up, unrelated])
        record = await read_until(
            kafka_bootstrap, HELPDESK_DEADLETTER, dead_letter_of(third), timeout_s=60
        )
        wait_for(
            lambda: mentions(records(target)[0], unrelated.request_id) == 1,
            "the other principal's ticket",
        )
        wait_for(lambda: mentions(records(target)[1], follow_up.request_id) == 1, "the note")
        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert rate_limited(metrics_port, target) == before + 1
    finally:
        stop_process(bridge)

    assert decode(record.value or b"", HelpdeskDeadLetter).reason == "rate_limited"
    tickets, _ = records(target)
    assert [mentions(tickets, e.request_id) for e in (first, second, third)] == [1, 1, 0]
    assert flooder not in scraped


def customer_message(opened: Escalation, text: str) -> Escalation:
    """The customer's ``text``, written while a person owns ``opened``'s conversation."""
    return escalation(opened.conversation_id, opened_by=opened).model_copy(
        update={
            "kind": EscalationKind.CUSTOMER_MESSAGE,
            "summary": text,
            "transcript": [TranscriptTurn(role="customer", text=text)],
        }
    )


def public_replies(target: str, message: Escalation) -> list[dict[str, Any]]:
    """The public comments (Zendesk) or notes (Freshdesk) on the fake that carry
    ``message``'s marker."""
    public = httpx.get(f"{FAKE_URL}/_inspect").json()["public_comments"][target]
    return [c for c in public if marker(message) in str(c.get("body_text") or c["body"])]


def assert_replied_once_as_the_requester(
    target: str, opened: Escalation, messages: list[Escalation]
) -> None:
    tickets, _ = records(target)
    ticket = next(t for t in tickets if mentions([t], opened.request_id))
    replies = [public_replies(target, m) for m in messages]
    assert [len(r) for r in replies] == [1] * len(messages)
    for message, (reply,) in zip(messages, replies, strict=True):
        assert reply["ticket_id"] == ticket["id"]
        assert str(reply.get("body_text") or reply["body"]).startswith(message.summary)
        if target == "zendesk":
            assert reply["public"] is True and reply["author_id"] == ticket["requester_id"]
            sent = reply["html_body"]
        else:
            assert (reply["private"], reply["incoming"]) == (False, True)
            assert reply["user_id"] == ticket["requester_id"] and "notify_emails" not in reply
            sent = reply["body"]
        assert "<img" not in sent and "&lt;img src=x&gt;" in sent  # escaped as notes are
    ids = [r[0]["id"] for r in replies]
    assert ids == sorted(ids)  # in the conversation's order


@pytest.mark.parametrize("target", ["zendesk", "freshdesk"])
async def test_customer_messages_become_one_public_reply_each_from_the_requester_when_redelivered(
    target: str,
    fake_helpdesks: str,
    escalations_topic: str,
    kafka_bootstrap: str,
    redis_url: str,
) -> None:
    opened = escalation(f"hd-customer-{uuid.uuid4().hex}")
    first = customer_message(opened, "It still does not charge <img src=x> after the reset")
    second = customer_message(opened, "The light blinks <img src=x> red, then nothing")
    metrics_port = FAKE_PORT + 1
    bridge = start_bridge(
        target,
        kafka_bootstrap,
        redis_url,
        HELPDESK_METRICS_PORT=str(metrics_port),
        CONVERSATION_TTL_S="7200",
    )
    try:
        # Other tests' escalations are this bridge's backlog: count from once it is settled.
        wait_for(lambda: serving(metrics_port), "the bridge's metrics endpoint")
        await wait_until(lambda: caught_up(kafka_bootstrap, target), "the backlog settled")

        def replies(outcome: str) -> float:
            return counted(
                metrics_port,
                "techgear_helpdesk_escalations_total",
                target=target,
                kind="customer_message",
                outcome=outcome,
            )

        before = {outcome: replies(outcome) for outcome in ("written", "redelivered")}
        # The first message comes twice, as after a worker re-published it.
        sent = await produce(kafka_bootstrap, [opened, first, first, second])

        async def all_committed() -> bool:
            return await committed(kafka_bootstrap, target, sent[0].partition) > sent[-1].offset

        await wait_until(all_committed, "every escalation committed", timeout_s=60)
        assert replies("written") == before["written"] + 2
        assert replies("redelivered") == before["redelivered"] + 1
    finally:
        stop_process(bridge)

    assert_made_exactly_once(target, [opened], [])
    assert_replied_once_as_the_requester(target, opened, [first, second])
    ticket = next(t for t in records(target)[0] if mentions([t], opened.request_id))
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        key = f"{HELPDESK_TICKET_PREFIX}{target}:{ticket['id']}"
        assert client.get(key) == opened.conversation_id
        assert 7000 < client.ttl(key) <= 7200  # refreshed by each of the ticket's escalations


@pytest.mark.parametrize("target", ["zendesk", "freshdesk"])
async def test_a_bridge_killed_between_a_customer_reply_and_its_record_writes_it_once(
    target: str, fake_helpdesks: str, escalations_topic: str, kafka_bootstrap: str, redis_url: str
) -> None:
    opened = escalation(f"hd-customer-crash-{uuid.uuid4().hex}")
    held = customer_message(opened, "Is anyone there? <img src=x>")
    garbled = customer_message(opened, "I tried another cable too <img src=x>")
    after = customer_message(opened, "Please call me back <img src=x>")
    # Made at the helpdesk, the answer withheld while the test kills the bridge.
    arm(hold=[marker(held)])
    # Made at the helpdesk, answered with a body that is not JSON: retried in-process.
    arm(garble=[marker(garbled)])
    sent = await produce(kafka_bootstrap, [opened, held, garbled, after])
    partition = sent[0].partition

    bridge = start_bridge(target, kafka_bootstrap, redis_url)
    try:
        wait_until_held(marker(held))
        bridge.kill()  # SIGKILL: the helpdesk wrote the reply, Redis never heard of it
        bridge.wait()
        assert await committed(kafka_bootstrap, target, partition) == sent[1].offset
        release()
        bridge = start_bridge(target, kafka_bootstrap, redis_url)

        async def all_committed() -> bool:
            return await committed(kafka_bootstrap, target, partition) > sent[-1].offset

        await wait_until(all_committed, "every escalation committed", timeout_s=120)
    finally:
        stop_process(bridge)

    assert_made_exactly_once(target, [opened], [])
    assert_replied_once_as_the_requester(target, opened, [held, garbled, after])


@pytest.mark.parametrize("target", ["zendesk", "freshdesk"])
async def test_a_customer_message_whose_ticket_is_unknown_opens_one_for_the_next_to_reply_on(
    target: str, fake_helpdesks: str, escalations_topic: str, kafka_bootstrap: str, redis_url: str
) -> None:
    never_made = escalation(f"hd-customer-orphan-{uuid.uuid4().hex}")  # e.g. dead-lettered
    orphan = customer_message(never_made, "Hello? <img src=x> Nobody answered")
    later = customer_message(never_made, "Still waiting <img src=x>")
    sent = await produce(kafka_bootstrap, [orphan, later])

    bridge = start_bridge(target, kafka_bootstrap, redis_url)
    try:

        async def all_committed() -> bool:
            return await committed(kafka_bootstrap, target, sent[0].partition) > sent[-1].offset

        await wait_until(all_committed, "both messages committed", timeout_s=60)
    finally:
        stop_process(bridge)

    assert_made_exactly_once(target, [orphan], [])
    assert_replied_once_as_the_requester(target, orphan, [later])
    assert public_replies(target, orphan) == []  # it is the ticket's first, private comment
