from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest
from aiokafka import TopicPartition
from pydantic import SecretStr
from starlette.testclient import TestClient

from gateway.app import create_app
from gateway.bridge import KafkaBridge, Probe
from gateway.settings import GatewaySettings
from runtime.kafka import KafkaConnection
from schemas.topics import ANSWERS
from tests.unit.gateway.fake_kafka import FakeConsumer, FakeConsumers

KEY = "k" * 32
TP = TopicPartition(ANSWERS, 0)


async def reachable() -> Probe:
    return Probe(True, 1.0, "reachable")


def ready_until(client: TestClient, done: Callable[[httpx.Response], bool]) -> httpx.Response:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        response = client.get("/ready")
        if done(response):
            return response
        time.sleep(0.02)
    raise AssertionError(f"/ready stayed {response.status_code}: {response.text}")


def test_ready_fails_while_the_answer_listener_is_dead_and_passes_after_its_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    die, allow_restart = threading.Event(), threading.Event()
    consumers = FakeConsumers(
        FakeConsumer({TP: 0}, die=die), FakeConsumer({TP: 0}, hold_start=allow_restart)
    )
    monkeypatch.setattr("runtime.kafka.AIOKafkaConsumer", consumers)
    bridge = KafkaBridge(KafkaConnection("127.0.0.1:1"))

    async def start() -> None:  # the listener alone: no broker here
        await bridge._reply.start(partitions=1)
        await bridge._listener.start([TP])

    monkeypatch.setattr(bridge, "start", start)
    monkeypatch.setattr(bridge, "stop", bridge._listener.stop)
    monkeypatch.setattr(bridge, "probe_kafka", reachable)
    monkeypatch.setattr(bridge, "probe_workers", reachable)
    settings = GatewaySettings(_env_file=None, api_keys=[SecretStr(KEY)], readiness_cache_s=60)  # type: ignore[call-arg]

    with TestClient(create_app(settings, bridge)) as client:
        healthy = client.get("/ready")
        die.set()
        dead = ready_until(client, lambda r: r.status_code == 503)
        still_dead = client.get("/ready")
        allow_restart.set()
        restarted = ready_until(client, lambda r: r.status_code == 200)

    assert healthy.status_code == 200
    assert healthy.json()["checks"]["answer_listener"]["detail"] == (
        "reading 1 partition(s); reply partition 0 (fixed)"
    )
    listener = dead.json()["checks"]["answer_listener"]
    assert listener["required"] is True and listener["ok"] is False
    assert listener["detail"].startswith("not reading answers: died of RuntimeError")
    assert still_dead.status_code == 503  # the new consumer has not started yet
    assert restarted.json()["checks"]["answer_listener"]["ok"] is True
    assert len(consumers.made) == 2
