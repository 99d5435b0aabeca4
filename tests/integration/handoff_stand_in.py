"""A stand-in for the gateway's side of human handoff, serving the real chat page: it speaks
the WebSocket messages of docs/websocket.md (``handoff``, ``agent_message``, ``transcript``,
forwarded answers, resuming with ``after``) for one conversation at a time, so the page's
tests script a conversation without Kafka, a worker or a helpdesk.

Questions mentioning "human" escalate; a test plays the agent with :meth:`agent_says`,
:meth:`remind`, :meth:`hand_back` and :meth:`close`, and takes the visitor offline with
:meth:`offline`."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.pages import chat_page, static_files

SUBPROTOCOL = "techgear.v1"
CONVERSATION_SUBPROTOCOL = "techgear.conversation."
CLOSE_SERVICE_RESTART = 1012
PASSED_ON = "Passed on to {name}; they will reply here."
JOINED = "{name} from TechGear support joined the conversation."
BACK_WITH_BOT = "You are back with the TechGear assistant; ask me anything."
CLOSED = "This conversation was closed. Start a new chat any time."
HANDING_OVER = "Handing you over to a person."


def bot_answer(question: str) -> str:
    return f"The bot's answer to {question}"


class Visitor:
    """One open WebSocket of the conversation, numbering what it sends (``seq``)."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._seq = itertools.count()

    async def send(self, message: dict[str, Any]) -> None:
        await self.websocket.send_json({**message, "seq": next(self._seq)})


