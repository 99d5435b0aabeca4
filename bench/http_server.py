"""The gateway's HTTP server alone: how many cheap requests it serves, closed loop.

    .venv/bin/python -m bench.http_server --url http://127.0.0.1:8000 --server-pid PID \\
        [--path /health] [--concurrency 32] [--duration 15] [--out bench/results/http.json]

``--concurrency`` clients each send ``GET --path`` on their own kept-alive connection, the
next as soon as the last is answered. ``/health`` touches no Kafka, Redis or worker, so the
figures measure the HTTP server and the middleware stack: run it before and after changing
the server setup, on the same machine, to see what the change costs. On a shared machine
throughput follows whatever else runs; the server's CPU time per request (``--server-pid``,
from /proc) does not, so compare that. Prints a summary and writes JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import time
from pathlib import Path

import aiohttp
import uvloop

from bench.load import REPO, percentiles


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def client(
    session: aiohttp.ClientSession, path: str, until: float, latencies: list[float]
) -> int:
    """Requests until ``until``; returns how many failed."""
    failures = 0
    while time.perf_counter() < until:
        started = time.perf_counter()
        async with session.get(path) as response:
            await response.read()
        if response.status == 200:
            latencies.append(time.perf_counter() - started)
        else:
            failures += 1
    return failures


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--path", default="/health")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "http.json")
    args = parser.parse_args()

    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(args.url, connector=connector) as session:
        warmup_until = time.perf_counter() + args.warmup
        await asyncio.gather(
            *(client(session, args.path, warmup_until, []) for _ in range(args.concurrency))
        )
        latencies: list[float] = []
        cpu_before = cpu_seconds(args.server_pid)
        begin = time.perf_counter()
        failures = await asyncio.gather(
            *(
                client(session, args.path, begin + args.duration, latencies)
                for _ in range(args.concurrency)
            )
        )
        elapsed = time.perf_counter() - begin
        server_cpu_s = cpu_seconds(args.server_pid) - cpu_before

    report = {
        "url": args.url + args.path,
        "concurrency": args.concurrency,
        "duration_s": round(elapsed, 2),
        "requests": len(latencies),
        "failures": sum(failures),
        "throughput_rps": round(len(latencies) / elapsed, 1),
        "latency_ms": percentiles(latencies),
        "server_cpu_us_per_request": round(server_cpu_s / max(len(latencies), 1) * 1e6),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    print(json.dumps(report, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    uvloop.run(main())
