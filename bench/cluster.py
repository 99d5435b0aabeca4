"""Several workers and gateways on one Kafka: what each process spends per answer.

    .venv/bin/python -m bench.cluster --workers 1 --gateways 2 --bystanders 1 \\
        --routing partition --rate 12 --duration 40 --llm-latency 0.5 [--clients C]

Starts (or reuses) Kafka, Redis and a Chroma server (``techgear/services.py``, ports and
state folder from ``KAFKA_PORT``, ``REDIS_PORT``, ``LOCAL_CHROMA_PORT``,
``TECHGEAR_STATE_DIR``), ingests the knowledge base into Chroma, then starts
``--workers`` workers with the simulated LLM, ``--gateways`` gateways that share
the load and ``--bystanders`` gateways that get none (they still read the shared topics).
After a warm-up it drives ``--rate`` questions a second open loop (or ``--clients``
callers closed loop) for ``--duration`` seconds, and prints for every process its CPU
time per answer served (from /proc), and for every gateway the records of other
gateways' answers it read. The workers share the Chroma server.
Everything it started is stopped at the end; logs stay under the state folder.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import uvloop
from prometheus_client.parser import text_string_to_metric_families

from bench.http_server import cpu_seconds
from bench.load import (
    REPO,
    ChatClient,
    Sample,
    chat_session,
    closed_loop,
    open_loop,
    percentiles,
    questions,
    sample_rss,
)
from gateway.keys import digest
from techgear.processes import stop
from techgear.run import wait_ready
from techgear.services import LocalChroma, ServicesSettings, services

API_KEY = "bench-cluster-key-0123456789abcdef"
CHROMA_COLLECTION = "bench-cluster"
FOREIGN_RECORDS = "techgear_gateway_foreign_answer_records_total"
_STACK = ("worker", "gateway", "bystander", "kafka")


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    """``worker-0``, ``gateway-1``, ``bystander-0``, ``kafka``, ``redis``."""
    pid: int


@dataclass(frozen=True, slots=True)
class ProcessCost:
    name: str
    cpu_ms_per_answer: float
    """Over every answer of the run."""
    cpu_ms_per_answer_served: float | None = None
    """Serving gateways only: over the answers this gateway gave its own callers."""
    foreign_records: int | None = None
    """Gateways only: records of other gateways' answers read during the run."""
    peak_rss_mb: float | None = None


