"""The request deadlines of ``DeadlineH11Protocol``, on an in-process uvicorn server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import connect

from gateway.http_protocol import deadline_protocol
from tests.sockets import raw_socket

DEADLINE_S = 0.3
KEEPALIVE_S = 2


async def hello(request: Request) -> PlainTextResponse:
    await request.body()
    return PlainTextResponse("hello")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


@pytest.fixture
async def server_port() -> AsyncIterator[int]:
    """A server whose event loop must report no error: a deadline firing on a connection
    that is no longer an HTTP one would."""
    loop_errors: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _, context: loop_errors.append(context))
    config = uvicorn.Config(
        Starlette(routes=[Route("/", hello, methods=["GET", "POST"]), WebSocketRoute("/ws", echo)]),
        host="127.0.0.1",
        port=0,
        http=deadline_protocol(header_timeout_s=DEADLINE_S, body_timeout_s=DEADLINE_S),
        timeout_keep_alive=KEEPALIVE_S,
        lifespan="off",
        log_config=None,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield server.servers[0].sockets[0].getsockname()[1]
    server.should_exit = True
    await serving
    loop.set_exception_handler(None)
    assert not loop_errors


async def response(reader: asyncio.StreamReader) -> bytes:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    return head + await reader.readexactly(5)


async def test_a_websocket_is_not_closed_by_the_request_deadlines(server_port: int) -> None:
    async with connect(f"ws://127.0.0.1:{server_port}/ws") as ws:
        # The behaviour under test is that nothing happens: both deadlines pass unused.
        await asyncio.sleep(3 * DEADLINE_S)
        await ws.send("still here")
        assert await asyncio.wait_for(ws.recv(), timeout=5) == "still here"


async def test_an_idle_kept_alive_connection_waits_for_keep_alive_not_the_header_deadline(
    server_port: int,
) -> None:
    async with raw_socket(server_port) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await response(reader)).endswith(b"hello")
        # Longer than the header deadline, shorter than the keep-alive time.
        await asyncio.sleep(3 * DEADLINE_S)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await response(reader)).startswith(b"HTTP/1.1 200")


async def test_the_next_request_on_a_kept_alive_connection_has_a_header_deadline(
    server_port: int,
) -> None:
    async with raw_socket(server_port) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await response(reader)
        writer.write(b"GET / HTTP/1.1\r\n")
        rest = await asyncio.wait_for(reader.read(), timeout=KEEPALIVE_S)
        assert rest.startswith(b"HTTP/1.1 408")


async def test_pipelined_requests_are_all_answered(server_port: int) -> None:
    async with raw_socket(server_port) as (reader, writer):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        first, second = await response(reader), await response(reader)
        assert first.startswith(b"HTTP/1.1 200") and second.startswith(b"HTTP/1.1 200")


async def test_a_body_that_stops_halfway_gets_408(server_port: int) -> None:
    async with raw_socket(server_port) as (reader, writer):
        writer.write(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhalf")
        rest = await asyncio.wait_for(reader.read(), timeout=KEEPALIVE_S)
        assert rest.startswith(b"HTTP/1.1 408")
