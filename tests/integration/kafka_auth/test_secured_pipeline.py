"""The whole system on the secured broker, each process as its own least-privileged user:
gateway -> worker -> answer, an escalation through the helpdesk bridge, the operator's
``techgear topics describe``; and a process given a wrong password or an untrusted
certificate stops at start with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.certificates import Certificates
from tests.conftest import API_KEY, GATEWAY_PORT, REPO, STATE_DIR, stop_process, wait_until_ready
from tests.integration.conftest import start_bridge, wait_for
from tests.integration.kafka_auth.conftest import SecuredKafka
from tests.integration.test_helpdesk import mentions, records

pytestmark = [pytest.mark.integration, pytest.mark.kafka_auth]

SECURE_GATEWAY_PORT = int(os.environ.get("TEST_SECURE_GATEWAY_PORT", str(GATEWAY_PORT + 50)))
START_FAILURE_TIMEOUT_S = 60
"""A bound on a refused start, not a pause: a retry loop would run into it."""


def started(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:  # the child keeps its own
        return subprocess.Popen(
            [sys.executable, "-m", "techgear", command],
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=output,
        )


@pytest.fixture(scope="module")
def secured_worker(
    secured_kafka: SecuredKafka,
    worker_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[subprocess.Popen[bytes]]:
    # A fresh table store: the secured broker is formatted anew for every session, so
    # offsets a store kept from an earlier session would lie past its changelogs' ends.
    env = (
        worker_env
        | secured_kafka.env("worker")
        | {
            "REDIS_URL": "",  # no answer cache shared with the plain broker's workers
            "WORKER_METRICS_PORT": "0",
            "WORKER_DATA_DIR": str(tmp_path_factory.mktemp("faust-secure")),
        }
    )
    process = started("worker", env, STATE_DIR / "worker-secure.log")
    yield process
    stop_process(process)


@pytest.fixture(scope="module")
def secured_gateway(
    secured_kafka: SecuredKafka,
    gateway_env: dict[str, str],
    secured_worker: subprocess.Popen[bytes],
) -> Iterator[str]:
    env = (
        gateway_env
        | secured_kafka.env("gateway")
        | {"REDIS_URL": "", "GATEWAY_PORT": str(SECURE_GATEWAY_PORT)}
    )
    process = started("gateway", env, STATE_DIR / f"gateway-{SECURE_GATEWAY_PORT}.log")
    url = f"http://127.0.0.1:{SECURE_GATEWAY_PORT}"
    try:
        # Ready means the gateway reads answers and sees the worker group's members.
        wait_until_ready(url, [process, secured_worker], timeout_s=300)
        yield url
    finally:
        stop_process(process)


def ask(gateway: str, message: str) -> dict[str, object]:
    response = httpx.post(
        f"{gateway}/v1/chat",
        json={"message": message, "conversation_id": f"secure-{uuid.uuid4().hex}"},
        headers={"X-API-Key": API_KEY},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def test_a_question_is_answered_through_the_secured_broker(secured_gateway: str) -> None:
    body = ask(secured_gateway, f"How much does the SmartWatch Pro X cost? ({uuid.uuid4().hex})")
    assert body["escalated"] is False
    assert "₹" in str(body["answer"])


def test_an_escalation_becomes_a_ticket_through_the_secured_broker(
    secured_gateway: str, secured_kafka: SecuredKafka, fake_helpdesks: str, redis_url: str
) -> None:
    body = ask(secured_gateway, "I want to talk to a human agent please")
    assert body["escalated"] is True
    helpdesk = secured_kafka.env("helpdesk")
    bridge = start_bridge(
        "zendesk",
        helpdesk.pop("KAFKA_BOOTSTRAP_SERVERS"),
        redis_url,
        log_path=STATE_DIR / "helpdesk-secure.log",
        **helpdesk,
    )
    try:
        wait_for(
            lambda: mentions(records("zendesk")[0], str(body["request_id"])) == 1,
            "the ticket of the escalation",
            timeout_s=120,
        )
    finally:
        stop_process(bridge)


def test_topics_describe_runs_as_the_operator(secured_kafka: SecuredKafka) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "techgear", "topics", "describe"],
        env=os.environ | secured_kafka.env("ops"),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "support.requests: 6 partitions" in result.stdout


def refused_start(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "techgear", command],
        env=os.environ | env | {"REDIS_URL": "", "WORKER_METRICS_PORT": "0"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=START_FAILURE_TIMEOUT_S,
    )


def test_a_wrong_password_stops_the_gateway_at_start_saying_why(
    secured_kafka: SecuredKafka,
) -> None:
    wrong = "not-the-password-" + uuid.uuid4().hex
    env = secured_kafka.env("gateway") | {
        "KAFKA_SASL_PASSWORD": wrong,
        "GATEWAY_PORT": str(SECURE_GATEWAY_PORT + 1),
    }
    result = refused_start("gateway", env)
    assert result.returncode != 0
    assert "refused the credentials of gateway (SCRAM-SHA-512)" in result.stderr
    assert wrong not in result.stderr + result.stdout


def test_an_untrusted_broker_certificate_stops_the_worker_at_start_saying_why(
    secured_kafka: SecuredKafka, kafka_certificates: Certificates
) -> None:
    env = secured_kafka.env("worker") | {"KAFKA_SSL_CA_FILE": str(kafka_certificates.foreign_ca)}
    result = refused_start("worker", env)
    assert result.returncode != 0
    assert "the broker's TLS certificate is not trusted" in result.stderr
    assert "KAFKA_SSL_CA_FILE" in result.stderr
