"""Debian's nginx, with the compose configuration, in front of two gateway processes."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from websockets.asyncio.client import connect

from tests.conftest import (
    API_KEY,
    GATEWAY_PORT,
    STATE_DIR,
    WorkerProcess,
    running_gateway,
    stop_process,
)
from tests.integration.test_websocket import offering
from tests.nginx_config import local_nginx_config

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx not installed"),
]

LISTEN = "127.0.0.2:18080"
PORTS = [GATEWAY_PORT + 3, GATEWAY_PORT + 4]
ANONYMOUS_LIMIT = 5


@pytest.fixture(scope="module")
def proxy(
    gateway_env: dict[str, str],
    worker: WorkerProcess,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    client = redis.Redis.from_url(redis_url)
    stale = client.keys("techgear:ratelimit:{ip:127.0.0.*")
    if stale:
        client.delete(*stale)
    env = gateway_env | {
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "RATE_LIMIT_PER_MINUTE": str(ANONYMOUS_LIMIT),
        "RATE_LIMIT_PER_HOUR": str(ANONYMOUS_LIMIT),
    }
    prefix = tmp_path_factory.mktemp("nginx")
    config = local_nginx_config(prefix, LISTEN, PORTS)
    with running_gateway(env, PORTS[0], worker), running_gateway(env, PORTS[1], worker):
        nginx = subprocess.Popen(
            ["nginx", "-c", str(config), "-p", str(prefix), "-g", "daemon off;"]
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://{LISTEN}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            yield f"http://{LISTEN}"
        finally:
            stop_process(nginx)


def health_lines(port: int) -> int:
    lines = (STATE_DIR / f"gateway-{port}.log").read_text().splitlines()
    return sum('"GET /health 200"' in line for line in lines)


def test_requests_are_balanced_over_both_gateways(proxy: str) -> None:
    before = [health_lines(port) for port in PORTS]
    with httpx.Client(base_url=proxy) as client:
        for _ in range(20):
            assert client.get("/health").status_code == 200
    time.sleep(0.5)
    served = [health_lines(port) - b for port, b in zip(PORTS, before, strict=True)]
    assert sum(served) == 20 and min(served) >= 5


async def test_websocket_is_upgraded_through_nginx(proxy: str) -> None:
    # The browser's way: the credential as a subprotocol, which nginx must pass through.
    async with connect(f"ws://{LISTEN}/v1/ws", subprotocols=offering("key", API_KEY)) as ws:
        ready = json.loads(await ws.recv())
        await ws.send(
            json.dumps({"type": "ask", "message": "What is the price of the USB-C Hub 7-in-1?"})
        )
        while (message := json.loads(await ws.recv()))["type"] != "answer":
            pass
    assert ready["type"] == "ready" and "₹3,499" in message["answer"]


def anonymous_chat(proxy: str, source: str, spoofed: str) -> int:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(base_url=proxy, transport=transport) as client:
        return client.post(
            "/v1/chat", json={"message": "hi"}, headers={"X-Forwarded-For": spoofed}
        ).status_code


def test_client_address_reaches_the_rate_limiter_and_spoofing_does_not_help(proxy: str) -> None:
    statuses = [
        anonymous_chat(proxy, "127.0.0.3", f"10.9.9.{n}") for n in range(ANONYMOUS_LIMIT + 2)
    ]
    other_client = anonymous_chat(proxy, "127.0.0.4", "10.9.9.1")

    assert statuses == [401] * ANONYMOUS_LIMIT + [429, 429]
    assert other_client == 401
    assert Path(STATE_DIR).is_dir()
