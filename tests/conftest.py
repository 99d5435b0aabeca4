"""Shared fixtures. Integration fixtures start a real Kafka and Redis on test ports
(reusing ones already running there) and stop only what they started."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.keys import digest
from gateway.users import UserStore
from streams.embeddings import OnnxEmbedder
from streams.settings import WorkerSettings
from streams.worker import ingest
from techgear.processes import stop as stop_process
from techgear.services import LocalKafka, LocalRedis, ServicesSettings

REPO = Path(__file__).resolve().parent.parent
STATE_DIR = REPO / ".local" / "test"
KAFKA_PORT = int(os.environ.get("TEST_KAFKA_PORT", "19092"))
REDIS_PORT = int(os.environ.get("TEST_REDIS_PORT", "16379"))
GATEWAY_PORT = int(os.environ.get("TEST_GATEWAY_PORT", "18000"))
API_KEY = "test-key-" + "x" * 24


STATE_DIR.mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def embedder() -> OnnxEmbedder:
    return OnnxEmbedder()


@pytest.fixture(scope="session")
def services_settings() -> ServicesSettings:
    return ServicesSettings(
        _env_file=None,  # type: ignore[call-arg]
        techgear_state_dir=STATE_DIR,
        kafka_port=KAFKA_PORT,
        kafka_controller_port=KAFKA_PORT + 1,
        redis_port=REDIS_PORT,
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
    )


class WorkerProcess:
    """A `techgear worker` child process that tests can restart."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        with (STATE_DIR / "worker.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "techgear", "worker"],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=log,
            )

    def restart(self) -> None:
        stop_process(self.process)
        self.process = self._spawn()

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
    consumer group), and put back on exit."""
    worker.stop()
    substitute = WorkerProcess(worker.env | overrides)
    try:
        yield substitute
    finally:
        substitute.stop()
        worker.restart()


JWT_SECRET = "j" * 48
USER, PASSWORD = "asha", "correct horse battery"
READ_ONLY_KEY = "read-only-key-" + "z" * 24
"""A key with only the escalations:read scope, to test 403s."""
ADMIN_KEY = "admin-key-" + "a" * 24
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
        API_KEY_DIGESTS=f"{digest(READ_ONLY_KEY).hex()}=escalations:read,{digest(ADMIN_KEY).hex()}=admin",
        JWT_SECRET=JWT_SECRET,
        USERS_FILE=str(users_file),
        REQUEST_TIMEOUT_S="20",
        RATE_LIMIT_PER_MINUTE="100000",
        RATE_LIMIT_PER_HOUR="1000000",
    )


@contextlib.contextmanager
def running_gateway(env: dict[str, str], port: int, worker: WorkerProcess) -> Iterator[str]:
    """A `techgear gateway` child process on ``port``, ready; stopped on exit."""
    log = (STATE_DIR / f"gateway-{port}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "techgear", "gateway"],
        env=env | {"GATEWAY_PORT": str(port)},
        cwd=REPO,
        stdout=log,
        stderr=log,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, [process, worker.process])
        yield url
    finally:
        stop_process(process)
        log.close()


@pytest.fixture(scope="session")
def gateway_url(gateway_env: dict[str, str], worker: WorkerProcess) -> Iterator[str]:
    with running_gateway(gateway_env, GATEWAY_PORT, worker) as url:
        yield url


def wait_until_ready(
    url: str, processes: list[subprocess.Popen[bytes]], timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{process.args} exited with {process.returncode}; see {STATE_DIR}"
                )
        try:
            response = httpx.get(f"{url}/ready", timeout=2)
            if response.status_code == 200:
                return
            last = response.text
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.5)
    raise TimeoutError(f"{url} not ready: {last}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Fault injection stops, kills and replaces shared services: it runs after the rest."""
    items.sort(key=lambda item: item.get_closest_marker("fault") is not None)
