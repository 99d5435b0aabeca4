"""Fault injection on the real stack: dependencies going away during traffic.

These tests stop, kill and replace shared services on a machine that may be loaded, so
none of them measures before the stack is ready, and none assumes that a fixed time is
enough for anything to start, join or recover:

- Before each test the workers answer at once (``wait_for_stable_worker_group``: the
  group ``techgear-worker`` is Stable with every partition of support.requests assigned,
  and a probe greeting sent to each partition has been answered), whatever the previous
  test did to the worker or the broker.
- ``substitute_worker`` and ``WorkerProcess.restart`` return only once the new worker is
  in that state, in place of the one it replaces (a killed worker's member evicted
  first); a gateway started by ``running_gateway`` answers ``/ready`` with 200.
- Redis outage: waits for ``/ready`` to report Redis down, and after its restart up.
- LLM outage: the breaker's open period is long enough for a question to reach the
  worker while it is open; the recovery question is asked once that period has elapsed
  since the circuit opened.
- Kafka outage: waits until the question is answered from the gateway's cache before
  stopping the broker; after its restart waits for the broker to answer metadata requests
  (``LocalKafka.start``), the gateway's ``/ready`` and the workers answering again, then
  asks a question the cache cannot answer.
- Worker killed mid-stream: the callers wait (``REQUEST_TIMEOUT_S``) for as long as a
  replacement may take to start and the group to evict the killed member and rebalance;
  the restart runs beside the requests, not blocking them.

Bounds on these waits are generous, since they only matter when something is broken;
each test's time limit leaves room for two worker starts on a loaded machine.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.codec import decode
from runtime.kafka import KafkaConnection
from schemas import ChatAnswer, Escalation, EscalationReason
from schemas.topics import ANSWERS, ESCALATIONS, FEEDBACK
from techgear.records import end_offsets, read_records
from techgear.services import LocalKafka, LocalRedis
from tests.conftest import (
    API_KEY,
    GATEWAY_PORT,
    WORKER_METRICS_PORT,
    WorkerProcess,
    describe_worker_group,
    running_gateway,
    substitute_worker,
    wait_for_stable_worker_group,
    wait_until_ready,
)
from tests.integration.conftest import decodes_as, end_marks, read_until, wait_for
from tests.integration.test_feedback import ask as ask_for_rating
from tests.integration.test_feedback import first_rating, rate, ratings_of

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.timeout(900)]


@pytest.fixture(autouse=True)
def stable_worker_group(worker: WorkerProcess) -> None:
    """The previous test may have replaced or killed the worker, or restarted Kafka."""
    wait_for_stable_worker_group(worker.bootstrap, [worker.process])


def ready_redis(gateway_url: str) -> dict[str, object]:
    body = httpx.get(f"{gateway_url}/ready", timeout=10).json()
    checks: dict[str, dict[str, object]] = body["checks"]
    return {"status": body["status"], **checks["redis"]}


def test_gateway_keeps_serving_without_redis_and_says_so(
    gateway_url: str, local_redis: tuple[LocalRedis, bool]
) -> None:
    redis, started_by_tests = local_redis
    if not started_by_tests:
        pytest.skip("this Redis was not started by the tests; not stopping someone else's server")
    with httpx.Client(base_url=gateway_url, timeout=30, headers={"X-API-Key": API_KEY}) as client:
        redis.stop()
        try:
            during = [
                client.post("/v1/chat", json={"message": "What is the price of the FitBand 3?"})
                for _ in range(3)
            ]
            wait_for(lambda: ready_redis(gateway_url)["ok"] is False, "/ready reporting Redis down")
            state = ready_redis(gateway_url)
        finally:
            redis.start()
        wait_for(lambda: ready_redis(gateway_url)["ok"] is True, "/ready reporting Redis back")
        after = client.post("/v1/chat", json={"message": "What is the price of the FitBand 3?"})

    assert [r.status_code for r in during] == [200, 200, 200]
    assert all("₹2,999" in r.json()["answer"] for r in during)
    assert all(r.headers["X-RateLimit-Limit-Minute"] for r in during)  # limits kept, in process
    assert state["status"] == "ready" and state["required"] is False
    assert "per-instance" in str(state["detail"])
    assert after.status_code == 200


def worker_metric(name: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics", timeout=5).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    raise KeyError(name)


@pytest.mark.parametrize("failure_mode", ["error", "timeout"])
async def test_llm_outage_escalates_then_the_circuit_opens_and_recovery_closes_it(
    gateway_url: str,
    worker: WorkerProcess,
    kafka_bootstrap: str,
    tmp_path: Path,
    failure_mode: str,
) -> None:
    outage = tmp_path / "llm-outage"
    nonce = uuid.uuid4().hex[:8]  # fresh questions: a cached answer would not reach the LLM
    # Long enough for the next question to reach the worker while the circuit is open.
    breaker_open_s = 15.0
    with (
        substitute_worker(
            worker,
            RESPONDER="simulated",
            SIMULATED_LATENCY_S="0.05",
            SIMULATED_OUTAGE_FILE=str(outage),
            SIMULATED_FAILURE_MODE=failure_mode,
            LLM_TIMEOUT_S="3",
            LLM_MAX_RETRIES="2",
            LLM_RETRY_BACKOFF_S="0.05",
            LLM_BREAKER_THRESHOLD="3",
            LLM_BREAKER_OPEN_S=str(breaker_open_s),
        ),
        httpx.Client(base_url=gateway_url, timeout=60, headers={"X-API-Key": API_KEY}) as client,
    ):

        def ask(question: str) -> dict[str, Any]:
            response = client.post("/v1/chat", json={"message": f"{question} (ref {nonce})"})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        before = ask("How much does the FitBand 3 cost?")
        outage.touch()
        retries = worker_metric("techgear_worker_llm_retries_total")
        during = ask("What is the battery life of the FitBand 3?")
        opened_by = time.monotonic()  # the circuit opened while answering it
        retried = worker_metric("techgear_worker_llm_retries_total") - retries
        state_after_failures = worker_metric("techgear_worker_llm_circuit_state")
        rejections = worker_metric("techgear_worker_llm_circuit_rejections_total")
        while_open = ask("Is the FitBand 3 water resistant?")
        rejected = worker_metric("techgear_worker_llm_circuit_rejections_total") - rejections
        outage.unlink()
        time.sleep(max(0.0, opened_by + breaker_open_s - time.monotonic()))
        after = ask("What warranty does the FitBand 3 have?")
        state_after_recovery = worker_metric("techgear_worker_llm_circuit_state")

    assert not before["escalated"] and "₹" in before["answer"]
    for escalated in (during, while_open):
        assert escalated["escalated"] and escalated["escalation_reason"] == "llm_unavailable"
    assert retried == 2  # three attempts, then no more
    assert state_after_failures == 2  # open
    assert rejected == 1  # answered without calling the LLM
    assert not after["escalated"] and after["answer"]
    assert state_after_recovery == 0  # closed again
    record = await read_until(
        kafka_bootstrap,
        ESCALATIONS,
        lambda r: (
            (e := decodes_as(r, Escalation)) is not None and e.request_id == during["request_id"]
        ),
    )
    escalation = decode(record.value or b"", Escalation)
    assert escalation.reason is EscalationReason.LLM_UNAVAILABLE


def test_gateway_answers_503_while_kafka_is_down_and_serves_after(
    gateway_url: str, worker: WorkerProcess, local_kafka: tuple[LocalKafka, bool]
) -> None:
    kafka, started_by_tests = local_kafka
    if not started_by_tests:
        pytest.skip("this Kafka was not started by the tests; not stopping someone else's broker")
    question = {"message": "What is the price of the FitBand 3?"}
    # During the outage a hang would surface as a client timeout: the gateway owes an
    # answer well before it.
    outage_timeout_s = 15
    with httpx.Client(base_url=gateway_url, timeout=60, headers={"X-API-Key": API_KEY}) as client:
        before = client.post("/v1/chat", json=question)
        wait_for(
            lambda: client.post("/v1/chat", json=question).headers.get("X-Cache") == "HIT",
            "the gateway answering the question from its cache",
        )
        kafka.stop()
        try:
            during = [
                client.post(
                    "/v1/chat",
                    json={"message": f"{question['message']} ({n})"},
                    timeout=outage_timeout_s,
                )
                for n in (uuid.uuid4().hex[:8] for _ in range(3))
            ]
            cached_during = client.post("/v1/chat", json=question, timeout=outage_timeout_s)
            ready_during = httpx.get(f"{gateway_url}/ready", timeout=outage_timeout_s)
        finally:
            kafka.start()  # returns once the broker answers metadata requests
        wait_until_ready(gateway_url, [worker.process], timeout_s=180)
        wait_for_stable_worker_group(kafka.address, [worker.process])
        # Not in the cache: answered through Kafka and the worker.
        after = client.post(
            "/v1/chat", json={"message": f"{question['message']} (after {uuid.uuid4().hex[:8]})"}
        )

    assert before.status_code == 200
    assert [r.status_code for r in during] == [503, 503, 503]
    assert all(r.headers["Retry-After"].isdigit() for r in during)
    assert all(r.json()["error"]["code"] == "unavailable" for r in during)
    # A first question the cache can answer is still answered, from the gateway.
    assert cached_during.status_code == 200 and cached_during.headers["X-Cache"] == "HIT"
    assert ready_during.status_code == 503
    assert after.status_code == 200 and "₹2,999" in after.json()["answer"]
    assert after.headers["X-Cache"] == "MISS"
    assert worker.process.poll() is None  # the worker rode out the outage


async def test_a_rating_kafka_refused_is_503_not_stored_and_its_retry_converges(
    gateway_url: str,
    kafka_bootstrap: str,
    worker: WorkerProcess,
    local_kafka: tuple[LocalKafka, bool],
) -> None:
    kafka, started_by_tests = local_kafka
    if not started_by_tests:
        pytest.skip("this Kafka was not started by the tests; not stopping someone else's broker")
    since = await end_marks(kafka_bootstrap, [FEEDBACK])
    async with httpx.AsyncClient(base_url=gateway_url, timeout=60) as client:
        request_id = (await ask_for_rating(client))["request_id"]
        await first_rating(client, {"request_id": request_id, "rating": "up"})
        down = {"request_id": request_id, "rating": "down", "reason": "wrong"}
        # In threads: the broker's readiness probe runs its own event loop.
        await asyncio.to_thread(kafka.stop)
        try:
            during = await rate(client, down)
        finally:
            await asyncio.to_thread(kafka.start)
        await asyncio.to_thread(wait_until_ready, gateway_url, [worker.process], 180)
        retried = await rate(client, down)
        again = await rate(client, down)

    assert during.status_code == 503 and during.headers["Retry-After"].isdigit()
    assert during.json()["error"]["code"] == "unavailable"
    # Revision 2 was handed out to the refused attempt: whatever became of it, the retry is
    # above it, and what is stored is the highest revision on the topic.
    assert retried.status_code == again.status_code == 202
    assert retried.json() == again.json() == down | {"revision": 3}
    published = await ratings_of(kafka_bootstrap, request_id, since)
    assert (published[0][1].revision, published[0][1].rating) == (1, "up")
    latest = published[-1][1]
    assert (latest.revision, latest.rating, latest.reason) == (3, "down", "wrong")


async def test_worker_killed_mid_stream_every_caller_gets_one_answer_and_no_double_escalation(
    gateway_env: dict[str, str], worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    nonce = uuid.uuid4().hex[:8]
    questions = [
        f"I want to talk to a human agent about order TG-{nonce}-{i}"
        if i % 3 == 0
        else f"How much does the FitBand 3 cost? (ref {nonce}-{i})"
        for i in range(45)
    ]
    escalations_from = await end_offsets(KafkaConnection(kafka_bootstrap), ESCALATIONS)
    answers_from = await end_offsets(KafkaConnection(kafka_bootstrap), ANSWERS)
    # Long enough for a replacement worker to start on a loaded machine and the group to
    # evict the killed member and rebalance.
    env = gateway_env | {"REQUEST_TIMEOUT_S": "360"}
    with running_gateway(env, GATEWAY_PORT + 11, worker) as url:
        async with httpx.AsyncClient(
            base_url=url, timeout=400, headers={"X-API-Key": API_KEY}
        ) as client:

            async def ask(question: str, after_s: float) -> httpx.Response:
                await asyncio.sleep(after_s)
                return await client.post("/v1/chat", json={"message": question})

            calls = [asyncio.create_task(ask(q, i * 0.25)) for i, q in enumerate(questions)]
            await asyncio.sleep(4)
            worker.process.kill()  # SIGKILL: no commit, no leaving the group
            await asyncio.sleep(1)
            await asyncio.to_thread(worker.restart)  # the questions keep coming meanwhile
            responses = await asyncio.gather(*calls)

    assert [r.status_code for r in responses] == [200] * len(questions)
    bodies = [r.json() for r in responses]
    asked = {body["request_id"] for body in bodies}
    assert len(asked) == len(questions)
    assert all(("₹2,999" in b["answer"]) != b["escalated"] for b in bodies)
    escalations: dict[str, int] = {}
    for record in await read_records(
        KafkaConnection(kafka_bootstrap), ESCALATIONS, escalations_from
    ):
        event = decodes_as(record, Escalation)
        if event is not None and event.request_id in asked:
            escalations[event.request_id] = escalations.get(event.request_id, 0) + 1
    escalated = {b["request_id"] for b in bodies if b["escalated"]}
    assert len(escalated) == 15
    assert escalations == dict.fromkeys(escalated, 1)
    answered = {
        event.request_id
        for record in await read_records(KafkaConnection(kafka_bootstrap), ANSWERS, answers_from)
        if (event := decodes_as(record, ChatAnswer)) is not None
    }
    assert asked <= answered


async def test_an_llm_slower_than_the_poll_interval_causes_no_rebalance_or_double_processing(
    gateway_env: dict[str, str], worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    nonce = uuid.uuid4().hex[:8]
    questions = [f"How much does the FitBand 3 cost? (slow {nonce}-{i})" for i in range(5)]
    answers_from = await end_offsets(KafkaConnection(kafka_bootstrap), ANSWERS)
    slow = substitute_worker(
        worker,
        RESPONDER="simulated",
        SIMULATED_LATENCY_S="4",
        BROKER_MAX_POLL_INTERVAL_S="2",
        BROKER_SESSION_TIMEOUT_S="6",
        LLM_TIMEOUT_S="30",
    )
    with (
        slow as substitute,
        running_gateway(
            gateway_env | {"REQUEST_TIMEOUT_S": "120"}, GATEWAY_PORT + 12, substitute
        ) as url,
    ):
        async with httpx.AsyncClient(
            base_url=url, timeout=150, headers={"X-API-Key": API_KEY}
        ) as client:
            first = await client.post("/v1/chat", json={"message": questions[0]})
            members_before = sorted((await describe_worker_group(kafka_bootstrap)).members)
            rest = await asyncio.gather(
                *(client.post("/v1/chat", json={"message": q}) for q in questions[1:])
            )
            members_after = sorted((await describe_worker_group(kafka_bootstrap)).members)

    responses = [first, *rest]
    assert [r.status_code for r in responses] == [200] * len(questions)
    # A member pushed out of the group for not polling would rejoin under a new member id.
    assert len(members_before) == 1 and members_after == members_before
    asked = [r.json()["request_id"] for r in responses]
    published = [
        event.request_id
        for record in await read_records(KafkaConnection(kafka_bootstrap), ANSWERS, answers_from)
        if (event := decodes_as(record, ChatAnswer)) is not None
        and event.request_id in asked
        and not event.replayed
    ]
    assert sorted(published) == sorted(asked)  # each processed once
