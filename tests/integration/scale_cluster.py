"""Several workers and gateways on one Kafka, one Redis and one ``chroma run`` server: the
harness of tests/integration/test_scale.py.

Workers share the consumer group (distinct metrics ports and RocksDB folders); gateways
listen on distinct ports. Questions come from ``PacedLoad``: async clients at a fixed rate
over several conversations, every exchange recorded, each with its own ``X-Request-ID``.
"""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import httpx
from aiokafka.partitioner import murmur2

from runtime.kafka import KafkaConnection
from schemas import ChatAnswer, Escalation, new_id
from schemas.topics import ANSWERS, ESCALATIONS
from techgear.processes import stop as stop_process
from techgear.records import read_records
from tests.conftest import (
    API_KEY,
    STATE_DIR,
    WorkerGroup,
    WorkerProcess,
    describe_worker_group,
    run_on_own_loop,
    start_gateway,
    wait_for_stable_worker_group,
)
from tests.integration.conftest import Marks, decodes_as, end_marks


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives ``key``."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


def conversation_on(partition: int, partitions: int, label: str) -> str:
    """A new conversation id whose questions land on ``partition`` of support.requests."""
    while partition_of(cid := f"{label}-{new_id()}", partitions) != partition:
        pass
    return cid


class ScaleCluster:
    """Workers and gateways started and stopped by the tests; ``worker_env`` and
    ``gateway_env`` are the session's, pointed at the Chroma server."""

    def __init__(
        self, worker_env: dict[str, str], gateway_env: dict[str, str], gateway_port: int
    ) -> None:
        self.worker_env = worker_env
        self.gateway_env = gateway_env
        self.bootstrap = worker_env["KAFKA_BOOTSTRAP_SERVERS"]
        self.workers: list[WorkerProcess] = []
        self.gateways: dict[str, subprocess.Popen[bytes]] = {}
        self._worker_numbers = itertools.count(1)
        self._gateway_ports = itertools.count(gateway_port)

    def add_worker(self) -> WorkerProcess:
        """One more worker, returned once the group is stable with it and every partition
        answers."""
        number = next(self._worker_numbers)
        metrics_port = int(self.worker_env["WORKER_METRICS_PORT"]) + number
        worker = WorkerProcess(
            self.worker_env
            | {
                "WORKER_METRICS_PORT": str(metrics_port),
                "WORKER_DATA_DIR": str(STATE_DIR / f"scale-faust-{number}"),
            },
            name=f"scale-worker-{number}",
            joining=list(self.workers),
        )
        self.workers.append(worker)
        return worker

    def add_gateway(self) -> str:
        port = next(self._gateway_ports)
        process = start_gateway(self.gateway_env, port, *self.workers)
        url = f"http://127.0.0.1:{port}"
        self.gateways[url] = process
        return url

    def kill_worker(self, worker: WorkerProcess) -> WorkerGroup:
        """SIGKILL ``worker``; returns once the survivors hold every partition."""
        worker.process.kill()
        worker.process.wait()
        return self._without(worker)

    def stop_worker(self, worker: WorkerProcess) -> WorkerGroup:
        """SIGTERM ``worker`` (a graceful leave); returns once the survivors hold every
        partition."""
        worker.stop()
        return self._without(worker)

    def _without(self, worker: WorkerProcess) -> WorkerGroup:
        self.workers.remove(worker)
        return wait_for_stable_worker_group(
            self.bootstrap,
            [w.process for w in self.workers],
            departed={worker.member_id},
            members=len(self.workers),
        )

    def kill_gateway(self, url: str) -> None:
        process = self.gateways.pop(url)
        process.kill()
        process.wait()

    def group(self) -> WorkerGroup:
        return run_on_own_loop(describe_worker_group(self.bootstrap))

    def owner_of(self, partition: int) -> WorkerProcess:
        """The worker the group assigned ``partition`` of support.requests to."""
        owner = next(m for m, ps in self.group().members.items() if partition in ps)
        return next(w for w in self.workers if w.member_id == owner)

    def stop(self) -> None:
        for process in self.gateways.values():
            stop_process(process)
        for worker in self.workers:
            worker.stop()
        self.gateways.clear()
        self.workers.clear()


@dataclass
class Exchange:
    """One ``POST /v1/chat`` and what came back."""

    gateway: str
    conversation_id: str
    message: str
    call_id: str = field(default_factory=new_id)
    """Sent as ``X-Request-ID``: a retry of the call sends it again."""
    status: int | None = None
    body: dict[str, object] = field(default_factory=dict)
    error: str | None = None
    sent_at: float = 0.0
    answered_at: float | None = None

    @property
    def request_id(self) -> str:
        """The id the gateway gave the question (empty until answered)."""
        return str(self.body.get("request_id", ""))


