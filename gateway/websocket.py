"""``/v1/ws``: one connection carries a whole conversation (protocol: docs/websocket.md).

Every server message carries ``seq``, increasing by one per message on the connection.
Messages to the client go through a bounded outbox drained by one sender task, so a slow
or vanished client is disconnected rather than ever blocking the gateway; rate limits
and the message size limit apply to each question.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Mapping
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway import scopes
from gateway.auth import ORIGIN_NOT_ALLOWED, SUBPROTOCOL, Principal
from gateway.body import error_details
from gateway.bridge import KafkaBridge
from gateway.conversation_events import ConversationEvent, Entry, entry_of
from gateway.conversations import CONVERSATION_NOT_FOUND, ConversationAccess, offered_token
from gateway.feed import TranscriptFeed
from gateway.feedback import ANSWER_NOT_FOUND, FeedbackService
from gateway.handoff import CONVERSATION_CLOSED, is_closed
from gateway.metrics import (
    ANSWER_CACHE,
    RATE_LIMITED,
    WEBSOCKET_CONNECTIONS,
    WEBSOCKET_REFUSED,
)
from gateway.middleware import rate_limit_identity
from gateway.models import ChatResponse, FeedbackBody
from gateway.ratelimit import RateLimiter
from gateway.settings import GatewaySettings
from gateway.socket_limits import TOKEN_EXPIRED, OpenSockets, admit, seconds_left
from gateway.transcripts import Transcript, TranscriptStore
from runtime import correlation
from runtime.errors import (
    AnswerNotFoundError,
    BrokerUnavailableError,
    ConversationNotFoundError,
    ConversationNotOwnedError,
    DependencyUnavailableError,
    ProcessingFailedError,
)
from schemas import (
    MAX_MESSAGE_CHARS,
    ChatAnswer,
    ChatDelta,
    ChatRequest,
    Customer,
    HandoffState,
    new_id,
)

log = logging.getLogger(__name__)

_OUTBOX_SIZE = 512
_SEND_TIMEOUT_S = 10.0
_CONVERSATION_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_AFTER = re.compile(r"^[0-9]{1,15}$")
_OWN_ROLES = frozenset({"customer", "assistant"})
_ANSWER_SUFFIX = ":answer"
"""The worker's transcript message id of an answer: the request id and this."""
# Query parameters that once carried a credential; a URL is logged and kept in histories.
_URL_CREDENTIALS = frozenset({"api_key", "access_token", "token", "conversation_token"})
CLOSE_CREDENTIAL_IN_URL = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_TOO_SLOW = 4408


class AskMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["ask"]
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    client_message_id: str | None = Field(default=None, max_length=128)
    customer: Customer | None = None


class FeedbackMessage(FeedbackBody):
    type: Literal["feedback"]


_MESSAGES: dict[str, type[AskMessage] | type[FeedbackMessage]] = {
    "ask": AskMessage,
    "feedback": FeedbackMessage,
}


class PingMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["ping"]


class _TooSlow(Exception):
    pass


