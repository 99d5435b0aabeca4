"""No API key or token in any log the processes write, uvicorn's handshake lines included."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import API_KEY, GATEWAY_PORT, PASSWORD, STATE_DIR, USER
from tests.integration.test_websocket import offering, until, ws_url

pytestmark = pytest.mark.integration

GATEWAY_LOG = STATE_DIR / f"gateway-{GATEWAY_PORT}.log"


async def websocket_session(gateway_url: str, protocols: list[Subprotocol]) -> None:
    async with connect(ws_url(gateway_url), subprotocols=protocols) as ws:
        await ws.send(json.dumps({"type": "ask", "message": "hello"}))
        answer, _ = await until(ws, "answer")
    assert answer["category"] == "greeting"


async def refused_in_url(gateway_url: str, **params: str) -> None:
    async with connect(ws_url(gateway_url, **params)) as ws:
        error = json.loads(await ws.recv())
        with pytest.raises(ConnectionClosed):
            await ws.recv()
    assert error["code"] == "credential_in_url"


async def wait_for_log(text: str, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while text not in GATEWAY_LOG.read_text(encoding="utf-8", errors="replace"):
            await asyncio.sleep(0.05)


def log_files() -> list[Path]:
    """Every log the test processes wrote: gateways, worker, Kafka and Redis."""
    return sorted(path for path in STATE_DIR.rglob("*.log") if path.is_file())


async def test_no_key_or_token_reaches_any_log(gateway_url: str) -> None:
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as client:
        issued = await client.post("/v1/auth/token", json={"username": USER, "password": PASSWORD})
        token = issued.json()["access_token"]
        for headers in ({"X-API-Key": API_KEY}, {"Authorization": f"Bearer {token}"}):
            answered = await client.post("/v1/chat", json={"message": "hello"}, headers=headers)
            assert answered.status_code == 200
    await websocket_session(gateway_url, offering("key", API_KEY))
    await websocket_session(gateway_url, offering("bearer", token))
    # Old clients still put credentials in the URL: refused, and uvicorn logs the URL.
    await refused_in_url(gateway_url, api_key=API_KEY)
    await refused_in_url(gateway_url, access_token=token)
    await wait_for_log("/v1/ws?access_token=[redacted]")  # uvicorn's line, through our filter

    secrets = [API_KEY.encode(), token.encode()]
    leaks = [
        (path.name, secret[:12])
        for path in log_files()
        for secret in secrets
        if secret in path.read_bytes()
    ]
    assert GATEWAY_LOG in log_files() and leaks == []
