"""Header field count and size limits, in front of a trivial app."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.header_limits import HeaderLimitMiddleware

MAX_HEADERS = 20
MAX_HEADER_BYTES = 2048


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def accept(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("ready")
    await websocket.close()


@pytest.fixture
def client() -> TestClient:
    app = Starlette(routes=[Route("/", hello), WebSocketRoute("/ws", accept)])
    return TestClient(
        HeaderLimitMiddleware(app, max_headers=MAX_HEADERS, max_header_bytes=MAX_HEADER_BYTES)
    )


def fields(count: int) -> dict[str, str]:
    return {f"x-field-{index}": "v" for index in range(count)}


def test_a_request_within_both_limits_is_served(client: TestClient) -> None:
    assert client.get("/", headers=fields(10)).text == "hello"


def test_more_fields_than_the_limit_get_431_with_its_code(client: TestClient) -> None:
    refused = client.get("/", headers=fields(MAX_HEADERS + 1))
    assert refused.status_code == 431
    assert refused.json()["error"]["code"] == "headers_too_large"


def test_fields_larger_in_total_than_the_limit_get_431(client: TestClient) -> None:
    refused = client.get("/", headers={"x-big": "a" * MAX_HEADER_BYTES})
    assert refused.status_code == 431


def test_a_long_query_string_counts_towards_the_size(client: TestClient) -> None:
    assert client.get("/?q=" + "a" * MAX_HEADER_BYTES).status_code == 431


def test_a_websocket_handshake_with_too_many_fields_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws", headers=fields(30)):
        pass


def test_a_websocket_handshake_within_the_limits_is_accepted(client: TestClient) -> None:
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "ready"
