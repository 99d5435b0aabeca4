"""One busy conversation against everyone else: does a burst stall other customers?

    .venv/bin/python -m bench.burst --url http://127.0.0.1:8000 --api-key KEY \\
        [--burst 120] [--probes 15] [--out bench/results/burst.json]

First measures a probe customer's latency on an idle stack (one fresh question at a time,
each in its own conversation), then sends ``--burst`` questions at once in a single
conversation and, while they are outstanding, measures the probe customer again. Prints
both latency distributions and their ratio, and how long the burst took to drain. Run it
against a stack with a slow LLM (``RESPONDER=simulated SIMULATED_LATENCY_S=0.2``) so the
burst's conversation really is busy for a while.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import secrets
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

from bench.load import percentiles

_PROBE = "What is the warranty on the Wireless Earbuds Elite?"
_BURST = "How long does the battery of the SmartWatch Pro X last?"


async def ask(
    client: aiohttp.ClientSession, question: str, conversation_id: str | None = None
) -> tuple[float, int]:
    """One question's latency in seconds and HTTP status."""
    body: dict[str, Any] = {"message": question}
    if conversation_id:
        body["conversation_id"] = conversation_id
    started = time.perf_counter()
    async with client.post("/v1/chat", json=body) as response:
        await response.read()
        return time.perf_counter() - started, response.status


async def probe(client: aiohttp.ClientSession, run: str, count: int) -> list[float]:
    """``count`` fresh questions, one after another, each in a conversation of its own."""
    latencies = []
    for index in range(count):
        latency, status = await ask(client, f"{_PROBE} (probe {run}-{index})")
        if status == 200:
            latencies.append(latency)
    return latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--burst", type=int, default=120)
    parser.add_argument("--probes", type=int, default=15)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()

    run = secrets.token_hex(3)
    timeout = aiohttp.ClientTimeout(total=600)
    headers = {"X-API-Key": args.api_key}
    connector = aiohttp.TCPConnector(limit=0)  # the probes must not queue behind the burst
    async with aiohttp.ClientSession(
        args.url, connector=connector, timeout=timeout, headers=headers
    ) as client:
        await probe(client, f"{run}-warmup", 3)
        idle = await probe(client, f"{run}-idle", args.probes)

        conversation = f"burst-{run}"
        started = time.perf_counter()
        burst = [
            asyncio.create_task(ask(client, f"{_BURST} (burst {run}-{i})", conversation))
            for i in range(args.burst)
        ]
        busy = await probe(client, f"{run}-busy", args.probes)
        still_outstanding = sum(not task.done() for task in burst)
        results = await asyncio.gather(*burst)
        drained_s = time.perf_counter() - started

    idle_ms, busy_ms = percentiles(idle), percentiles(busy)
    report = {
        "burst": args.burst,
        "burst_statuses": {
            str(s): sum(1 for _, x in results if x == s) for s in {x for _, x in results}
        },
        "burst_drained_s": round(drained_s, 2),
        "burst_outstanding_after_probes": still_outstanding,
        "idle_latency_ms": idle_ms,
        "busy_latency_ms": busy_ms,
        # The first probes meet the burst at its fullest: the tail shows a stall, not p50.
        "busy_to_idle": {
            stat: round(busy_ms[stat] / idle_ms[stat], 2) for stat in ("p50", "p95", "mean")
        }
        if idle_ms and busy_ms
        else None,
        "machine": f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip(),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    uvloop.run(main())
