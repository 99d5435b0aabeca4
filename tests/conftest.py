"""Shared fixtures. Integration fixtures start a real Kafka and Redis on test ports
(reusing ones already running there) and stop only what they started."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Collection, Coroutine, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment
from aiokafka.errors import KafkaError

from gateway.keys import digest
from gateway.users import UserStore
from runtime.codec import decode, encode
from runtime.errors import EventDecodeError
from runtime.kafka import KafkaConnection
from runtime.settings import WORKER_GROUP_ID
from schemas import ChatAnswer, ChatRequest
from schemas.topics import ANSWERS, REQUESTS
from streams.embeddings import OnnxEmbedder
from streams.settings import WorkerSettings
from streams.worker import ingest
from techgear.processes import stop as stop_process
from techgear.records import end_offsets
from techgear.services import LocalChroma, LocalKafka, LocalRedis, ServicesSettings

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / ".local" / "test"
KAFKA_PORT = int(os.environ.get("TEST_KAFKA_PORT", "19092"))
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT", "16379"))
GATEWAY_PORT = int(os.environ.get("TEST_GATEWAY_PORT", "18000"))
CHROMA_PORT = int(os.environ.get("TEST_CHROMA_PORT", "16690"))
API_KEY = "test-key-" + "x" * 24
T = TypeVar("T")


STATE_DIR.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def embedder() -> OnnxEmbedder:
    """The model the worker uses by default (int8), from the repository's MODELS_DIR."""
    return OnnxEmbedder()


@pytest.fixture(scope="session")
def services_settings() -> ServicesSettings:
    return ServicesSettings(
        _env_file=None,  # type: ignore[call-arg]
        techgear_state_dir=STATE_DIR,
        kafka_port=KAFKA_PORT,
        kafka_controller_port=KAFKA_PORT + 1,
        redis_port=REDIS_PORT,
        local_chroma_port=CHROMA_PORT,
        # A bound, not a pause: on a loaded machine Kafka's JVM may take minutes to start.
        service_start_timeout_s=300,
    )


@pytest.fixture(scope="session")
def local_kafka(services_settings: ServicesSettings) -> Iterator[tuple[LocalKafka, bool]]:
    """The Kafka of the tests, and whether they started it (and so may stop it)."""
    kafka = LocalKafka(services_settings)
    handle = kafka.start()
    yield kafka, handle.started
    if handle.started:
        kafka.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(local_kafka: tuple[LocalKafka, bool]) -> str:
    return local_kafka[0].address


@pytest.fixture(scope="session")
def local_redis(services_settings: ServicesSettings) -> Iterator[tuple[LocalRedis, bool]]:
    """The Redis of the tests, and whether they started it (and so may stop it)."""
    redis = LocalRedis(services_settings)
    handle = redis.start()
    yield redis, handle.started
    if handle.started:
        redis.stop()


@pytest.fixture(scope="session")
def redis_url(local_redis: tuple[LocalRedis, bool]) -> str:
    return f"redis://{local_redis[0].address}/0"


@pytest.fixture(scope="session")
def local_chroma(services_settings: ServicesSettings) -> Iterator[LocalChroma]:
    """A ``chroma run`` server on the test port, stopped at the end if the tests started it."""
    chroma = LocalChroma(services_settings)
    handle = chroma.start()
    yield chroma
    if handle.started:
        chroma.stop()


@pytest.fixture(scope="session")
def chroma_path() -> Path:
    """The repository's knowledge base, ingested once (incrementally on later runs)."""
    path = STATE_DIR / "chroma"
    ingest(_worker_settings(path, "unused:0"), show_progress=False)
    return path


def _worker_settings(chroma_path: Path, bootstrap: str) -> WorkerSettings:
    return WorkerSettings(
        _env_file=None,  # type: ignore[call-arg]
        kafka_bootstrap_servers=bootstrap,
        chroma_path=chroma_path,
        knowledge_path=REPO / "data" / "knowledge",
        classifier_examples_path=REPO / "data" / "classifier",
    )


def process_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"GEMINI_API_KEY", "API_KEYS"}}
    env.update(overrides)
    return env


