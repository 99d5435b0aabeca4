"""Local Kafka, Redis and Chroma for development and tests, without Docker.

Kafka is a single-node KRaft broker assembled from the official Maven Central artifacts
(``docker/kafka/pom.xml``), plain or, for tests of authenticated clients, secured (SASL_SSL
with SCRAM, mutual TLS, ACLs); Redis is Debian's ``redis-server``; Chroma is the chromadb
package's own server (``chroma run``), which several workers can share. Starting reuses a server
already listening on the port, waits until it answers, and keeps data under the state
folder. Only a process this module started has a pid file, so stopping ends exactly what
was started and never a server someone else runs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.kafka import KafkaConnection

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
    local_chroma_port: int = Field(default=8100, ge=1, le=65535)
    """Port of ``LocalChroma``; the workers reach it with ``CHROMA_HOST``/``CHROMA_PORT``."""
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

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    @property
    def data(self) -> Path:
        return self.home / "data"

    def prepare(self) -> None:
        self.fetch_jars()
        self.config_file.write_text(self._server_properties())
        if not (self.data / "meta.properties").exists():
            self._format()

    def _format(self, *options: str) -> None:
        subprocess.run(
            [
                *self._java(*_TOOL_JVM),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                _kafka_cluster_id(),
                "-c",
                str(self.config_file),
                *options,
            ],
            check=True,
            capture_output=True,
        )

    def fetch_jars(self) -> None:
        """Fetch the jars of ``docker/kafka/pom.xml``, again whenever that file changed (the
        stamp holds the digest of the pom they came from)."""
        stamp = self.libs / ".complete"
        pom_digest = hashlib.sha256(KAFKA_POM.read_bytes()).hexdigest()
        if stamp.exists() and stamp.read_text().strip() == pom_digest:
            return
        if shutil.which("mvn") is None or shutil.which("java") is None:
            raise ServiceError("Kafka needs Java 17+ and Maven on PATH (apt-get install maven)")
        log.info("fetching Kafka jars from Maven Central into %s", self.libs)
        # Jars of an earlier pom would stay on the classpath beside their new versions.
        shutil.rmtree(self.libs, ignore_errors=True)
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
        stamp.write_text(pom_digest + "\n")

    def command(self) -> list[str]:
        # The serial collector: on a small heap and 2 cores, G1's concurrent threads cost
        # the broker a fifth of its CPU per answer (docs/benchmarks.md, issue 17).
        broker_jvm = (f"-Xmx{self.settings.kafka_heap}", "-XX:+UseSerialGC")
        return [*self._java(*broker_jvm), "kafka.Kafka", str(self.config_file)]

    def ready(self) -> bool:
        return asyncio.run(_kafka_answers(KafkaConnection(self.address)))

    def _java(self, *options: str) -> list[str]:
        return [
            "java",
            *options,
            f"-Dlog4j2.configurationFile={KAFKA_LOG_CONFIG}",
            "-cp",
            f"{self.libs}/*",
        ]

    @property
    def controller_port(self) -> int:
        return self.settings.kafka_controller_port

    def _listener_properties(self) -> list[str]:
        port, controller = self.port, self.controller_port
        return [
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        ]

    def _server_properties(self) -> str:
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                "controller.listener.names=CONTROLLER",
                *self._listener_properties(),
                f"log.dirs={self.data}",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                # A lone local broker: start consumer groups at once instead of waiting 3 s.
                "group.initial.rebalance.delay.ms=0",
                "num.partitions=1",
                # One machine's broker: a few threads, not the defaults sized for a server
                # of its own (8 I/O, 3 network threads that contend for 2 cores here).
                "num.io.threads=2",
                "num.network.threads=1",
                "",
            ]
        )


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """PEM files of the secured broker (keys unencrypted)."""

    ca: Path
    """Signs the broker's certificate and the client certificates it accepts."""
    cert: Path
    key: Path


