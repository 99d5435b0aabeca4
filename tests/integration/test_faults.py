"""Fault injection on the real stack: dependencies going away during traffic."""

from __future__ import annotations

import httpx
import pytest

from techgear.services import LocalRedis
from tests.conftest import API_KEY
from tests.integration.conftest import wait_for

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