@pytest.fixture(scope="session")
def worker_env(kafka_bootstrap: str, redis_url: str, chroma_path: Path) -> dict[str, str]:
    return process_env(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        REDIS_URL=redis_url,
        CHROMA_PATH=str(chroma_path),
        KNOWLEDGE_PATH=str(REPO / "data" / "knowledge"),
        CLASSIFIER_EXAMPLES_PATH=str(REPO / "data" / "classifier"),
        BROKER_SESSION_TIMEOUT_S="10",
        BROKER_HEARTBEAT_INTERVAL_S="1",
        BROKER_REBALANCE_TIMEOUT_S="10",
        RETRY_BACKOFF_S="0.1",
        WORKER_METRICS_PORT=str(WORKER_METRICS_PORT),
        LAG_INTERVAL_S="1",
        WORKER_DATA_DIR=str(STATE_DIR / "faust"),
        # Outcome windows settle in seconds (tests/integration/test_outcomes.py).
        OUTCOME_WINDOW_S="4",
        OUTCOME_TICK_S="0.5",
        OUTCOME_GAUGE_INTERVAL_S="0.5",
    )


class WorkerProcess:
    """A `techgear worker` child process that tests can restart. Starting and restarting
    return only once this process has taken the place of the group's earlier members and
    the group is stable (``wait_for_stable_worker_group``): a question is answered at once.

    ``joining`` names workers that stay in the group beside this one (several workers
    sharing the partitions): then the group must count them and this one."""

    def __init__(
        self, env: dict[str, str], *, name: str = "worker", joining: Sequence[WorkerProcess] = ()
    ) -> None:
        self.env = env
        self.name = name
        self.bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
        self.member_id = ""
        """This process's member of the group (a member id of ``describe_worker_group``)."""
        self.process = self._start(worker_group_members(self.bootstrap), joining)

    def _start(
        self, earlier: Collection[str], joining: Sequence[WorkerProcess] = ()
    ) -> subprocess.Popen[bytes]:
        staying = {worker.member_id for worker in joining}
        with (STATE_DIR / f"{self.name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "techgear", "worker"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=log,
            )
        try:
            group = wait_for_stable_worker_group(
                self.bootstrap,
                [process, *(worker.process for worker in joining)],
                departed=set(earlier) - staying,
                members=len(staying) + 1,
            )
        except BaseException:
            stop_process(process)
            raise
        (self.member_id,) = group.members.keys() - staying
        return process

    def restart(self) -> None:
        """Stop (or reap, when a test killed it) the process and start a new one; members
        a killed process left in the group must have been evicted before this returns."""
        replacing = worker_group_members(self.bootstrap)
        stop_process(self.process)
        self.process = self._start(replacing)

    def stop(self) -> None:
        stop_process(self.process)


@pytest.fixture(scope="session")
def worker(worker_env: dict[str, str]) -> Iterator[WorkerProcess]:
    process = WorkerProcess(worker_env)
    yield process
    process.stop()


@contextlib.contextmanager
def substitute_worker(worker: WorkerProcess, **overrides: str) -> Iterator[WorkerProcess]:
    """The session worker replaced by one with ``overrides`` in its environment (in the same
    consumer group), and put back on exit; both ways only once the group is stable again."""
    worker.stop()
    substitute = WorkerProcess(worker.env | overrides)
    try:
        yield substitute
    finally:
        substitute.stop()
        worker.restart()


@dataclass(frozen=True, slots=True)
class WorkerGroup:
    """The workers' consumer group as the broker describes it."""

    state: str
    members: dict[str, frozenset[int]]
    """Member id -> the partitions of support.requests assigned to it."""
    partitions: int
    """Partitions of support.requests (0 before the workers create it)."""

    def stable_without(self, departed: Collection[str], members: int | None = None) -> bool:
        """Stable, none of ``departed`` still a member, ``members`` members (when given),
        and every partition of support.requests assigned to exactly one member."""
        assigned = sorted(p for partitions in self.members.values() for p in partitions)
        return (
            self.state == "Stable"
            and self.partitions > 0
            and self.members.keys().isdisjoint(departed)
            and members in (None, len(self.members))
            and assigned == list(range(self.partitions))
        )


async def describe_worker_group(bootstrap: str) -> WorkerGroup:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        # All topics: naming one in a metadata request would create it when missing.
        topics = await admin.describe_topics()
        responses = await admin.describe_consumer_groups([WORKER_GROUP_ID])
    finally:
        await admin.close()
    partitions = next((len(t["partitions"]) for t in topics if t["topic"] == REQUESTS), 0)
    for response in responses:
        for _error, group_id, state, _protocol_type, _protocol, members, *_ in response.groups:
            if group_id == WORKER_GROUP_ID:
                return WorkerGroup(
                    state,
                    {member[0]: _requests_partitions(member[-1]) for member in members},
                    partitions,
                )
    return WorkerGroup("Dead", {}, partitions)