def metric_total(exposition: str, name: str) -> float:
    """The sum of every series of ``name`` in a Prometheus text exposition."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == name
    )


def costs(
    cpu_before: Mapping[str, float],
    cpu_after: Mapping[str, float],
    answers: int,
    served: Mapping[str, int],
    foreign: Mapping[str, float],
    peaks: Mapping[str, float],
) -> list[ProcessCost]:
    """Each process's CPU over the run divided by the answers of the run, and for a
    serving gateway also by the answers it served."""

    def per(cpu_s: float, count: int) -> float:
        return round(cpu_s * 1000 / max(count, 1), 2)

    rows = []
    for name, before in cpu_before.items():
        cpu_s = cpu_after[name] - before
        rows.append(
            ProcessCost(
                name,
                per(cpu_s, answers),
                per(cpu_s, served[name]) if name in served else None,
                round(foreign[name]) if name in foreign else None,
                round(peaks[name], 1) if name in peaks else None,
            )
        )
    return rows


def table(rows: Sequence[ProcessCost]) -> str:
    """One line per process, then the stack's total (workers, gateways, Kafka: what issue
    17's budget counts) and everything's."""
    header = f"{'CPU ms/answer':>14s} {'ms/served':>10s} {'foreign':>8s} {'peak RSS MB':>12s}"
    lines = [f"{'process':14s} {header}"]
    for row in rows:
        served = (
            "" if row.cpu_ms_per_answer_served is None else f"{row.cpu_ms_per_answer_served:.2f}"
        )
        foreign = "" if row.foreign_records is None else str(row.foreign_records)
        rss = "" if row.peak_rss_mb is None else f"{row.peak_rss_mb:.0f}"
        lines.append(
            f"{row.name:14s} {row.cpu_ms_per_answer:14.2f} {served:>10s} {foreign:>8s} {rss:>12s}"
        )
    stack = sum(row.cpu_ms_per_answer for row in rows if row.name.startswith(_STACK))
    lines.append(f"{'stack':14s} {stack:14.2f}   (workers, gateways, kafka)")
    lines.append(f"{'all':14s} {sum(row.cpu_ms_per_answer for row in rows):14.2f}")
    return "\n".join(lines)


class Cluster:
    """The workers and gateways of one run, as child processes."""

    def __init__(self, args: argparse.Namespace, state: Path, env: dict[str, str]) -> None:
        self._args = args
        self._state = state
        self._env = env
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start_workers(self) -> None:
        for i in range(self._args.workers):
            self._spawn(
                f"worker-{i}",
                "worker",
                WORKER_DATA_DIR=str(self._state / f"faust-{i}"),
                WORKER_METRICS_PORT=str(self._args.base_port + 100 + i),
            )

    def start_gateways(self) -> tuple[list[str], list[str]]:
        """The serving gateways' URLs and the bystanders'."""
        urls: dict[str, list[str]] = {"gateway": [], "bystander": []}
        port = self._args.base_port
        for kind, count in (("gateway", self._args.gateways), ("bystander", self._args.bystanders)):
            for i in range(count):
                self._spawn(f"{kind}-{i}", "gateway", GATEWAY_PORT=str(port))
                urls[kind].append(f"http://127.0.0.1:{port}")
                port += 1
        for url in urls["gateway"] + urls["bystander"]:
            wait_ready(url, list(self.children.values()))
        return urls["gateway"], urls["bystander"]

    def _spawn(self, name: str, command: str, **env: str) -> None:
        with (self._state / f"{name}.log").open("ab") as log:
            self.children[name] = subprocess.Popen(
                [sys.executable, "-m", "techgear", command],
                env=self._env | env,
                cwd=REPO,
                stdout=log,
                stderr=log,
            )

    def stop(self) -> None:
        for child in reversed(self.children.values()):
            stop(child)


def child_environment(args: argparse.Namespace, kafka: str, redis: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if k not in {"GEMINI_API_KEY", "API_KEYS"}},
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "REDIS_URL": redis,
        "API_KEY_DIGESTS": f"{digest(API_KEY).hex()}=chat+admin",  # admin: /metrics
        "RATE_LIMIT_PER_MINUTE": "10000000",
        "RATE_LIMIT_PER_HOUR": "100000000",
        "REQUEST_TIMEOUT_S": "60",
        "RESPONDER": "simulated",
        "SIMULATED_LATENCY_S": str(args.llm_latency),
        "WORKER_CONCURRENCY": "600",
        "ANSWER_ROUTING": args.routing,
        "LOG_LEVEL": "WARNING",
    }


async def foreign_records(urls: Mapping[str, str]) -> dict[str, float]:
    async with aiohttp.ClientSession(headers={"X-API-Key": API_KEY}) as session:

        async def scrape(url: str) -> float:
            async with session.get(f"{url}/metrics", raise_for_status=True) as response:
                return metric_total(await response.text(), FOREIGN_RECORDS)

        values = await asyncio.gather(*(scrape(url) for url in urls.values()))
    return dict(zip(urls, values, strict=True))


async def drive(
    args: argparse.Namespace, urls: list[str], source: Iterator[str], duration_s: float
) -> list[Sample]:
    samples: list[Sample] = []
    async with chat_session(
        args.max_in_flight, fresh_connections=args.fresh_connections
    ) as session:
        client = ChatClient(session, API_KEY)
        if args.clients:
            await closed_loop(
                client,
                urls,
                source,
                clients=args.clients,
                duration_s=duration_s,
                samples=samples,
            )
        else:
            await open_loop(
                client, urls, source, rate=args.rate, duration_s=duration_s, samples=samples
            )
    return samples


async def measure(
    args: argparse.Namespace, roles: list[Role], urls: list[str], gateway_urls: dict[str, str]
) -> dict[str, object]:
    """Serving gateways take the questions in turn: each serves ``1 / len(urls)`` of them."""
    source = questions(args.repeat_share)
    await drive(args, urls, source, args.warmup)
    foreign_before = await foreign_records(gateway_urls)
    cpu_before = {role.name: cpu_seconds(role.pid) for role in roles}
    peaks: dict[str, float] = {}
    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(
        sample_rss({role.name: role.pid for role in roles}, peaks, stop_sampling)
    )
    begin = time.perf_counter()
    samples = await drive(args, urls, source, args.duration)
    elapsed = time.perf_counter() - begin
    cpu_after = {role.name: cpu_seconds(role.pid) for role in roles}
    stop_sampling.set()
    await sampler
    foreign_after = await foreign_records(gateway_urls)
    ok = [s for s in samples if s.status == "200"]
    errors: dict[str, int] = {}
    for s in samples:
        if s.status != "200":
            errors[s.status] = errors.get(s.status, 0) + 1
    foreign = {name: foreign_after[name] - foreign_before[name] for name in gateway_urls}
    served = {name: len(ok) // len(urls) for name, url in gateway_urls.items() if url in urls}
    rows = costs(cpu_before, cpu_after, len(ok), served, foreign, peaks)
    print(table(rows))
    return {
        "answers": len(ok),
        "answers_per_s": round(len(ok) / elapsed, 2),
        "latency_ms": percentiles([s.latency_s for s in ok]),
        "errors": errors,
        "processes": [asdict(row) for row in rows],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--gateways", type=int, default=1)
    parser.add_argument("--bystanders", type=int, default=0)
    parser.add_argument("--routing", choices=["partition", "broadcast"], default="partition")
    load = parser.add_mutually_exclusive_group()
    load.add_argument("--rate", type=float, default=12.0, help="open loop, questions/s")
    load.add_argument("--clients", type=int, default=0, help="closed loop callers")
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--llm-latency", type=float, default=0.5)
    parser.add_argument(
        "--repeat-share", type=float, default=0.0, help="share of repeated (cached) questions"
    )
    parser.add_argument(
        "--collection",
        default=CHROMA_COLLECTION,
        help="Chroma collection (one per embedding model: the server keeps them between runs)",
    )
    parser.add_argument("--max-in-flight", type=int, default=1000)
    parser.add_argument(
        "--fresh-connections", action="store_true", help="a new TCP connection per request"
    )
    parser.add_argument("--base-port", type=int, default=int(os.environ.get("BENCH_PORT", 18400)))
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "cluster.json")
    args = parser.parse_args()

    settings = ServicesSettings()
    state = settings.techgear_state_dir.resolve() / "bench-cluster"
    state.mkdir(parents=True, exist_ok=True)
    kafka, redis = services(settings)
    chroma = LocalChroma(settings)
    started = [service for service in (kafka, redis, chroma) if service.start().started]
    env = child_environment(args, kafka.address, f"redis://{redis.address}/0")
    env |= chroma.client_env() | {"CHROMA_COLLECTION": args.collection}
    cluster = Cluster(args, state, env)
    try:
        print(chroma.ingest(REPO / "data" / "knowledge", args.collection))
        cluster.start_workers()
        serving, bystanders = cluster.start_gateways()
        roles = [Role(name, child.pid) for name, child in cluster.children.items()]
        roles += [Role(s.name, pid) for s in (kafka, redis, chroma) if (pid := s.running_pid())]
        roles.append(Role("load generator", os.getpid()))
        gateway_urls = dict(
            zip(
                [name for name in cluster.children if not name.startswith("worker")],
                serving + bystanders,
                strict=True,
            )
        )
        result = uvloop.run(measure(args, roles, serving, gateway_urls))
    finally:
        cluster.stop()
        for service in reversed(started):
            service.stop()
    report = {
        "scenario": {
            key: getattr(args, key)
            for key in (
                "workers",
                "gateways",
                "bystanders",
                "routing",
                "rate",
                "clients",
                "duration",
                "llm_latency",
                "repeat_share",
            )
        },
        **result,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
    }
    print(json.dumps({k: v for k, v in report.items() if k != "processes"}, indent=2))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
