"""Fault injection on the real stack: dependencies going away during traffic."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from schemas import ChatAnswer, Escalation, EscalationReason, decode
from schemas.topics import ANSWERS, ESCALATIONS, WORKER_GROUP_ID
from techgear.records import end_offsets, read_records
from techgear.services import LocalKafka, LocalRedis
from tests.conftest import (
    API_KEY,
    GATEWAY_PORT,
    WORKER_METRICS_PORT,
    WorkerProcess,
    running_gateway,
    substitute_worker,
)
from tests.integration.conftest import decodes_as, read_until, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.fault]


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


def worker_serving_metrics() -> bool:
    try:
        worker_metric("techgear_worker_llm_circuit_state")
    except (httpx.HTTPError, KeyError):
        return False
    return True


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
    breaker_open_s = 4.0
    with (
        substitute_worker(
            worker,
            RESPONDER="simulated",
            SIMULATED_LATENCY_S="0.05",
            SIMULATED_OUTAGE_FILE=str(outage),
            SIMULATED_FAILURE_MODE=failure_mode,
            LLM_TIMEOUT_S="1",
            LLM_MAX_RETRIES="2",
            LLM_RETRY_BACKOFF_S="0.05",
            LLM_BREAKER_THRESHOLD="3",
            LLM_BREAKER_OPEN_S=str(breaker_open_s),
        ),
        httpx.Client(base_url=gateway_url, timeout=60, headers={"X-API-Key": API_KEY}) as client,
    ):
        wait_for(worker_serving_metrics, "the simulated-LLM worker", timeout_s=120)

        def ask(question: str) -> dict[str, Any]:
            response = client.post("/v1/chat", json={"message": f"{question} (ref {nonce})"})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        before = ask("How much does the FitBand 3 cost?")
        outage.touch()
        retries = worker_metric("techgear_worker_llm_retries_total")
        during = ask("What is the battery life of the FitBand 3?")
        retried = worker_metric("techgear_worker_llm_retries_total") - retries
        state_after_failures = worker_metric("techgear_worker_llm_circuit_state")
        rejections = worker_metric("techgear_worker_llm_circuit_rejections_total")
        while_open = ask("Is the FitBand 3 water resistant?")
        rejected = worker_metric("techgear_worker_llm_circuit_rejections_total") - rejections
        outage.unlink()
        time.sleep(breaker_open_s)
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
    # A hang would surface as a client timeout: the gateway owes an answer well before it.
    with httpx.Client(base_url=gateway_url, timeout=15, headers={"X-API-Key": API_KEY}) as client:
        before = client.post("/v1/chat", json=question)
        kafka.stop()
        try:
            during = [
                client.post("/v1/chat", json={"message": f"{question['message']} ({n})"})
                for n in (uuid.uuid4().hex[:8] for _ in range(3))
            ]
            cached_during = client.post("/v1/chat", json=question)
            ready_during = httpx.get(f"{gateway_url}/ready", timeout=15)
        finally:
            kafka.start()
        wait_for(
            lambda: client.post("/v1/chat", json=question, timeout=30).status_code == 200,
            "the gateway and worker serving again after Kafka's restart",
            timeout_s=180,
        )
        after = client.post("/v1/chat", json=question)

    assert before.status_code == 200
    assert [r.status_code for r in during] == [503, 503, 503]
    assert all(r.headers["Retry-After"].isdigit() for r in during)
    assert all(r.json()["error"]["code"] == "unavailable" for r in during)
    # A first question the cache can answer is still answered, from the gateway.
    assert cached_during.status_code == 200 and cached_during.headers["X-Cache"] == "HIT"
    assert ready_during.status_code == 503
    assert after.status_code == 200 and "₹2,999" in after.json()["answer"]
    assert worker.process.poll() is None  # the worker rode out the outage


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
    escalations_from = await end_offsets(kafka_bootstrap, ESCALATIONS)
    answers_from = await end_offsets(kafka_bootstrap, ANSWERS)
    # Long enough for a replacement worker to start and the group to rebalance.
    env = gateway_env | {"REQUEST_TIMEOUT_S": "150"}
    with running_gateway(env, GATEWAY_PORT + 11, worker) as url:
        async with httpx.AsyncClient(
            base_url=url, timeout=180, headers={"X-API-Key": API_KEY}
        ) as client:

            async def ask(question: str, after_s: float) -> httpx.Response:
                await asyncio.sleep(after_s)
                return await client.post("/v1/chat", json={"message": question})

            calls = [asyncio.create_task(ask(q, i * 0.25)) for i, q in enumerate(questions)]
            await asyncio.sleep(4)
            worker.process.kill()  # SIGKILL: no commit, no leaving the group
            await asyncio.sleep(1)
            worker.restart()
            responses = await asyncio.gather(*calls)

    assert [r.status_code for r in responses] == [200] * len(questions)
    bodies = [r.json() for r in responses]
    asked = {body["request_id"] for body in bodies}
    assert len(asked) == len(questions)
    assert all(("₹2,999" in b["answer"]) != b["escalated"] for b in bodies)
    escalations: dict[str, int] = {}
    for record in await read_records(kafka_bootstrap, ESCALATIONS, escalations_from):
        event = decodes_as(record, Escalation)
        if event is not None and event.request_id in asked:
            escalations[event.request_id] = escalations.get(event.request_id, 0) + 1
    escalated = {b["request_id"] for b in bodies if b["escalated"]}
    assert len(escalated) == 15
    assert escalations == dict.fromkeys(escalated, 1)
    answered = {
        event.request_id
        for record in await read_records(kafka_bootstrap, ANSWERS, answers_from)
        if (event := decodes_as(record, ChatAnswer)) is not None
    }
    assert asked <= answered


async def test_an_llm_slower_than_the_poll_interval_causes_no_rebalance_or_double_processing(
    gateway_env: dict[str, str], worker: WorkerProcess, kafka_bootstrap: str
) -> None:
    nonce = uuid.uuid4().hex[:8]
    questions = [f"How much does the FitBand 3 cost? (slow {nonce}-{i})" for i in range(5)]
    answers_from = await end_offsets(kafka_bootstrap, ANSWERS)
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
            members_before = await worker_group_members(kafka_bootstrap)
            rest = await asyncio.gather(
                *(client.post("/v1/chat", json={"message": q}) for q in questions[1:])
            )
            members_after = await worker_group_members(kafka_bootstrap)

    responses = [first, *rest]
    assert [r.status_code for r in responses] == [200] * len(questions)
    # A member pushed out of the group for not polling would rejoin under a new member id.
    assert len(members_before) == 1 and members_after == members_before
    asked = [r.json()["request_id"] for r in responses]
    published = [
        event.request_id
        for record in await read_records(kafka_bootstrap, ANSWERS, answers_from)
        if (event := decodes_as(record, ChatAnswer)) is not None and event.request_id in asked
    ]
    assert sorted(published) == sorted(asked)  # each processed once: nothing redelivered


async def worker_group_members(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        responses = await admin.describe_consumer_groups([WORKER_GROUP_ID])
    finally:
        await admin.close()
    return sorted(
        member[0] for response in responses for group in response.groups for member in group[5]
    )
