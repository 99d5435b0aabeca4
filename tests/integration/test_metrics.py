"""A real Prometheus server scrapes the running gateway and worker."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import (
    ADMIN_KEY,
    API_KEY,
    GATEWAY_PORT,
    REPO,
    WORKER_METRICS_PORT,
    WorkerProcess,
    stop_process,
)
from tests.integration.conftest import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus not installed"),
]

PROMETHEUS_PORT = 19090
PROMETHEUS = f"http://127.0.0.1:{PROMETHEUS_PORT}"


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory, gateway_url: str, worker: WorkerProcess
) -> Iterator[str]:
    home = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [
            str(REPO / "docker" / "prometheus" / "rules" / name)
            for name in ("techgear.yml", "outcomes.yml")
        ],
        "scrape_configs": [
            {
                "job_name": "techgear-gateway",
                "authorization": {"type": "ApiKey", "credentials": ADMIN_KEY},
                "static_configs": [{"targets": [f"127.0.0.1:{GATEWAY_PORT}"]}],
            },
            {
                "job_name": "techgear-worker",
                "static_configs": [{"targets": [f"127.0.0.1:{WORKER_METRICS_PORT}"]}],
            },
        ],
    }
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    log = (home / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{PROMETHEUS_PORT}",
        ],
        stdout=log,
        stderr=log,
    )
    try:
        wait_for(lambda: value('sum(up{job=~"techgear-.*"})') == 2, "both targets up")
        yield PROMETHEUS
    finally:
        stop_process(process)
        log.close()


def query(expr: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{PROMETHEUS}/api/v1/query", params={"query": expr}, timeout=5)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def value(expr: str) -> float:
    try:
        result = query(expr)
    except httpx.HTTPError:
        return float("nan")
    return float(result[0]["value"][1]) if result else 0.0


CHAT_OK = 'sum(techgear_gateway_http_requests_total{route="/v1/chat",method="POST",status="200"})'
CHAT_401 = 'sum(techgear_gateway_http_requests_total{route="/v1/chat",status="401"})'
HUMAN = 'sum(techgear_worker_messages_total{category="human_agent",outcome="escalated"})'
ESCALATIONS = 'sum(techgear_worker_escalations_total{reason="human_requested"})'
PRODUCT = 'sum(techgear_worker_messages_total{category="product_info"})'
QUESTIONS = "sum(techgear_outcomes_questions_total)"
HUMAN_REQUESTED = 'sum(techgear_outcomes_escalated_total{reason="human_requested"})'


async def test_prometheus_sees_requests_latency_categories_escalations_and_lag(
    prometheus: str,
) -> None:
    before = {
        expr: value(expr)
        for expr in (CHAT_OK, CHAT_401, HUMAN, ESCALATIONS, PRODUCT, QUESTIONS, HUMAN_REQUESTED)
    }
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{GATEWAY_PORT}", timeout=30) as client:
        ok = [
            client.post("/v1/chat", json={"message": q}, headers={"X-API-Key": API_KEY})
            for q in (
                "What is the price of the Pulse Neckband?",
                "What is the price of the TechGear Ring?",
                "I want to talk to a human",
                "Connect me to a human agent please",
            )
        ]
        refused = client.post("/v1/chat", json={"message": "hi"}, headers={"X-API-Key": "nope"})
        statuses = [r.status_code for r in await asyncio.gather(*ok, refused)]
    assert statuses == [200, 200, 200, 200, 401]

    wait_for(lambda: value(CHAT_OK) == before[CHAT_OK] + 4, "the 4 answered requests")
    wait_for(lambda: value(HUMAN) == before[HUMAN] + 2, "the 2 human_agent escalations")
    assert value(CHAT_401) == before[CHAT_401] + 1
    assert value(ESCALATIONS) == before[ESCALATIONS] + 2
    # Counted once the answer is out: the gateway may hold it before the next scrape.
    wait_for(lambda: value(PRODUCT) >= before[PRODUCT] + 2, "the 2 product answers")
    # The outcome figures, counted from the transcript the worker wrote.
    wait_for(lambda: value(QUESTIONS) == before[QUESTIONS] + 4, "the 4 questions as outcomes")
    wait_for(
        lambda: value(HUMAN_REQUESTED) == before[HUMAN_REQUESTED] + 2, "the 2 escalated outcomes"
    )
    buckets = 'techgear_gateway_http_request_duration_seconds_bucket{route="/v1/chat"}'
    p99 = f"histogram_quantile(0.99, sum by (le) ({buckets}))"
    assert 0 < value(p99) < 30
    assert value("sum(techgear_worker_end_to_end_seconds_count)") >= 4
    wait_for(lambda: len(query("techgear_worker_consumer_lag")) == 6, "lag of the 6 partitions")
    assert value("max(techgear_worker_consumer_lag)") >= 0
    assert value('process_resident_memory_bytes{job="techgear-worker"}') > 0


def test_gateway_metrics_need_the_admin_scope(gateway_url: str) -> None:
    assert httpx.get(f"{gateway_url}/metrics").status_code == 401
    assert httpx.get(f"{gateway_url}/metrics", headers={"X-API-Key": API_KEY}).status_code == 403
    scraped = httpx.get(f"{gateway_url}/metrics", headers={"Authorization": f"ApiKey {ADMIN_KEY}"})
    assert scraped.status_code == 200 and "techgear_gateway_http_requests_total" in scraped.text


def test_rules_loaded_by_prometheus(prometheus: str) -> None:
    rules = httpx.get(f"{prometheus}/api/v1/rules").json()["data"]["groups"]
    names = {rule["name"] for group in rules for rule in group["rules"]}
    assert {"TechGearTargetDown", "TechGearConsumerLag", "TechGearLlmFailures"} <= names
    assert {"TechGearThumbsDownRising", "TechGearEscalationsRising"} <= names
    assert Path(REPO / "docker" / "prometheus" / "prometheus.yml").is_file()
