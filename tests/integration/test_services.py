"""Local services: idempotent start, and stop ends exactly what was started."""

from __future__ import annotations

from pathlib import Path

import pytest

from techgear.services import LocalKafka, LocalRedis, ServicesSettings, port_open

pytestmark = pytest.mark.integration


def test_start_reuses_a_running_broker(
    services_settings: ServicesSettings, kafka_bootstrap: str
) -> None:
    kafka = LocalKafka(services_settings)
    pid_before = kafka.pid_file.read_text() if kafka.pid_file.exists() else None

    handle = kafka.start()

    assert handle.started is False and handle.address == kafka_bootstrap
    assert (kafka.pid_file.read_text() if kafka.pid_file.exists() else None) == pid_before


def test_redis_starts_then_stops_only_what_it_started(tmp_path: Path) -> None:
    settings = ServicesSettings(_env_file=None, techgear_state_dir=tmp_path, redis_port=16399)  # type: ignore[call-arg]
    redis = LocalRedis(settings)

    handle = redis.start()
    again = LocalRedis(settings).start()

    assert handle.started and not again.started and port_open(16399)
    assert redis.running_pid() is not None
    assert redis.stop() is True
    assert not port_open(16399) and not redis.pid_file.exists()
    assert redis.stop() is False