BROKER_USER = "admin"
"""The secured broker's super user, used by the broker itself between its listeners."""
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
_PLAIN_CREDENTIAL = re.compile(r"[A-Za-z0-9._~-]+")
"""Characters that need no quoting in a SCRAM argument, a JAAS line or a properties file."""
_SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required"
_CERTIFICATE_CN = "RULE:^CN=([^,]+)$/$1/,DEFAULT"
"""A client certificate's principal is its common name (``User:techgear-test-client``)."""


class LocalSecureKafka(LocalKafka):
    """A single-node broker that admits only authenticated clients: SASL_SSL with SCRAM
    (SHA-256 and SHA-512) on ``port`` and mutual TLS on the next port, under
    ACLs (nothing is allowed without one; ``admin`` is the super user). The controller
    listener is plaintext on the loopback, on the port after those.

    SCRAM users exist from the moment the storage is formatted, so every start formats it
    afresh with ``users`` (name -> password); a broker this class left running (an
    interrupted run) is stopped first, since its users' passwords are not this run's.
    Passwords only ever sit in files of mode 0600 in the broker's folder, never on a
    command line."""

    name = "kafka-secure"

    def __init__(
        self, settings: ServicesSettings, tls: BrokerTls, users: Mapping[str, str], port: int
    ) -> None:
        if BROKER_USER not in users:
            raise ValueError(f"the users must include the broker's own, {BROKER_USER!r}")
        for name, password in users.items():
            if not (_PLAIN_CREDENTIAL.fullmatch(name) and _PLAIN_CREDENTIAL.fullmatch(password)):
                raise ValueError(f"user {name!r}: names and passwords may only use [A-Za-z0-9._~-]")
        super().__init__(settings)
        self.tls = tls
        self._users = dict(users)
        self._port = port

    @property
    def port(self) -> int:
        return self._port

    @property
    def mtls_port(self) -> int:
        return self.port + 1

    @property
    def mtls_address(self) -> str:
        return f"127.0.0.1:{self.mtls_port}"

    @property
    def controller_port(self) -> int:
        return self.port + 2

    @property
    def admin_config(self) -> Path:
        """Client configuration (``--command-config``) of Kafka's tools, as ``admin``."""
        return self.home / "admin.properties"

    def start(self) -> ServiceHandle:
        if self.running_pid() is not None:
            log.info("stopping %s left by an earlier run: its users are not this run's", self.name)
            self.stop()
        if port_open(self.port):
            raise ServiceError(f"{self.address} is taken by a process this module did not start")
        return super().start()

    def prepare(self) -> None:
        self.fetch_jars()
        shutil.rmtree(self.data, ignore_errors=True)
        _write_private(self.home / "broker-keystore.pem", _keystore_pem(self.tls))
        _write_private(self.config_file, self._server_properties())
        _write_private(self.admin_config, self._admin_properties())
        # argparse4j reads arguments from an @file, one a line: the passwords stay off the
        # command line; the file goes once the storage holds the credentials.
        scram_arguments = self.home / "scram-users.args"
        _write_private(
            scram_arguments,
            "".join(
                f"--add-scram\n{mechanism}=[name={name},password={password}]\n"
                for name, password in self._users.items()
                for mechanism in SCRAM_MECHANISMS
            ),
        )
        try:
            self._format(f"@{scram_arguments}")
        finally:
            scram_arguments.unlink()

    def ready(self) -> bool:
        admin = KafkaConnection(
            self.address,
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=BROKER_USER,
            sasl_password=SecretStr(self._users[BROKER_USER]),
            ssl_ca_file=self.tls.ca,
        )
        return asyncio.run(_kafka_answers(admin))

    def run_tool(self, main_class: str, *arguments: str) -> None:
        """Run one of Kafka's command-line tools (a class on the broker's classpath)."""
        tool = subprocess.run(
            [*self._java(*_TOOL_JVM), main_class, *arguments],
            capture_output=True,
            text=True,
            check=False,
        )
        if tool.returncode != 0:
            raise ServiceError(
                f"{main_class} exited with code {tool.returncode}: {tool.stderr or tool.stdout}"
            )

    def _listener_properties(self) -> list[str]:
        sasl, mtls, controller = self.port, self.mtls_port, self.controller_port
        return [
            f"listeners=SASL_SSL://127.0.0.1:{sasl},SSL://127.0.0.1:{mtls},"
            f"CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=SASL_SSL://127.0.0.1:{sasl},SSL://127.0.0.1:{mtls}",
            "listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name=SASL_SSL",
            f"sasl.enabled.mechanisms={','.join(SCRAM_MECHANISMS)}",
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
            # Each mechanism needs a login entry; the broker's own client uses SHA-512.
            f"listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config={_SCRAM_LOGIN};",
            f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={self._admin_jaas()}",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.home / 'broker-keystore.pem'}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.tls.ca}",
            "listener.name.ssl.ssl.client.auth=required",
            f"ssl.principal.mapping.rules={_CERTIFICATE_CN}",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            # The broker reaches its controller over the plaintext loopback listener, as
            # ANONYMOUS: the one principal no client listener can yield.
            f"super.users=User:{BROKER_USER};User:ANONYMOUS",
            "allow.everyone.if.no.acl.found=false",
        ]

    def _admin_properties(self) -> str:
        return "\n".join(
            [
                "security.protocol=SASL_SSL",
                "sasl.mechanism=SCRAM-SHA-512",
                f"sasl.jaas.config={self._admin_jaas()}",
                "ssl.truststore.type=PEM",
                f"ssl.truststore.location={self.tls.ca}",
                "",
            ]
        )

    def _admin_jaas(self) -> str:
        return f'{_SCRAM_LOGIN} username="{BROKER_USER}" password="{self._users[BROKER_USER]}";'


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