class ChatSession:
    def __init__(
        self,
        websocket: WebSocket,
        conversation_id: str,
        principal: Principal,
        conversation_token: str,
        after: int = 0,
    ) -> None:
        app_state = websocket.app.state
        self._ws = websocket
        self._settings: GatewaySettings = app_state.settings
        self._bridge: KafkaBridge = app_state.bridge
        self._feedback: FeedbackService = app_state.feedback
        self._limiter: RateLimiter = app_state.limiter
        self._identity = rate_limit_identity(websocket.scope, app_state.trusted_proxies)
        self._conversation_id = conversation_id
        self._principal = principal
        self._conversation_token = conversation_token
        self._correlation_id: str = websocket.scope["state"]["correlation_id"]
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue(_OUTBOX_SIZE)
        self._seq = 0
        self._tasks: set[asyncio.Task[None]] = set()
        """What the connection's questions and ratings are doing; cancelled as it closes."""
        self._closing = False
        self._store: TranscriptStore = app_state.transcripts
        self._asked: set[str] = set()
        """Request ids of this connection's questions: it gets their answers as ``answer``."""
        self._handoff_notice: str | None = None
        self._feed = TranscriptFeed(
            self._store, conversation_id, after=after, send=self._push_entry
        )

    async def run(self) -> None:
        live = self._bridge.live
        # Watched before the store is read: nothing published in between is missed.
        live_from = live.watch(self._conversation_id, self._on_event)
        try:
            await self._run(live_from)
        finally:
            live.unwatch(self._conversation_id, self._on_event)
            await self._feed.close()

    async def _run(self, live_from: Mapping[int, int]) -> None:
        transcript = await self._feed.open(live_from)
        sender = asyncio.create_task(self._send_loop())
        self.push(
            {
                "type": "ready",
                "conversation_id": self._conversation_id,
                "conversation_token": self._conversation_token,
                **_owner(transcript),
                "last_seq": transcript.last_seq if transcript else 0,
            }
        )
        self._feed.release(transcript)
        # A socket lives no longer than its credential, idle or not.
        credential = asyncio.timeout(seconds_left(self._ws.user.expires_at))
        try:
            async with credential:
                await self._receive_loop()
        except (WebSocketDisconnect, _TooSlow):
            pass
        except TimeoutError:
            if not credential.expired():
                raise
        finally:
            self._closing = True
            for task in self._tasks:
                task.cancel()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        if credential.expired():
            WEBSOCKET_REFUSED.labels(TOKEN_EXPIRED).inc()
            with contextlib.suppress(WebSocketDisconnect, RuntimeError):
                message = "the token expired; reconnect with a fresh one"
                await refuse(self._ws, CLOSE_UNAUTHORIZED, TOKEN_EXPIRED, message, seq=self._seq)

    def push(self, message: dict[str, Any]) -> None:
        """Queue a message for the client; a client too slow to keep up is disconnected."""
        if self._closing:
            return
        message["seq"] = self._seq
        self._seq += 1
        try:
            self._outbox.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("websocket client too slow; disconnecting")
            self._closing = True
            asyncio.create_task(self._close(CLOSE_TOO_SLOW))

    def _on_event(self, event: ConversationEvent) -> None:
        self._feed.offer(entry_of(event))

    def _push_entry(self, entry: Entry) -> None:
        if entry["type"] == "handoff":
            # What the current wait's escalation tells the customer; none once it is over.
            awaiting = entry["state"] == HandoffState.AWAITING_AGENT
            self._handoff_notice = entry["notice"] if awaiting else None
        own = (
            entry["type"] == "transcript"
            and entry["role"] in _OWN_ROLES
            and entry["message_id"].removesuffix(_ANSWER_SUFFIX) in self._asked
        )
        if not own:
            self.push(dict(entry))

    def error(self, code: str, message: str, **extra: Any) -> None:
        self.push({"type": "error", "code": code, "message": message, **extra})

    async def _close(self, code: int) -> None:
        with contextlib.suppress(Exception):
            await self._ws.close(code)

    async def _send_loop(self) -> None:
        while True:
            message = await self._outbox.get()
            try:
                await asyncio.wait_for(
                    self._ws.send_text(orjson.dumps(message).decode()), _SEND_TIMEOUT_S
                )
            except (TimeoutError, WebSocketDisconnect, RuntimeError):
                self._closing = True
                await self._close(CLOSE_TOO_SLOW)
                return

    async def _receive_loop(self) -> None:
        limit = self._settings.max_body_bytes
        while True:
            frame = await self._ws.receive()
            if frame["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(frame.get("code", 1000))
            if self._closing:
                raise _TooSlow
            if frame.get("bytes") is not None and frame.get("text") is None:
                self.error("binary_not_supported", "send JSON as text frames")
                continue
            text: str = frame.get("text") or ""
            if len(text.encode()) > limit:
                self.error("message_too_large", f"a message may have at most {limit} bytes")
                continue
            await self._handle(text)

    async def _handle(self, text: str) -> None:
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            self.error("invalid_json", f"not JSON: {exc}")
            return
        kind = payload.get("type") if isinstance(payload, dict) else None
        if kind == "ping":
            self.push({"type": "pong"})
            return
        model = _MESSAGES.get(kind) if isinstance(kind, str) else None
        if model is None:
            self.error("invalid_message", "expected a message of type 'ask', 'feedback' or 'ping'")
            return
        try:
            message = model.model_validate(payload)
        except ValidationError as exc:
            self.error("invalid_message", f"invalid {kind}", details=error_details(exc))
            return
        client_message_id = message.client_message_id if isinstance(message, AskMessage) else None
        decision = await self._limiter.take(self._identity)
        if not decision.allowed:
            RATE_LIMITED.labels("websocket").inc()
            self.error(
                "rate_limited",
                f"rate limit exceeded; retry in {decision.retry_after_s}s",
                retry_after=decision.retry_after_s,
                client_message_id=client_message_id,
            )
            return
        work = self._ask(message) if isinstance(message, AskMessage) else self._rate(message)
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _rate(self, message: FeedbackMessage) -> None:
        request_id = message.request_id
        try:
            received = await self._feedback.rate(
                self._principal,
                message,
                channel="chat",
                correlation_id=self._correlation_id,
                conversation_token=self._conversation_token,
            )
        except AnswerNotFoundError:
            code, text = ANSWER_NOT_FOUND, "no answer to rate with this request_id"
        except BrokerUnavailableError:
            code, text = "unavailable", "the message broker is unavailable; retry shortly"
        except DependencyUnavailableError:
            code, text = "unavailable", "the rating store is unavailable; retry shortly"
        else:
            self.push({"type": "feedback_received", **received.model_dump(mode="json")})
            return
        self.error(code, text, request_id=request_id)

    async def _ask(self, ask: AskMessage) -> None:
        request_id = new_id()
        correlation.bind(request_id=request_id, conversation_id=self._conversation_id)
        if await is_closed(self._store, self._conversation_id):
            self.error(
                CONVERSATION_CLOSED,
                "this conversation was closed; start a new one",
                client_message_id=ask.client_message_id,
            )
            return
        self._asked.add(request_id)
        customer, verified = self._principal.customer(ask.customer)
        request = ChatRequest(
            request_id=request_id,
            conversation_id=self._conversation_id,
            correlation_id=self._correlation_id,
            message=ask.message,
            customer=customer,
            customer_verified=verified,
            principal=self._principal.identity,
            channel="chat",
        )
        self.push(
            {
                "type": "accepted",
                "request_id": request_id,
                "client_message_id": ask.client_message_id,
            }
        )

        def on_delta(delta: ChatDelta) -> None:
            self.push(
                {"type": "delta", "request_id": request_id, "index": delta.seq, "text": delta.text}
            )

        try:
            answer = await self._bridge.ask(
                request, timeout_s=self._settings.request_timeout_s, on_delta=on_delta
            )
        except ConversationNotOwnedError:
            self.error(
                CONVERSATION_NOT_FOUND,
                "no such conversation for this credential",
                request_id=request_id,
            )
            return
        except BrokerUnavailableError:
            self.error(
                "unavailable",
                "the message broker is unavailable; retry shortly",
                request_id=request_id,
            )
            return
        except ProcessingFailedError:
            self.error(
                "processing_failed", "the question could not be processed", request_id=request_id
            )
            return
        except TimeoutError:
            self.error(
                "timeout", "no answer in time; the question is still queued", request_id=request_id
            )
            return
        self._push_answer(answer, ask.client_message_id)

    def _push_answer(self, answer: ChatAnswer, client_message_id: str | None) -> None:
        if answer.escalated:
            self.push(
                {
                    "type": "escalation",
                    "request_id": answer.request_id,
                    "reason": answer.escalation_reason,
                    "message": self._handoff_notice or answer.answer,
                    "expected_response_by": (
                        answer.expected_response_by.isoformat()
                        if answer.expected_response_by
                        else None
                    ),
                }
            )
        ANSWER_CACHE.labels("hit" if answer.cached else "miss").inc()
        body = ChatResponse.from_answer(answer).model_dump(
            mode="json", exclude={"conversation_token"}
        )
        self.push({"type": "answer", "client_message_id": client_message_id, **body})


def _owner(transcript: Transcript | None) -> dict[str, Any]:
    """Who answers the conversation, for ``ready``: the state, the agent, the wait."""
    if transcript is None:
        return {"handoff_state": HandoffState.BOT, "agent": None, "expected_response_by": None}
    expected = transcript.expected_response_by
    return {
        "handoff_state": transcript.handoff_state,
        "agent": {"name": transcript.agent_name} if transcript.agent_name else None,
        "expected_response_by": expected.isoformat() if expected else None,
    }


async def chat_socket(websocket: WebSocket) -> None:
    offered: list[str] = websocket.scope.get("subprotocols", [])
    await accept(websocket)
    if _URL_CREDENTIALS & websocket.query_params.keys():
        await refuse(
            websocket,
            CLOSE_CREDENTIAL_IN_URL,
            "credential_in_url",
            "credentials in the URL are refused; offer the subprotocol "
            "techgear.key.<base64url> or techgear.bearer.<base64url>, and a conversation "
            "token as techgear.conversation.<token> (docs/websocket.md)",
        )
        return
    if not websocket.user.is_authenticated:
        await refuse(websocket, CLOSE_UNAUTHORIZED, "unauthorized", "missing credentials")
        return
    if scopes.CHAT not in websocket.auth.scopes:
        await refuse(
            websocket, CLOSE_FORBIDDEN, "forbidden", "this credential lacks the 'chat' scope"
        )
        return
    principal: Principal = websocket.user
    if not principal.origin_allowed:
        await refuse(
            websocket,
            CLOSE_FORBIDDEN,
            ORIGIN_NOT_ALLOWED,
            "this key is not allowed from this Origin",
        )
        return
    requested = websocket.query_params.get("conversation_id")
    if requested is not None and not _CONVERSATION_ID.match(requested):
        await refuse(
            websocket,
            1008,
            "invalid_conversation_id",
            "conversation_id must match [A-Za-z0-9._:-]{1,128}",
        )
        return
    after = websocket.query_params.get("after", "0")
    if not _AFTER.match(after):
        await refuse(
            websocket, 1008, "invalid_after", "after must be a conversation_seq (an integer ≥ 0)"
        )
        return
    sockets: OpenSockets = websocket.app.state.open_sockets
    identity = rate_limit_identity(websocket.scope, websocket.app.state.trusted_proxies)
    refusal = await admit(sockets, websocket.app.state.limiter, identity)
    if refusal is not None:
        extra = {} if refusal.retry_after is None else {"retry_after": refusal.retry_after}
        await refuse(websocket, refusal.close_code, refusal.code, refusal.message, **extra)
        return
    try:
        opened = await _open_conversation(websocket, principal, requested, offered)
        if opened is None:
            return
        conversation_id, token = opened
        WEBSOCKET_CONNECTIONS.inc()
        try:
            await ChatSession(websocket, conversation_id, principal, token, int(after)).run()
        finally:
            WEBSOCKET_CONNECTIONS.dec()
    finally:
        sockets.release(identity)
    connected = WebSocketState.CONNECTED
    if websocket.client_state is connected and websocket.application_state is connected:
        await websocket.close()


async def _open_conversation(
    websocket: WebSocket, principal: Principal, requested: str | None, offered: list[str]
) -> tuple[str, str] | None:
    """The conversation's id and token, or ``None`` once the socket has been refused."""
    access: ConversationAccess = websocket.app.state.conversations
    try:
        conversation_id = await access.open(principal, requested, offered_token(offered))
    except ConversationNotFoundError:
        await refuse(
            websocket,
            CLOSE_NOT_FOUND,
            CONVERSATION_NOT_FOUND,
            "no such conversation for this credential; connect without conversation_id to "
            "start one",
        )
        return None
    return conversation_id, access.token(conversation_id, principal)


async def accept(websocket: WebSocket) -> None:
    offered: list[str] = websocket.scope.get("subprotocols", [])
    # Only the non-secret protocol is ever echoed, never a credential-bearing one.
    await websocket.accept(subprotocol=SUBPROTOCOL if SUBPROTOCOL in offered else None)


async def refuse(
    websocket: WebSocket, close_code: int, code: str, message: str, seq: int = 0, **extra: Any
) -> None:
    error = {"type": "error", "seq": seq, "code": code, "message": message, **extra}
    await websocket.send_text(orjson.dumps(error).decode())
    await websocket.close(close_code, reason=code)
