"""The transcript projection across a Redis outage: events published while Redis is down
are written once it is back (the projection retries and commits only after the write),
and the customer's socket keeps receiving them live meanwhile."""

from __future__ import annotations

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from schemas import HandoffState
from techgear.services import LocalRedis
from tests.conftest import GATEWAY_PORT, WorkerProcess, running_gateway
from tests.handoff_events import handoff, message
from tests.integration.conftest import wait_until
from tests.integration.test_handoff_gateway import (
    customer_socket,
    handoff_env,
    messages,
    next_entry,
    publish,
    until_projected,
)
from tests.integration.test_websocket import receive

pytestmark = [pytest.mark.integration, pytest.mark.fault, pytest.mark.timeout(600)]


async def test_events_published_while_redis_is_down_reach_the_transcript_once_it_is_back(
    gateway_env: dict[str, str],
    worker: WorkerProcess,
    local_redis: tuple[LocalRedis, bool],
    producer: AIOKafkaProducer,
) -> None:
    redis, started_by_tests = local_redis
    if not started_by_tests:
        pytest.skip("this Redis was not started by the tests; not stopping someone else's server")
    with running_gateway(handoff_env(gateway_env), GATEWAY_PORT + 23, worker) as url:
        async with customer_socket(url) as ws:
            cid = (await receive(ws))["conversation_id"]
            redis.stop()
            try:
                await publish(
                    producer,
                    handoff(cid, 1, HandoffState.AWAITING_AGENT),
                    message(cid, 2, "written while Redis was down"),
                )
                live = [await next_entry(ws) for _ in range(2)]

                async def refused() -> bool:
                    return (await messages(url, cid)).status_code == 503

                await wait_until(refused, "the transcript store to be reported unavailable")
                ready = httpx.get(f"{url}/ready", timeout=10).json()
            finally:
                redis.start()
        stored = await until_projected(url, cid, 2)

    assert [(e["type"], e["conversation_seq"]) for e in live] == [
        ("handoff", 1),
        ("agent_message", 2),
    ]
    assert ready["status"] == "ready"
    assert [m["conversation_seq"] for m in stored["messages"]] == [1, 2]
    assert stored["handoff_state"] == "awaiting_agent"