class LocalChroma(_LocalService):
    """A ``chroma run`` server: the vector store several workers share."""

    name = "chroma"
    marker = "chroma run"

    @property
    def port(self) -> int:
        return self.settings.local_chroma_port

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def command(self) -> list[str]:
        chroma = Path(sys.executable).parent / "chroma"
        if not chroma.exists():
            raise ServiceError(f"{chroma} not found: the chromadb package installs it")
        return [
            str(chroma),
            "run",
            "--path",
            str(self.home / "data"),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]

    def ready(self) -> bool:
        return httpx.get(f"{self.url}/api/v2/heartbeat", timeout=2).status_code == 200

    def client_env(self) -> dict[str, str]:
        """The environment variables that point a worker (or ``techgear ingest``) here."""
        return {"CHROMA_HOST": "127.0.0.1", "CHROMA_PORT": str(self.port)}

    def ingest(self, knowledge: Path, collection: str) -> str:
        """Embed the knowledge base at ``knowledge`` into ``collection`` (incrementally);
        returns ``techgear ingest``'s summary line."""
        done = ingest_into_chroma_server(
            {**self.client_env(), "CHROMA_COLLECTION": collection}, knowledge
        )
        if done.returncode != 0:
            raise ServiceError(f"techgear ingest into {self.url} failed: {done.stderr}")
        return done.stdout.strip()


def ingest_into_chroma_server(
    chroma_env: Mapping[str, str], knowledge: Path
) -> subprocess.CompletedProcess[str]:
    """``techgear ingest --quiet`` of ``knowledge`` into the Chroma server ``chroma_env``
    (``CHROMA_*`` variables) names, in a process of its own: chromadb's HTTP client never
    closes its connection, which would warn in a test's process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHROMA_", "KAFKA_"))}
    env |= {**chroma_env, "KNOWLEDGE_PATH": str(knowledge)}
    return subprocess.run(
        [sys.executable, "-m", "techgear", "ingest", "--quiet"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


_TOOL_JVM = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
"""A tool runs for seconds: the quick compiler alone and the simplest collector start it
sooner."""


def services(settings: ServicesSettings | None = None) -> tuple[LocalKafka, LocalRedis]:
    settings = settings or ServicesSettings()
    return LocalKafka(settings), LocalRedis(settings)


async def _kafka_answers(connection: KafkaConnection) -> bool:
    admin = connection.admin(request_timeout_ms=3000)
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


def _keystore_pem(tls: BrokerTls) -> str:
    """Kafka's PEM key store file: the private key, then the certificate chain."""
    return tls.key.read_text() + tls.cert.read_text()


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only its owner can read, from the moment it exists."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


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
