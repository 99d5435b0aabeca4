"""uvicorn's h11 protocol with a deadline for receiving each request.

uvicorn closes a keep-alive connection that stays idle, but stops that timer at the first
byte of the next request, and arms none on a new connection: a client that sends its
headers one byte at a time, or never finishes its body, holds a connection forever
(uvicorn issue #157, "--timeout-request-start", never implemented). This protocol gives
every request a deadline for its line and headers, counted from the connection's opening
or from the request's first byte on a kept-alive connection (until then uvicorn's own
keep-alive timer closes it), and then one for its body. A WebSocket upgrade ends the
deadlines: the socket is the WebSocket protocol's from then on.
"""

from __future__ import annotations

import asyncio
import enum
import logging

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

# Written straight to the socket: the parser has no request to answer, or is mid-body.
_REQUEST_TIMEOUT_BODY = orjson.dumps(
    {"error": {"code": "request_timeout", "message": "request not received in time"}}
)
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: application/json\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_REQUEST_TIMEOUT_BODY)).encode() + b"\r\n\r\n"
) + _REQUEST_TIMEOUT_BODY


class Phase(enum.Enum):
    HEADERS = "headers"
    BODY = "body"
    NONE = "none"


class DeadlineH11Protocol(H11Protocol):
    """Set ``header_timeout_s`` and ``body_timeout_s`` in a subclass (``deadline_protocol``):
    uvicorn builds the protocol itself, from its own config only."""

    header_timeout_s: float
    body_timeout_s: float
    _phase = Phase.NONE
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._enter(Phase.HEADERS)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._follow_request()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow_request(after_response=True)

    def connection_lost(self, exc: Exception | None) -> None:
        self._enter(Phase.NONE)
        super().connection_lost(exc)

    def _follow_request(self, *, after_response: bool = False) -> None:
        idle = after_response and not self.conn.trailing_data[0]
        # After a WebSocket upgrade h11 still says SEND_BODY, but the socket is no longer ours.
        if self.transport.is_closing() or self.transport.get_protocol() is not self:
            phase = Phase.NONE
        elif self.conn.their_state is h11.IDLE:
            phase = Phase.NONE if idle else Phase.HEADERS
        elif self.conn.their_state is h11.SEND_BODY:
            phase = Phase.BODY
        else:
            phase = Phase.NONE
        if phase is not self._phase:
            self._enter(phase)

    def _enter(self, phase: Phase) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._phase = phase
        if phase is Phase.HEADERS:
            self._deadline = self.loop.call_later(self.header_timeout_s, self._expire)
        elif phase is Phase.BODY:
            self._deadline = self.loop.call_later(self.body_timeout_s, self._expire)

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        log.info("request %s not received in time; connection closed", self._phase.value)
        responding = self._phase is Phase.BODY and self.cycle.response_started
        if not responding:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def deadline_protocol(*, header_timeout_s: float, body_timeout_s: float) -> type[H11Protocol]:
    return type(
        "DeadlineH11Protocol",
        (DeadlineH11Protocol,),
        {"header_timeout_s": header_timeout_s, "body_timeout_s": body_timeout_s},
    )
