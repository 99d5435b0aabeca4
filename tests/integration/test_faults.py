"""Fault injection on the real stack: dependencies going away during traffic."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from schemas import Escalation, EscalationReason, decode
from schemas.topics import ESCALATIONS
from techgear.services import LocalRedis
from tests.conftest import API_KEY, WORKER_METRICS_PORT, WorkerProcess, substitute_worker
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


async def test_llm_outage_escalates_then_the_circuit_opens_and_recovery_closes_it(
    gateway_url: str, worker: WorkerProcess, kafka_bootstrap: str, tmp_path: Path
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
            LLM_TIMEOUT_S="2",
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
