"""The outcome figures of a scripted set of conversations, counted by the running worker
from the real topics and read from its Prometheus endpoint."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from runtime.envelope import envelope
from runtime.settings import WORKER_GROUP_ID
from schemas import (
    Category,
    ConversationMessage,
    EscalationReason,
    Feedback,
    FeedbackRating,
    FeedbackReason,
    HandoffChanged,
    HandoffState,
    new_id,
)
from schemas.topics import CONVERSATION_EVENTS, FEEDBACK
from tests.conftest import WORKER_METRICS_PORT, WorkerProcess, worker_group_members
from tests.integration.conftest import end_marks, group_offsets, wait_for, wait_until
from tests.outcome_events import Scripted

pytestmark = pytest.mark.integration

Series = tuple[str, frozenset[tuple[str, str]]]
SOURCE = "/techgear/tests"


def scrape() -> dict[Series, float]:
    text = httpx.get(f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics", timeout=5).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def series(name: str, **labels: str) -> Series:
    return name, frozenset(labels.items())


def day(figure: str, **labels: str) -> Series:
    return series(f"techgear_outcomes_current_{figure}", window="day", **labels)


def total(figure: str, **labels: str) -> Series:
    return series(f"techgear_outcomes_{figure}_total", **labels)


async def publish(
    producer: AIOKafkaProducer, events: Iterable[ConversationMessage | HandoffChanged | Feedback]
) -> None:
    for event in events:
        topic = FEEDBACK if isinstance(event, Feedback) else CONVERSATION_EVENTS
        await envelope(event, source=SOURCE, key=event.conversation_id).send(producer, topic)


async def quiet(bootstrap: str) -> dict[Series, float]:
    """The worker's figures once it has counted everything published so far and settled
    every outcome (the worker fixture's probe questions, earlier tests' conversations)."""
    marks = await end_marks(bootstrap, (CONVERSATION_EVENTS, FEEDBACK))

    async def caught_up() -> bool:
        committed = await group_offsets(bootstrap, WORKER_GROUP_ID)
        return all(
            committed.get(TopicPartition(topic, partition), 0) >= offset
            for topic, ends in marks.items()
            for partition, offset in ends.items()
        )

    await wait_until(caught_up, "the worker counted what was published")
    since = time.time()

    def settled_and_shown() -> bool:
        now = scrape()
        return (
            now[series("techgear_outcomes_refreshed_timestamp_seconds")] > since
            and now[series("techgear_outcomes_open_conversations")] == 0
        )

    wait_for(settled_and_shown, "every open outcome settled")
    return scrape()


def settled(expected: Mapping[Series, float], before: Mapping[Series, float]) -> bool:
    now = scrape()
    return all(now.get(s, 0.0) - before.get(s, 0.0) == n for s, n in expected.items())


async def test_outcome_figures_of_scripted_conversations_are_counted_exactly_once(
    worker: WorkerProcess, producer: AIOKafkaProducer
) -> None:
    before = await quiet(worker.bootstrap)
    docs = {name: f"{name}-{new_id()}" for name in ("shared", "replaced", "outdated")}
    up_a, up_b, replaced, escalated, taken, down = (Scripted() for _ in range(6))
    rated_twice = answered(replaced, Category.WARRANTY, docs["replaced"])
    transcript: list[ConversationMessage | HandoffChanged] = [
        *(e for s in (up_a, up_b) for e in answered(s, Category.PRODUCT_INFO, docs["shared"])),
        *rated_twice,
        *rated_twice,  # published again (a worker's retry after a crash)
        escalated.question("r1"),
        escalated.answer("r1", escalation_reason=EscalationReason.NO_RELEVANT_KNOWLEDGE),
        escalated.handoff(
            "r1", HandoffState.AWAITING_AGENT, HandoffState.BOT, "no_relevant_knowledge"
        ),
        taken.question("r1"),
        taken.answer(
            "r1", Category.HUMAN_AGENT, escalation_reason=EscalationReason.HUMAN_REQUESTED
        ),
        taken.handoff("r1", HandoffState.AWAITING_AGENT, HandoffState.BOT, "human_requested"),
        taken.handoff(
            "a1", HandoffState.AGENT, HandoffState.AWAITING_AGENT, "agent_replied", actor="agent"
        ),
        taken.question("r2", forwarded=True),
        *answered(down, Category.BILLING_PAYMENT, docs["outdated"]),
    ]
    await publish(producer, transcript)
    # A rating follows its answer on screen; here, its answer is counted first.
    wait_for(lambda: settled({total("answered"): 4}, before), "the transcript counted")
    first_down = replaced.rating("r1", FeedbackRating.DOWN, reason=FeedbackReason.WRONG)
    up = up_a.rating("r1", FeedbackRating.UP)
    await publish(
        producer,
        [
            up,
            up,  # published again
            up_b.rating("r1", FeedbackRating.UP),
            first_down,
            replaced.rating("r1", FeedbackRating.UP, revision=2),
            first_down,  # the older rating, again
            down.rating("r1", FeedbackRating.DOWN, reason=FeedbackReason.OUTDATED),
        ],
    )
    await producer.send_and_wait(FEEDBACK, b"\x00 not an event", key=b"hostile")

    expected = {
        total("questions"): 6,
        total("answered"): 4,
        total("escalated", reason="no_relevant_knowledge"): 1,
        total("escalated", reason="human_requested"): 1,
        total("conversations"): 6,
        total("taken_over"): 1,
        total("closed"): 6,
        total("resolved"): 3,
        total("ratings", category="product_info", rating="up"): 2,
        total("ratings", category="warranty", rating="down"): 1,
        total("ratings", category="warranty", rating="up"): 1,
        total("ratings", category="billing_payment", rating="down"): 1,
        total("ratings_replaced", category="warranty", rating="down"): 1,
        day("questions"): 6,
        day("answered"): 4,
        day("escalated", reason="no_relevant_knowledge"): 1,
        day("conversations"): 6,
        day("taken_over"): 1,
        day("closed"): 6,
        day("resolved"): 3,
        day("ratings", category="warranty", rating="down"): 0,
        day("ratings", category="warranty", rating="up"): 1,
        day("document_ratings", doc_id=docs["shared"], rating="up"): 2,
        day("document_ratings", doc_id=docs["replaced"], rating="up"): 1,
        day("document_ratings", doc_id=docs["replaced"], rating="down"): 0,
        day("document_ratings", doc_id=docs["outdated"], rating="down"): 1,
    }
    try:
        wait_for(lambda: settled(expected, before), "the outcomes settled", timeout_s=40)
    except TimeoutError:
        now = scrape()
        got = {s: now.get(s, 0.0) - before.get(s, 0.0) for s in expected}
        pytest.fail(f"expected {expected}, got {got}")
    assert settled(expected, before)
    assert scrape()[series("techgear_outcomes_open_conversations")] == 0


def answered(script: Scripted, category: Category, doc_id: str) -> list[ConversationMessage]:
    return [script.question("r1"), script.answer("r1", category, (doc_id,))]


async def test_events_read_again_after_a_crash_are_not_counted_twice(
    worker: WorkerProcess, producer: AIOKafkaProducer
) -> None:
    """A worker that dies before committing reads its events again: the restarted one
    finds them counted in the tables it recovers, and counts nothing twice."""
    before = await quiet(worker.bootstrap)
    marks = await end_marks(worker.bootstrap, (CONVERSATION_EVENTS, FEEDBACK))
    doc = f"policy-{new_id()}"
    script = Scripted()
    await publish(
        producer,
        [
            script.question("r1"),
            script.answer(
                "r1", Category.BILLING_PAYMENT, (doc,), EscalationReason.POLICY_EXCEPTION
            ),
        ],
    )
    await publish(producer, [script.rating("r1", FeedbackRating.DOWN)])
    counted = {
        day("escalated", reason="policy_exception"): 1.0,
        day("document_ratings", doc_id=doc, rating="down"): 1.0,
    }
    wait_for(lambda: settled(counted, before), "the conversation counted")
    escalated_today = (await quiet(worker.bootstrap))[day("escalated", reason="policy_exception")]

    worker.process.kill()  # SIGKILL: no shutdown, no last commit
    worker.process.wait()
    wait_for(lambda: not worker_group_members(worker.bootstrap), "the killed worker evicted")
    # As if it had died before committing what it counted: its events are read again.
    await rewind(worker.bootstrap, marks)
    worker.restart()

    after = await quiet(worker.bootstrap)
    assert after[day("escalated", reason="policy_exception")] == escalated_today
    assert after[day("document_ratings", doc_id=doc, rating="down")] == 1
    assert after.get(total("escalated", reason="policy_exception"), 0) == 0
    assert after.get(total("ratings", category="billing_payment", rating="down"), 0) == 0


async def rewind(bootstrap: str, marks: dict[str, dict[int, int]]) -> None:
    """Commit ``marks`` for the (stopped) worker group: it reads on from there."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=WORKER_GROUP_ID, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = {
            TopicPartition(topic, partition): offset
            for topic, ends in marks.items()
            for partition, offset in ends.items()
        }
        consumer.assign(list(partitions))
        await consumer.commit(partitions)
    finally:
        await consumer.stop()
