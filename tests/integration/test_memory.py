"""Conversation memory lives in a changelog-backed Faust table and survives restarts."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.conftest import API_KEY, WorkerProcess, wait_until_ready

pytestmark = pytest.mark.integration


async def test_follow_up_is_resolved_from_memory_across_a_worker_restart(
    gateway_url: str, worker: WorkerProcess
) -> None:
    conversation = f"memory-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(
        base_url=gateway_url, timeout=60, headers={"X-API-Key": API_KEY}
    ) as client:
        first = await client.post(
            "/v1/chat",
            json={"message": "Tell me about the FitBand 3", "conversation_id": conversation},
        )
        assert first.status_code == 200

        worker.restart()
        wait_until_ready(gateway_url, [worker.process])

        follow_up = await client.post(
            "/v1/chat", json={"message": "how much is it?", "conversation_id": conversation}
        )

    assert follow_up.status_code == 200
    assert "₹2,999" in follow_up.json()["answer"]
    assert follow_up.json()["sources"][0]["doc_id"] == "product-fitband-3"
