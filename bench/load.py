"""Load generator for the running stack (a separate process from what it measures).

    .venv/bin/python -m bench.load --url http://127.0.0.1:8000 --api-key KEY \\
        --rate 200 --duration 30 --repeat-share 0 [--transport ws --concurrency 500] \\
        [--gateway-pid PID --worker-pid PID] [--out bench/results/run.json]

HTTP runs open-loop at ``--rate`` requests/s (new requests do not wait for old ones);
WebSocket runs keep ``--concurrency`` conversations busy, each asking one question after
another, and also measure the time to the first streamed token. ``--repeat-share`` of the
questions repeat a small set (cache hits); the rest are made unique. Peak RSS of the given
processes is sampled from /proc. Prints a summary and writes JSON (and a PNG latency
chart when matplotlib is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import aiohttp
import numpy as np
import uvloop
from websockets.asyncio.client import connect

REPO = Path(__file__).resolve().parent.parent
_REPEATED = [
    "What is the price of SmartWatch Pro X?",
    "How long does a refund take?",
    "Do you offer cash on delivery?",
    "What is the warranty on the Wireless Earbuds Elite?",
]


@dataclass
class Sample:
    started: float
    latency_s: float
    status: str
    first_token_s: float | None = None
    cached: bool = False
    escalated: bool = False


@dataclass
class Report:
    transport: str
    target: str
    duration_s: float
    requests: int
    errors: dict[str, int]
    throughput_rps: float
    latency_ms: dict[str, float]
    first_token_ms: dict[str, float] | None
    answered_fresh_latency_ms: dict[str, float]
    """Answers neither escalated nor cached: the ones a (simulated) LLM wrote."""
    cache_hit_share: float
    escalated_share: float
    peak_rss_mb: dict[str, float] = field(default_factory=dict)
    machine: str = ""


def questions(repeat_share: float) -> Iterator[str]:
    lines = [
        json.loads(line) for line in (REPO / "data/classifier/eval.jsonl").read_text().splitlines()
    ]
    pool = [line["text"] for line in lines if line["label"] not in {"out_of_scope", "greeting"}]
    counter = 0
    rng = random.Random(7)
    run = secrets.token_hex(3)  # unique across runs too, so earlier runs' answers don't hit
    while True:
        counter += 1
        if rng.random() < repeat_share:
            yield rng.choice(_REPEATED)
        else:
            yield f"{rng.choice(pool)} (ref {run}-{counter})"


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    array = np.array(values) * 1000
    return {
        "p50": round(float(np.percentile(array, 50)), 2),
        "p95": round(float(np.percentile(array, 95)), 2),
        "p99": round(float(np.percentile(array, 99)), 2),
        "max": round(float(array.max()), 2),
        "mean": round(float(array.mean()), 2),
    }


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def sample_rss(pids: dict[str, int], peaks: dict[str, float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for name, pid in pids.items():
            try:
                peaks[name] = max(peaks.get(name, 0.0), rss_mb(pid))
            except FileNotFoundError:
                pass
        await asyncio.sleep(0.5)


class ChatClient:
    """Asks ``POST /v1/chat`` of any gateway and records each answer as a ``Sample``."""

    def __init__(self, session: aiohttp.ClientSession, api_key: str) -> None:
        self._session = session
        self._headers = {"X-API-Key": api_key}

    async def ask(self, url: str, question: str) -> Sample:
        started = time.perf_counter()
        try:
            async with self._session.post(
                f"{url}/v1/chat", json={"message": question}, headers=self._headers
            ) as response:
                status = str(response.status)
                cached = response.status == 200 and response.headers.get("X-Cache") == "HIT"
                body = await response.read()
            escalated = response.status == 200 and bool(json.loads(body).get("escalated"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            status, cached, escalated = type(exc).__name__, False, False
        return Sample(started, time.perf_counter() - started, status, None, cached, escalated)


def chat_session(max_in_flight: int, *, fresh_connections: bool = False) -> aiohttp.ClientSession:
    """``fresh_connections``: a new TCP connection per request, as independent callers make.

    aiohttp: a few times less CPU per request than httpx, so the generator stays out of
    the way of what it measures on a small machine."""
    connector = aiohttp.TCPConnector(limit=max_in_flight, force_close=fresh_connections)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def open_loop(
    client: ChatClient,
    urls: list[str],
    source: Iterator[str],
    *,
    rate: float,
    duration_s: float,
    samples: list[Sample],
) -> None:
    """``rate`` questions a second for ``duration_s``, new ones not waiting for old ones,
    spread over ``urls`` in turn."""

    async def one(url: str, question: str) -> None:
        samples.append(await client.ask(url, question))

    tasks = []
    begin = time.perf_counter()
    interval = 1 / rate
    n = 0
    while (now := time.perf_counter()) - begin < duration_s:
        due = begin + n * interval
        if due > now:
            await asyncio.sleep(due - now)
        tasks.append(asyncio.create_task(one(urls[n % len(urls)], next(source))))
        n += 1
    await asyncio.gather(*tasks)


async def closed_loop(
    client: ChatClient,
    urls: list[str],
    source: Iterator[str],
    *,
    clients: int,
    duration_s: float,
    samples: list[Sample],
) -> None:
    """``clients`` callers, each asking its next question once the last is answered; caller
    ``i`` uses ``urls[i % len(urls)]``."""
    deadline = time.perf_counter() + duration_s

    async def caller(url: str) -> None:
        while time.perf_counter() < deadline:
            samples.append(await client.ask(url, next(source)))

    await asyncio.gather(*(caller(urls[i % len(urls)]) for i in range(clients)))


async def run_http(args: argparse.Namespace, samples: list[Sample]) -> None:
    async with chat_session(args.max_in_flight) as session:
        await open_loop(
            ChatClient(session, args.api_key),
            [args.url],
            questions(args.repeat_share),
            rate=args.rate,
            duration_s=args.duration,
            samples=samples,
        )


async def run_ws(args: argparse.Namespace, samples: list[Sample]) -> None:
    source = questions(args.repeat_share)
    url = args.url.replace("http", "ws", 1) + "/v1/ws"
    headers = {"X-API-Key": args.api_key}
    deadline = time.perf_counter() + args.duration

    async def conversation() -> None:
        async with connect(url, additional_headers=headers, open_timeout=60, max_queue=None) as ws:
            await ws.recv()  # ready
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                await ws.send(json.dumps({"type": "ask", "message": next(source)}))
                first = None
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] == "delta" and first is None:
                        first = time.perf_counter() - started
                    if message["type"] in {"answer", "error"}:
                        status = "200" if message["type"] == "answer" else message["code"]
                        cached = bool(message.get("cached"))
                        escalated = bool(message.get("escalated"))
                        samples.append(
                            Sample(
                                started,
                                time.perf_counter() - started,
                                status,
                                first,
                                cached,
                                escalated,
                            )
                        )
                        break

    await asyncio.gather(*(conversation() for _ in range(args.concurrency)), return_exceptions=True)


def chart(samples: list[Sample], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    begin = min(s.started for s in samples)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    left.scatter([s.started - begin for s in samples], [s.latency_s * 1000 for s in samples], s=2)
    left.set(
        xlabel="seconds into the run", ylabel="end-to-end latency (ms)", title="latency over time"
    )
    right.hist([s.latency_s * 1000 for s in samples], bins=60)
    right.set(xlabel="end-to-end latency (ms)", ylabel="requests", title="latency distribution")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return True


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--transport", choices=["http", "ws"], default="http")
    parser.add_argument("--rate", type=float, default=100.0, help="HTTP requests per second")
    parser.add_argument("--concurrency", type=int, default=50, help="WebSocket conversations")
    parser.add_argument("--max-in-flight", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--repeat-share", type=float, default=0.0)
    parser.add_argument("--gateway-pid", type=int)
    parser.add_argument("--worker-pid", type=int)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "load.json")
    args = parser.parse_args()

    samples: list[Sample] = []
    pids = {
        name: pid
        for name, pid in (("gateway", args.gateway_pid), ("worker", args.worker_pid))
        if pid
    }
    peaks: dict[str, float] = {}
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(pids, peaks, stop))
    begin = time.perf_counter()
    await (run_http(args, samples) if args.transport == "http" else run_ws(args, samples))
    elapsed = time.perf_counter() - begin
    stop.set()
    await sampler

    ok = [s for s in samples if s.status == "200"]
    errors: dict[str, int] = {}
    for s in samples:
        if s.status != "200":
            errors[s.status] = errors.get(s.status, 0) + 1
    first_tokens = [s.first_token_s for s in ok if s.first_token_s is not None]
    report = Report(
        transport=args.transport,
        target=f"{args.rate:g} req/s"
        if args.transport == "http"
        else f"{args.concurrency} conversations",
        duration_s=round(elapsed, 2),
        requests=len(samples),
        errors=errors,
        throughput_rps=round(len(ok) / elapsed, 1),
        latency_ms=percentiles([s.latency_s for s in ok]),
        first_token_ms=percentiles(first_tokens) if first_tokens else None,
        answered_fresh_latency_ms=percentiles(
            [s.latency_s for s in ok if not s.cached and not s.escalated]
        ),
        cache_hit_share=round(sum(s.cached for s in ok) / max(len(ok), 1), 3),
        escalated_share=round(sum(s.escalated for s in ok) / max(len(ok), 1), 3),
        peak_rss_mb={name: round(value, 1) for name, value in peaks.items()},
        machine=f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(asdict(report), indent=2) + "\n")
    drew = chart(samples, args.out.with_suffix(".png")) if samples else False
    print(json.dumps(asdict(report), indent=2))
    print(
        f"wrote {args.out}"
        + (
            f" and {args.out.with_suffix('.png')}"
            if drew
            else " (no chart: pip install matplotlib)"
        )
    )


if __name__ == "__main__":
    uvloop.run(main())