def _requests_partitions(assignment: bytes) -> frozenset[int]:
    """The support.requests partitions of a member's assignment (empty mid-rebalance);
    Faust's assignor uses the standard consumer protocol encoding."""
    if not assignment:
        return frozenset()
    decoded = ConsumerProtocolMemberAssignment.decode(assignment)
    return frozenset(tp.partition for tp in decoded.partitions() if tp.topic == REQUESTS)


def worker_group_members(bootstrap: str) -> frozenset[str]:
    """The group's members now (none on a fresh broker, once its coordinator answers)."""

    async def described() -> WorkerGroup:
        return await _poll_worker_group(bootstrap, lambda _: True, (), time.monotonic() + 60)

    return frozenset(run_on_own_loop(described()).members)


def wait_for_stable_worker_group(
    bootstrap: str,
    processes: Sequence[subprocess.Popen[bytes]] = (),
    *,
    departed: Collection[str] = (),
    members: int | None = None,
    timeout_s: float = 300,
) -> WorkerGroup:
    """Block until the workers answer every partition of support.requests at once: the
    group is stable (``WorkerGroup.stable_without(departed)``), then a probe greeting sent
    to each partition is answered. Fails at once if one of ``processes`` exits.

    The broker's view alone is not enough: a worker takes up its assignment only after
    the broker reports the group stable, and a question sent at that moment to a partition
    with no committed offset was seen never to be answered. So a probe not answered within
    ``_PROBE_RESEND_S`` is sent again, and only answers from every partition count."""

    async def stable() -> WorkerGroup:
        deadline = time.monotonic() + timeout_s
        group = await _poll_worker_group(
            bootstrap, lambda group: group.stable_without(departed, members), processes, deadline
        )
        await _probe_every_partition(bootstrap, group.partitions, processes, deadline)
        return group

    return run_on_own_loop(stable())


async def _poll_worker_group(
    bootstrap: str,
    condition: Callable[[WorkerGroup], bool],
    processes: Sequence[subprocess.Popen[bytes]],
    deadline: float,
) -> WorkerGroup:
    last = "not described yet"
    while time.monotonic() < deadline:
        fail_if_exited(processes)
        try:
            group = await describe_worker_group(bootstrap)
        except (KafkaError, OSError) as exc:  # a broker or group coordinator starting
            last = repr(exc)
        else:
            if condition(group):
                return group
            last = repr(group)
        await asyncio.sleep(0.5)
    raise TimeoutError(f"worker group {WORKER_GROUP_ID}: {last}")


_PROBE_RESEND_S = 20.0
"""A probe not answered by then is taken as lost (see ``wait_for_stable_worker_group``)."""


async def _probe_every_partition(
    bootstrap: str,
    partitions: int,
    processes: Sequence[subprocess.Popen[bytes]],
    deadline: float,
) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        await producer.start()
        try:
            answers_from = await end_offsets(
                KafkaConnection(bootstrap), ANSWERS
            )  # before any probe is sent
            consumer.assign([TopicPartition(ANSWERS, p) for p in answers_from])
            for partition, offset in answers_from.items():
                consumer.seek(TopicPartition(ANSWERS, partition), offset)
            await producer.partitions_for(REQUESTS)
            waiting: dict[str, int] = {}  # probe request id -> its partition
            resend_at: dict[int, float] = {}
            unanswered = set(range(partitions))
            while unanswered:
                fail_if_exited(processes)
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no answer to probes on partitions {sorted(unanswered)}")
                for partition in unanswered:
                    if time.monotonic() >= resend_at.get(partition, 0.0):
                        waiting[await _send_probe(producer, partition)] = partition
                        resend_at[partition] = time.monotonic() + _PROBE_RESEND_S
                batches = await consumer.getmany(timeout_ms=500)
                for record in (r for batch in batches.values() for r in batch):
                    request_id = _answered_request(record.value or b"")
                    if request_id in waiting:
                        unanswered.discard(waiting[request_id])
        finally:
            await producer.stop()
    finally:
        await consumer.stop()


async def _send_probe(producer: AIOKafkaProducer, partition: int) -> str:
    probe = ChatRequest(
        request_id=uuid.uuid4().hex,
        conversation_id=f"readiness-probe-{uuid.uuid4().hex}",
        correlation_id="readiness-probe",
        message="hello",  # a greeting: answered without the knowledge base or an LLM
    )
    await producer.send_and_wait(
        REQUESTS, encode(probe), key=probe.conversation_id.encode(), partition=partition
    )
    return probe.request_id


def _answered_request(value: bytes) -> str | None:
    try:
        return decode(value, ChatAnswer).request_id
    except EventDecodeError:
        return None


