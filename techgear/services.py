"""Local Kafka and Redis for development and tests, without Docker.

Kafka is a single-node KRaft broker assembled from the official Maven Central artifacts
(``docker/kafka/pom.xml``); Redis is Debian's ``redis-server``. Starting reuses a server
already listening on the port, waits until it answers, and keeps data under the state
folder. Only a process this module started has a pid file, so stopping ends exactly what
was started and never a server someone else runs.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
KAFKA_POM = REPO_ROOT / "docker" / "kafka" / "pom.xml"
KAFKA_LOG_CONFIG = REPO_ROOT / "docker" / "kafka" / "log4j2.properties"


class ServicesSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    techgear_state_dir: Path = Path(".local")
    """Data, logs and pid files of local services (git-ignored)."""
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    kafka_heap: str = "512m"
    redis_port: int = Field(default=6379, ge=1, le=65535)
    service_start_timeout_s: float = Field(default=90.0, gt=0)


class ServiceError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ServiceHandle:
    name: str
    address: str
    started: bool
    """True when this call started the process; False when one was already running."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class _LocalService:
    name: str
    marker: str
    """A string in the process's command line that proves a pid is still ours."""

    def __init__(self, settings: ServicesSettings) -> None:
        self.settings = settings
        self.home = settings.techgear_state_dir.resolve() / self.name
        self.pid_file = self.home / f"{self.name}.pid"
        self.log_file = self.home / f"{self.name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ServiceHandle:
        if port_open(self.port):
            self.wait_ready()
            log.info("%s already running on %s; reusing it", self.name, self.address)
            return ServiceHandle(self.name, self.address, started=False)
        self.home.mkdir(parents=True, exist_ok=True)
        self.prepare()
        with self.log_file.open("ab") as output:
            process = subprocess.Popen(
                self.command(),
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.home,
            )
        self.pid_file.write_text(str(process.pid))
        self._process = process  # held so it can be reaped when stopped from this process
        try:
            self.wait_ready(process)
        except ServiceError:
            self.stop()
            raise
        log.info("%s started on %s (pid %d)", self.name, self.address, process.pid)
        return ServiceHandle(self.name, self.address, started=True)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the process this module started; False when there was none."""
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.2)
        if _alive(pid):
            log.warning("%s (pid %d) ignored SIGTERM; killing it", self.name, pid)
            os.kill(pid, signal.SIGKILL)
        if self._process is not None:
            self._process.wait()
            self._process = None
        self.pid_file.unlink(missing_ok=True)
        return True

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            return None
        return pid if self.marker in cmdline and _alive(pid) else None

    def wait_ready(self, process: subprocess.Popen[bytes] | None = None) -> None:
        deadline = time.monotonic() + self.settings.service_start_timeout_s
        last_error = "not listening"
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise ServiceError(
                    f"{self.name} exited with code {process.returncode}; see {self.log_file}"
                )
            try:
                if port_open(self.port) and self.ready():
                    return
            except Exception as exc:  # a starting server fails its probe in many ways
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
        raise ServiceError(
            f"{self.name} not ready on {self.address}: {last_error}; see {self.log_file}"
        )

    def prepare(self) -> None:
        """Create what the first start needs."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError


class LocalKafka(_LocalService):
    name = "kafka"
    marker = "kafka.Kafka"

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def libs(self) -> Path:
        return self.settings.techgear_state_dir.resolve() / "kafka-libs"

    def prepare(self) -> None:
        self.fetch_jars()
        data = self.home / "data"
        config = self.home / "server.properties"
        config.write_text(self._server_properties(data))
        if not (data / "meta.properties").exists():
            cluster_id = _kafka_cluster_id()
            subprocess.run(
                [
                    *self._java(),
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(config),
                ],
                check=True,
                capture_output=True,
            )

    def fetch_jars(self) -> None:
        if (self.libs / ".complete").exists():
            return
        if shutil.which("mvn") is None or shutil.which("java") is None:
            raise ServiceError("Kafka needs Java 17+ and Maven on PATH (apt-get install maven)")
        log.info("fetching Kafka jars from Maven Central into %s", self.libs)
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(KAFKA_POM),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={self.libs}",
            ],
            check=True,
        )
        (self.libs / ".complete").write_text("ok\n")

    def command(self) -> list[str]:
        return [*self._java(), "kafka.Kafka", str(self.home / "server.properties")]

    def ready(self) -> bool:
        return asyncio.run(_kafka_answers(self.address))

    def _java(self) -> list[str]:
        return [
            "java",
            f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={KAFKA_LOG_CONFIG}",
            "-cp",
            f"{self.libs}/*",
        ]

    def _server_properties(self, data: Path) -> str:
        port, controller = self.settings.kafka_port, self.settings.kafka_controller_port
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={data}",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                # A lone local broker: start consumer groups at once instead of waiting 3 s.
                "group.initial.rebalance.delay.ms=0",
                "num.partitions=1",
                "",
            ]
        )


class LocalRedis(_LocalService):
    name = "redis"
    marker = "redis-server"

    @property
    def port(self) -> int:
        return self.settings.redis_port

    def command(self) -> list[str]:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServiceError("redis-server not found (apt-get install redis-server)")
        return [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.home),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
        ]

    def ready(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")


def services(settings: ServicesSettings | None = None) -> tuple[LocalKafka, LocalRedis]:
    settings = settings or ServicesSettings()
    return LocalKafka(settings), LocalRedis(settings)


async def _kafka_answers(address: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=address, request_timeout_ms=3000)
    try:
        await admin.start()
        await admin.list_topics()
        return True
    finally:
        await admin.close()


def _kafka_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes in URL-safe base64 without padding. Like Kafka's
    own ``Uuid.randomUuid``, never one starting with "-", which the command line would
    take for an option (one id in 64)."""
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()).startswith("-"):
        pass
    return cluster_id.rstrip("=")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child still "exists" until reaped
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"