async def ask(client: httpx.AsyncClient, exchange: Exchange) -> Exchange:
    """Send ``exchange``'s question to its gateway and record the outcome (a dropped
    connection is recorded as ``error``)."""
    exchange.sent_at = time.time()
    try:
        response = await client.post(
            f"{exchange.gateway}/v1/chat",
            json={"message": exchange.message, "conversation_id": exchange.conversation_id},
            headers={"X-API-Key": API_KEY, "X-Request-ID": exchange.call_id},
        )
    except httpx.HTTPError as exc:
        exchange.error = type(exc).__name__
        return exchange
    exchange.status = response.status_code
    exchange.body = response.json()
    exchange.answered_at = time.time()
    return exchange


QUESTIONS = (
    "What is the price of SmartWatch Pro X?",
    "How long is the warranty on headphones?",
    "How do I return a product?",
    "Do you ship to Pune?",
)
ESCALATION = "I want to talk to a human"


class PacedLoad:
    """Questions at ``rate_per_s`` across ``gateways``, round robin over fresh
    conversations (each a first question, so none is answered from a cache); every
    ``escalate_every``-th question asks for a person. Runs until ``stop()``."""

    def __init__(
        self,
        gateways: Sequence[str],
        rate_per_s: float,
        *,
        escalate_every: int = 5,
        timeout_s: float = 90,
    ) -> None:
        self.gateways = gateways
        self.interval_s = 1 / rate_per_s
        self.escalate_every = escalate_every
        self.timeout_s = timeout_s
        self.exchanges: list[Exchange] = []
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> list[Exchange]:
        pending: list[asyncio.Task[Exchange]] = []
        async with httpx.AsyncClient(timeout=self.timeout_s) as client:
            for number in itertools.count():
                if self._stopping.is_set():
                    break
                message = (
                    ESCALATION
                    if number % self.escalate_every == self.escalate_every - 1
                    else QUESTIONS[number % len(QUESTIONS)]
                )
                exchange = Exchange(
                    self.gateways[number % len(self.gateways)], f"load-{new_id()}", message
                )
                self.exchanges.append(exchange)
                pending.append(asyncio.create_task(ask(client, exchange)))
                try:
                    await asyncio.wait_for(self._stopping.wait(), self.interval_s)
                except TimeoutError:
                    pass
            await asyncio.gather(*pending)
        return self.exchanges


@dataclass(frozen=True)
class Published:
    """What the workers published for some requests, counted by ``request_id``."""

    answers: dict[str, set[int | None]]
    """The transcript ``seq`` of each non-replayed answer: a request redone after a crash,
    before its state was saved, answers again under the same ``seq`` (the gateways keep
    one), so one ``seq`` is one processing."""
    replayed: Counter[str]
    escalations: dict[str, set[str]]
    """The ``event_id`` of each escalation: one ``event_id`` is one ticket."""
    first_answer_at: dict[str, float]
    """request_id -> when its first non-replayed answer was appended (broker time, s)."""


def topic_marks(bootstrap: str) -> Marks:
    """The end offsets of the answers and escalations topics: where counting starts."""
    return run_on_own_loop(end_marks(bootstrap, (ANSWERS, ESCALATIONS)))


def published_since(bootstrap: str, marks: Marks, request_ids: Iterable[str]) -> Published:
    """Answers and escalations of ``request_ids`` published after ``marks``."""
    wanted = set(request_ids)
    kafka = KafkaConnection(bootstrap)
    answers: dict[str, set[int | None]] = defaultdict(set)
    replayed: Counter[str] = Counter()
    escalations: dict[str, set[str]] = defaultdict(set)
    first_answer_at: dict[str, float] = {}

    async def read() -> None:
        for record in await read_records(kafka, ANSWERS, marks[ANSWERS]):
            answer = decodes_as(record, ChatAnswer)
            if answer is None or answer.request_id not in wanted:
                continue
            if answer.replayed:
                replayed[answer.request_id] += 1
                continue
            answers[answer.request_id].add(answer.transcript_seq)
            first_answer_at.setdefault(answer.request_id, record.timestamp / 1000)
        for record in await read_records(kafka, ESCALATIONS, marks[ESCALATIONS]):
            escalation = decodes_as(record, Escalation)
            if escalation is not None and escalation.request_id in wanted:
                escalations[escalation.request_id].add(escalation.event_id)

    run_on_own_loop(read())
    return Published(answers, replayed, escalations, first_answer_at)
