"""Conversation memory lives in a changelog-backed Faust table and survives restarts.

The follow-up is asked once the restarted worker has taken over the stable worker group
and answers on every partition of support.requests (``WorkerProcess.restart``).
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from tests.conftest import API_KEY, WorkerProcess

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

        await asyncio.to_thread(worker.restart)  # returns once the new worker answers

        follow_up = await client.post(
            "/v1/chat", json={"message": "how much is it?", "conversation_id": conversation}
        )

    assert follow_up.status_code == 200
    assert "₹2,999" in follow_up.json()["answer"]
    assert follow_up.json()["sources"][0]["doc_id"] == "product-fitband-3"
