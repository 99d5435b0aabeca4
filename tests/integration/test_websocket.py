"""The WebSocket protocol against the real stack (docs/websocket.md)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.conftest import API_KEY, READ_ONLY_KEY

pytestmark = pytest.mark.integration


def ws_url(gateway_url: str, **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return gateway_url.replace("http://", "ws://") + "/v1/ws" + (f"?{query}" if query else "")


def offering(kind: str, credential: str) -> list[Subprotocol]:
    """The subprotocols a browser offers to authenticate (docs/websocket.md)."""
    encoded = base64.urlsafe_b64encode(credential.encode()).decode().rstrip("=")
    return [Subprotocol("techgear.v1"), Subprotocol(f"techgear.{kind}.{encoded}")]


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await ws.recv())
    return message


async def until(ws: ClientConnection, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Messages up to and including the first of type ``kind``."""
    seen = []
    while True:
        message = await receive(ws)
        seen.append(message)
        if message["type"] == kind:
            return message, seen


async def test_conversation_streams_deltas_then_the_answer(gateway_url: str) -> None:
    async with connect(ws_url(gateway_url), subprotocols=offering("key", API_KEY)) as ws:
        ready = await receive(ws)
        await ws.send(
            json.dumps(
                {"type": "ask", "message": "Tell me about the FitBand 3", "client_message_id": "m1"}
            )
        )
        first, seen_first = await until(ws, "answer")
        await ws.send(
            json.dumps({"type": "ask", "message": "how much is it?", "client_message_id": "m2"})
        )
        second, seen_second = await until(ws, "answer")

    messages = [ready, *seen_first, *seen_second]
    assert ready["type"] == "ready" and ready["conversation_id"]
    assert [m["seq"] for m in messages] == list(range(len(messages)))
    assert seen_first[0]["type"] == "accepted" and seen_first[0]["client_message_id"] == "m1"
    deltas = [m for m in seen_first if m["type"] == "delta"]
    assert len(deltas) > 1 and [d["index"] for d in deltas] == list(range(len(deltas)))
    assert "".join(d["text"] for d in deltas) == first["answer"]
    assert first["conversation_id"] == second["conversation_id"] == ready["conversation_id"]
    assert "₹2,999" in second["answer"] and second["sources"][0]["doc_id"] == "product-fitband-3"


async def test_escalation_notice_precedes_the_answer(gateway_url: str) -> None:
    async with connect(ws_url(gateway_url), subprotocols=offering("key", API_KEY)) as ws:
        await receive(ws)
        await ws.send(json.dumps({"type": "ask", "message": "I want to talk to a human"}))
        answer, seen = await until(ws, "answer")

    kinds = [m["type"] for m in seen]
    assert kinds.index("escalation") < kinds.index("answer")
    escalation = next(m for m in seen if m["type"] == "escalation")
    assert escalation["reason"] == "human_requested" and answer["escalated"] is True


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (b"\x00\x01binary", "binary_not_supported"),
        ("{not json", "invalid_json"),
        (json.dumps({"type": "ask", "message": "x" * 20_000}), "message_too_large"),
        (json.dumps({"type": "answer", "text": "out of order"}), "invalid_message"),
        (json.dumps({"type": "ask", "message": ""}), "invalid_message"),
        (json.dumps([1, 2, 3]), "invalid_message"),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_lives_on(
    gateway_url: str, frame: str | bytes, code: str
) -> None:
    async with connect(ws_url(gateway_url), subprotocols=offering("key", API_KEY)) as ws:
        await receive(ws)
        await ws.send(frame)
        error = await receive(ws)
        await ws.send(json.dumps({"type": "ping"}))
        pong = await receive(ws)

    assert error["type"] == "error" and error["code"] == code and error["message"]
    assert pong["type"] == "pong"


@pytest.mark.parametrize(
    ("protocols", "close_code", "code"),
    [(None, 4401, "unauthorized"), (offering("key", READ_ONLY_KEY), 4403, "forbidden")],
)
async def test_unauthorized_connections_are_told_and_closed(
    gateway_url: str, protocols: list[Subprotocol] | None, close_code: int, code: str
) -> None:
    async with connect(ws_url(gateway_url), subprotocols=protocols) as ws:
        error = await receive(ws)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()

    assert error["code"] == code
    assert closed.value.rcvd is not None and closed.value.rcvd.code == close_code


async def test_wrong_credentials_are_refused_at_the_handshake(gateway_url: str) -> None:
    with pytest.raises(Exception, match="403|rejected|closed"):
        async with connect(ws_url(gateway_url), subprotocols=offering("key", "wrong")) as ws:
            await ws.recv()


async def test_server_selects_only_the_protocol_never_the_credential(gateway_url: str) -> None:
    async with connect(ws_url(gateway_url), subprotocols=offering("key", API_KEY)) as ws:
        ready = await receive(ws)
        assert ws.subprotocol == "techgear.v1" and ready["type"] == "ready"


async def test_header_credentials_still_serve_clients_that_can_set_headers(
    gateway_url: str,
) -> None:
    async with connect(ws_url(gateway_url), additional_headers={"X-API-Key": API_KEY}) as ws:
        ready = await receive(ws)
        assert ws.subprotocol is None and ready["type"] == "ready"


@pytest.mark.parametrize("param", ["api_key", "access_token", "token"])
async def test_credential_in_the_url_is_refused_even_beside_a_valid_one(
    gateway_url: str, param: str
) -> None:
    url = ws_url(gateway_url, **{param: API_KEY})
    async with connect(url, subprotocols=offering("key", API_KEY)) as ws:
        error = await receive(ws)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()

    assert error["code"] == "credential_in_url" and "techgear.key." in error["message"]
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4400, "credential_in_url")