def run_on_own_loop(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a thread and event loop of its own: blocking helpers may be
    called from async tests, whose loop is already running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


JWT_SECRET = "j" * 48
USER, PASSWORD = "asha", "correct horse battery"
READ_ONLY_KEY = "read-only-key-" + "z" * 24
"""A key with only the escalations:read scope, to test 403s."""
ADMIN_KEY = "admin-key-" + "a" * 24
OTHER_CHAT_KEY = "other-chat-key-" + "o" * 24
"""A second principal with the chat scope, to test that conversations do not cross."""
PUBLISHABLE_KEY = "tgp_publishable-" + "p" * 24
SHOP_ORIGIN = "https://shop.example"
"""The one origin ``PUBLISHABLE_KEY`` is accepted from."""
AGENT_KEY = "agent-key-" + "g" * 24
"""A key with the agent scope: the agent API of human handoff."""
ZENDESK_WEBHOOK_SECRET = "zendesk-signing-secret-" + "z" * 16
FRESHDESK_WEBHOOK_SECRET = "freshdesk-shared-secret-" + "f" * 16
WORKER_METRICS_PORT = int(os.environ.get("TEST_WORKER_METRICS_PORT", "19108"))


@pytest.fixture(scope="session")
def users_file() -> Path:
    path = STATE_DIR / "users.json"
    path.unlink(missing_ok=True)
    UserStore(path).add(USER, PASSWORD, frozenset({"chat"}))
    return path


@pytest.fixture(scope="session")
def gateway_env(kafka_bootstrap: str, redis_url: str, users_file: Path) -> dict[str, str]:
    return process_env(
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        REDIS_URL=redis_url,
        API_KEYS=f"{API_KEY},second-key-{'y' * 24}",
        API_KEY_DIGESTS=",".join(
            [
                f"{digest(READ_ONLY_KEY).hex()}=escalations:read",
                f"{digest(ADMIN_KEY).hex()}=admin",
                f"{digest(OTHER_CHAT_KEY).hex()}=chat",
                f"{digest(PUBLISHABLE_KEY).hex()}=chat;publishable={SHOP_ORIGIN}",
                f"{digest(AGENT_KEY).hex()}=agent",
            ]
        ),
        ZENDESK_WEBHOOK_SECRET=ZENDESK_WEBHOOK_SECRET,
        FRESHDESK_WEBHOOK_SECRET=FRESHDESK_WEBHOOK_SECRET,
        JWT_SECRET=JWT_SECRET,
        USERS_FILE=str(users_file),
        REQUEST_TIMEOUT_S="20",
        RATE_LIMIT_PER_MINUTE="100000",
        RATE_LIMIT_PER_HOUR="1000000",
        # Every test client is 127.0.0.1, and many tests fail authentication on purpose;
        # tests/integration/test_credential_abuse.py tests the budget with its own addresses.
        AUTH_FAILURES_PER_MINUTE="100000",
    )


def start_gateway(
    env: dict[str, str], port: int, *workers: WorkerProcess
) -> subprocess.Popen[bytes]:
    """A `techgear gateway` child process on ``port``, once ready (a test may kill it)."""
    with (STATE_DIR / f"gateway-{port}.log").open("ab") as log:  # the child keeps its own
        process = subprocess.Popen(
            [sys.executable, "-m", "techgear", "gateway"],
            env=env | {"GATEWAY_PORT": str(port)},
            cwd=REPO,
            stdout=log,
            stderr=log,
        )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", [process, *(w.process for w in workers)])
    except BaseException:
        stop_process(process)
        raise
    return process


@contextlib.contextmanager
def running_gateway(env: dict[str, str], port: int, *workers: WorkerProcess) -> Iterator[str]:
    """A `techgear gateway` child process on ``port``, ready; stopped on exit."""
    process = start_gateway(env, port, *workers)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def gateway_url(gateway_env: dict[str, str], worker: WorkerProcess) -> Iterator[str]:
    with running_gateway(gateway_env, GATEWAY_PORT, worker) as url:
        yield url


def wait_until_ready(
    url: str, processes: Sequence[subprocess.Popen[bytes]], timeout_s: float = 120
) -> None:
    """Block until ``url``'s ``/ready`` answers 200 (Kafka reachable, the worker group has
    members); fails at once if one of ``processes`` exits."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        fail_if_exited(processes)
        try:
            response = httpx.get(f"{url}/ready", timeout=2)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready: {last}")


def fail_if_exited(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}; see {STATE_DIR}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fault injection stops, kills and replaces shared services: it runs after the rest,
    and the scale tests (which stop the session's worker meanwhile) last."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("scale") is not None,
            item.get_closest_marker("fault") is not None,
        )
    )
