"""One correlation id, followed from the HTTP request through both processes' JSON logs."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import API_KEY, GATEWAY_PORT, STATE_DIR

pytestmark = pytest.mark.integration


def json_lines(path: Path) -> list[dict[str, object]]:
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records


async def test_correlation_id_reaches_gateway_and_worker_logs_with_pii_masked(
    gateway_url: str,
) -> None:
    trace = f"trace-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        response = await client.post(
            "/v1/chat",
            json={"message": "My email is asha.k@example.com, what is the price of the FitBand 3?"},
            headers={"X-API-Key": API_KEY, "X-Request-ID": trace},
        )
    assert response.status_code == 200 and response.headers["X-Request-ID"] == trace
    request_id = response.json()["request_id"]
    await asyncio.sleep(0.5)  # let both processes flush their last lines

    gateway = [
        r
        for r in json_lines(STATE_DIR / f"gateway-{GATEWAY_PORT}.log")
        if r.get("correlation_id") == trace
    ]
    worker = [r for r in json_lines(STATE_DIR / "worker.log") if r.get("correlation_id") == trace]

    assert any(
        r["logger"] == "gateway.access" and r["message"] == "POST /v1/chat 200" for r in gateway
    )
    received = next(r for r in worker if str(r["message"]).startswith("question received"))
    assert received["request_id"] == request_id and received["conversation_id"]
    assert "[email]" in str(received["message"]) and "asha.k@example.com" not in str(
        received["message"]
    )
    assert any(str(r["message"]).startswith("answered as product_info") for r in worker)
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in gateway + worker)
