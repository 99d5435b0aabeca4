"""How fast an agent's message reaches the customer's chat.

    .venv/bin/python -m bench.handoff --url http://127.0.0.1:8000 --chat-key KEY \\
        --agent-key AGENT_KEY [--messages 50] [--out bench/results/handoff.json]

A customer opens a WebSocket and asks one question (so the conversation has a
transcript); then an agent posts ``--messages`` messages, one at a time, through
``POST /v1/conversations/{id}/messages``. For each it records how long the API took to
accept it (202) and how long until the customer's socket showed it as ``agent_message``:
gateway, ``support.requests``, the worker, ``support.conversation-events``, the gateway's
live reader and the socket. Prints both distributions.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import platform
import time
from pathlib import Path
from typing import Any

import aiohttp
from websockets.asyncio.client import ClientConnection, connect

from bench.load import percentiles


def _subprotocols(chat_key: str) -> list[str]:
    encoded = base64.urlsafe_b64encode(chat_key.encode()).decode().rstrip("=")
    return ["techgear.v1", f"techgear.key.{encoded}"]


async def _next_of(ws: ClientConnection, kind: str, **fields: Any) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = json.loads(await ws.recv())
        if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
            return message


async def measure(url: str, chat_key: str, agent_key: str, count: int) -> dict[str, list[float]]:
    ws_url = url.replace("http", "ws", 1) + "/v1/ws"
    accepted: list[float] = []
    delivered: list[float] = []
    async with (
        connect(ws_url, subprotocols=_subprotocols(chat_key)) as ws,  # type: ignore[arg-type]
        aiohttp.ClientSession(url, headers={"X-API-Key": agent_key}) as agent,
    ):
        conversation_id = (await _next_of(ws, "ready"))["conversation_id"]
        await ws.send(json.dumps({"type": "ask", "message": "Do you ship to Pune?"}))
        await _next_of(ws, "answer")
        for index in range(count):
            message_id = f"bench-{time.time_ns()}-{index}"
            started = time.perf_counter()
            async with agent.post(
                f"/v1/conversations/{conversation_id}/messages",
                json={
                    "text": f"Reply {index}",
                    "author": {"name": "Bench"},
                    "message_id": message_id,
                },
            ) as response:
                await response.read()
                if response.status != 202:
                    raise RuntimeError(f"agent API answered {response.status}")
            accepted.append(time.perf_counter() - started)
            await asyncio.wait_for(
                _next_of(ws, "agent_message", message_id=f"api:{message_id}"), 30
            )
            delivered.append(time.perf_counter() - started)
    return {"accepted": accepted, "delivered": delivered}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--chat-key", required=True)
    parser.add_argument("--agent-key", required=True)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--out", type=Path, default=Path("bench/results/handoff.json"))
    args = parser.parse_args()
    results = await measure(args.url, args.chat_key, args.agent_key, args.messages)
    summary = {name: percentiles(samples) for name, samples in results.items()}
    for name, figures in summary.items():
        print(f"{name:>9} (ms): " + "  ".join(f"{k} {v}" for k, v in figures.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"machine": platform.platform(), "messages": args.messages, **summary}, indent=2)
    )


if __name__ == "__main__":
    asyncio.run(main())
