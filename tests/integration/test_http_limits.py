"""HTTP limits the gateway process enforces itself, attacked over raw sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.conftest import API_KEY, GATEWAY_PORT, WorkerProcess, running_gateway
from tests.integration.test_websocket import offering, receive, until, ws_url
from tests.sockets import raw_socket

pytestmark = pytest.mark.integration

HEADER_TIMEOUT_S = 2.0
BODY_TIMEOUT_S = 2.0
KEEPALIVE_TIMEOUT_S = 1
# A loaded two-core machine may run a timer late; nothing may run it early.
MARGIN_S = 3.0
PORT = GATEWAY_PORT + 13


@pytest.fixture(scope="module")
def limited_gateway(gateway_env: dict[str, str], worker: WorkerProcess) -> Iterator[str]:
    env = gateway_env | {
        "HTTP_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "HTTP_BODY_TIMEOUT_S": str(BODY_TIMEOUT_S),
        "HTTP_KEEPALIVE_TIMEOUT_S": str(KEEPALIVE_TIMEOUT_S),
    }
    with running_gateway(env, PORT, worker) as url:
        yield url


async def read_until_closed(reader: asyncio.StreamReader, within_s: float) -> bytes:
    """Everything the server sends until it closes the connection, which it must do in time."""
    return await asyncio.wait_for(reader.read(), timeout=within_s)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def content_length(head: bytes) -> int:
    fields = dict(line.lower().split(b": ", 1) for line in head.split(b"\r\n")[1:] if line)
    return int(fields[b"content-length"])


def error_code(response: bytes) -> str:
    code: str = json.loads(response.split(b"\r\n\r\n", 1)[1])["error"]["code"]
    return code


async def test_headers_larger_than_the_limit_get_431(limited_gateway: str) -> None:
    async with raw_socket(PORT) as (reader, writer):
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
        response = await read_until_closed(reader, within_s=10)
        assert status_of(response) == 431 and error_code(response) == "headers_too_large"


async def test_more_header_fields_than_the_limit_get_431(limited_gateway: str) -> None:
    async with raw_socket(PORT) as (reader, writer):
        fields = b"".join(b"X-Field-%d: v\r\n" % index for index in range(101))
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        response = await read_until_closed(reader, within_s=10)
        assert status_of(response) == 431 and error_code(response) == "headers_too_large"


async def test_a_hundred_header_fields_are_still_served(limited_gateway: str) -> None:
    fields = {f"X-Field-{index}": "v" for index in range(90)}
    async with httpx.AsyncClient(base_url=limited_gateway, timeout=10) as client:
        assert (await client.get("/health", headers=fields)).status_code == 200


async def stream_endless_header(sent: list[int]) -> None:
    """Sends one header field of up to 64 MiB; ends when the server cuts the connection."""
    async with raw_socket(PORT) as (_, writer):
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * 65_536
        try:
            for _ in range(1024):
                writer.write(chunk)
                await writer.drain()
                sent.append(len(chunk))
        except ConnectionError:
            return
    raise AssertionError("the server read a 64 MiB header")


async def test_big_header_attacks_are_cut_off_while_health_answers(limited_gateway: str) -> None:
    sent: list[list[int]] = [[] for _ in range(4)]
    attacks = [asyncio.create_task(stream_endless_header(record)) for record in sent]
    async with httpx.AsyncClient(base_url=limited_gateway, timeout=10) as client:
        while not all(sent):
            await asyncio.sleep(0.01)
        started = time.monotonic()
        health = await client.get("/health")
        latency_s = time.monotonic() - started
    await asyncio.wait_for(asyncio.gather(*attacks), timeout=30)
    assert health.status_code == 200 and latency_s < 1.0
    # What the kernel's socket buffers hold on both sides, far from 64 MiB each.
    assert max(sum(record) for record in sent) < 16 * 2**20


async def test_headers_sent_a_byte_at_a_time_are_cut_off_at_the_deadline(
    limited_gateway: str,
) -> None:
    async with raw_socket(PORT) as (reader, writer):
        started = time.monotonic()

        async def trickle() -> None:
            for byte in b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000:
                writer.write(bytes([byte]))
                await asyncio.sleep(0.25)

        trickling = asyncio.create_task(trickle())
        response = await read_until_closed(reader, within_s=HEADER_TIMEOUT_S + MARGIN_S)
        elapsed_s = time.monotonic() - started
        trickling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await trickling
        assert status_of(response) == 408 and error_code(response) == "request_timeout"
        assert elapsed_s >= HEADER_TIMEOUT_S - 0.1


async def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(
    limited_gateway: str,
) -> None:
    async with raw_socket(PORT) as (reader, _):
        response = await read_until_closed(reader, within_s=HEADER_TIMEOUT_S + MARGIN_S)
        assert status_of(response) == 408


async def test_a_body_slower_than_the_deadline_gets_408_and_the_connection_closes(
    limited_gateway: str,
) -> None:
    async with raw_socket(PORT) as (reader, writer):
        writer.write(
            b"POST /v1/chat HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-API-Key: " + API_KEY.encode() + b"\r\nContent-Length: 100\r\n\r\n" + b'{"message": '
        )
        started = time.monotonic()
        response = await read_until_closed(reader, within_s=BODY_TIMEOUT_S + MARGIN_S)
        assert status_of(response) == 408 and error_code(response) == "request_timeout"
        assert time.monotonic() - started >= BODY_TIMEOUT_S - 0.1


async def test_an_idle_keep_alive_connection_is_closed(limited_gateway: str) -> None:
    async with raw_socket(PORT) as (reader, writer):
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
        assert status_of(head) == 200 and b"connection: close" not in head.lower()
        await reader.readexactly(content_length(head))
        assert await read_until_closed(reader, within_s=KEEPALIVE_TIMEOUT_S + MARGIN_S) == b""


async def test_a_kept_alive_connection_serves_several_requests(limited_gateway: str) -> None:
    async with httpx.AsyncClient(base_url=limited_gateway, timeout=10) as client:
        statuses = [(await client.get("/health")).status_code for _ in range(5)]
    assert statuses == [200] * 5


async def test_a_websocket_outlives_the_request_deadlines_and_still_chats(
    limited_gateway: str,
) -> None:
    async with connect(ws_url(limited_gateway), subprotocols=offering("key", API_KEY)) as ws:
        assert ws.subprotocol == "techgear.v1" and (await receive(ws))["type"] == "ready"
        # The behaviour under test is that nothing happens: both deadlines pass unused.
        await asyncio.sleep(HEADER_TIMEOUT_S + BODY_TIMEOUT_S)
        await ws.send(json.dumps({"type": "ask", "message": "hello", "client_message_id": "m1"}))
        answer, seen = await until(ws, "answer")
    assert answer["category"] == "greeting" and all(m["type"] != "error" for m in seen)