class StandInGateway:
    def __init__(self, *, waiting_notice: str, expected_response_by: datetime) -> None:
        self.waiting_notice = waiting_notice
        self.expected_response_by = expected_response_by.isoformat()
        self.resumed_after: list[int | None] = []
        """The ``after`` of every connection, in order (None: a new conversation)."""
        self.drop_next_answer = False
        """The next question's connection drops once the answer is in the transcript, before
        the answer itself is sent; the visitor is offline until an :meth:`offline` block
        ends, and then finds the answer in the transcript."""
        self._visitors: set[Visitor] = set()
        self._online = asyncio.Event()
        self._online.set()
        self._new_conversation()
        self.app = Starlette(
            routes=[
                Route("/", chat_page),
                Mount("/static", app=static_files),
                WebSocketRoute("/v1/ws", self._socket),
            ]
        )

    def _new_conversation(self) -> None:
        self.conversation_id = str(uuid.uuid4())
        self.state = "bot"
        self.agent_name: str | None = None
        self.transcript: list[dict[str, Any]] = []

    async def agent_says(self, name: str, text: str) -> None:
        if self.state != "agent":
            await self._change("agent", "agent_replied", JOINED.format(name=name), name)
        await self._publish(
            {
                "type": "agent_message",
                "message_id": str(uuid.uuid4()),
                "text": text,
                "author": {"name": name},
            }
        )

    async def asked_elsewhere(self, question: str) -> None:
        """The visitor asks on another device: this page learns it from the transcript."""
        request_id = str(uuid.uuid4())
        forwarded = self.state != "bot"
        await self._publish(self._entry("customer", question, request_id, forwarded=forwarded))
        if not forwarded:
            await self._publish(
                self._entry("assistant", bot_answer(question), f"{request_id}:answer")
            )

    async def remind(self, text: str) -> None:
        await self._publish(self._entry("system", text, str(uuid.uuid4())))

    async def hand_back(self) -> None:
        await self._change("bot", "handback", BACK_WITH_BOT, None)

    async def close(self) -> None:
        await self._change("closed", "closed", CLOSED, None)

    @contextlib.asynccontextmanager
    async def offline(self) -> AsyncIterator[None]:
        """The visitor's connections drop, if any are open; one opened meanwhile is held
        before ``ready`` (the page shows "Reconnecting…") and resumes when the block ends."""
        self._online.clear()
        dropped, self._visitors = self._visitors, set()
        for visitor in dropped:
            await visitor.websocket.close(CLOSE_SERVICE_RESTART)
        try:
            yield
        finally:
            self._online.set()

    async def _change(self, state: str, reason: str, notice: str, name: str | None) -> None:
        previous, self.state, self.agent_name = self.state, state, name
        await self._publish(
            {
                "type": "handoff",
                "state": state,
                "previous_state": previous,
                "reason": reason,
                "notice": notice,
                "author": {"name": name} if name else None,
                "expected_response_by": (
                    self.expected_response_by if state == "awaiting_agent" else None
                ),
            }
        )

    def _entry(self, role: str, text: str, message_id: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "transcript",
            "role": role,
            "text": text,
            "message_id": message_id,
            "forwarded": False,
        } | extra

    async def _publish(
        self, entry: dict[str, Any], *, not_to: Visitor | None = None
    ) -> dict[str, Any]:
        """Adds ``entry`` to the transcript and sends it to every visitor online but
        ``not_to`` (the one that asked: it has its answer)."""
        entry |= {
            "conversation_seq": len(self.transcript) + 1,
            "sent_at": datetime.now(UTC).isoformat(),
        }
        self.transcript.append(entry)
        for visitor in list(self._visitors - {not_to}):
            await visitor.send(entry)
        return entry

    async def _socket(self, websocket: WebSocket) -> None:
        offered: list[str] = websocket.scope.get("subprotocols", [])
        await websocket.accept(subprotocol=SUBPROTOCOL)
        if not any(offer.startswith(CONVERSATION_SUBPROTOCOL) for offer in offered):
            self._new_conversation()
        after = websocket.query_params.get("after")
        self.resumed_after.append(None if after is None else int(after))
        await self._online.wait()
        visitor = Visitor(websocket)
        await visitor.send(
            {
                "type": "ready",
                "conversation_id": self.conversation_id,
                "conversation_token": f"stand-in.{self.conversation_id}",
                "handoff_state": self.state,
                "agent": {"name": self.agent_name} if self.agent_name else None,
                "expected_response_by": (
                    self.expected_response_by if self.state == "awaiting_agent" else None
                ),
                "last_seq": len(self.transcript),
            }
        )
        caught_up = int(after or 0)
        while caught_up < len(self.transcript):  # entries published meanwhile included
            await visitor.send(self.transcript[caught_up])
            caught_up += 1
        self._visitors.add(visitor)
        try:
            while True:
                message = await websocket.receive_json()
                if message.get("type") == "ask":
                    await self._answer(
                        visitor, message["message"], message.get("client_message_id")
                    )
        except WebSocketDisconnect:
            pass
        finally:
            self._visitors.discard(visitor)

    async def _answer(self, visitor: Visitor, question: str, client_message_id: str | None) -> None:
        request_id = str(uuid.uuid4())
        if self.state == "closed":
            await visitor.send(
                {
                    "type": "error",
                    "code": "conversation_closed",
                    "message": "this conversation is closed; start a new one",
                    "request_id": request_id,
                }
            )
            return
        await visitor.send(
            {"type": "accepted", "request_id": request_id, "client_message_id": client_message_id}
        )
        if self.state != "bot":
            asked = await self._publish(
                self._entry("customer", question, request_id, forwarded=True), not_to=visitor
            )
            name = self.agent_name or "our support team"
            await visitor.send(
                self._answer_message(request_id, PASSED_ON.format(name=name), asked)
                | {"forwarded": True, "category": "human_agent"}
            )
            return
        await self._publish(self._entry("customer", question, request_id), not_to=visitor)
        escalate = "human" in question.lower()
        text = HANDING_OVER if escalate else bot_answer(question)
        await visitor.send({"type": "delta", "request_id": request_id, "index": 0, "text": text})
        answered = await self._publish(
            self._entry("assistant", text, f"{request_id}:answer"), not_to=visitor
        )
        if self.drop_next_answer:
            self.drop_next_answer = False
            self._online.clear()
            self._visitors.discard(visitor)
            await visitor.websocket.close(CLOSE_SERVICE_RESTART)
            return
        if escalate:
            await visitor.send(
                {
                    "type": "escalation",
                    "request_id": request_id,
                    "reason": "customer_requested",
                    "message": self.waiting_notice,
                    "expected_response_by": self.expected_response_by,
                }
            )
        await visitor.send(
            self._answer_message(request_id, text, answered)
            | {
                "escalated": escalate,
                "escalation_reason": "customer_requested" if escalate else None,
                "handoff_state": "awaiting_agent" if escalate else "bot",
                "expected_response_by": self.expected_response_by if escalate else None,
            }
        )
        if escalate:
            await self._change("awaiting_agent", "customer_requested", self.waiting_notice, None)

    def _answer_message(self, request_id: str, text: str, entry: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "answer",
            "request_id": request_id,
            "conversation_id": self.conversation_id,
            "answer": text,
            "category": "general",
            "confidence": 1.0,
            "escalated": False,
            "escalation_reason": None,
            "sources": [],
            "cached": False,
            "conversation_seq": entry["conversation_seq"],
            "forwarded": False,
            "handoff_state": self.state,
            "expected_response_by": None,
        }


@contextlib.asynccontextmanager
async def serving(gateway: StandInGateway) -> AsyncIterator[str]:
    """``gateway`` on an in-process server on a free port; yields its URL."""
    server = uvicorn.Server(
        uvicorn.Config(gateway.app, host="127.0.0.1", port=0, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task  # raises what stopped it, if anything did
            raise RuntimeError("the stand-in gateway stopped before it started serving")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
