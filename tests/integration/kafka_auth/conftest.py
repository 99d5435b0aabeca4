"""The secured broker of the ``kafka_auth`` tests, started once per session: SASL_SSL
with SCRAM users ``admin`` (the broker's super user), ``gateway``, ``worker``, ``helpdesk``
and ``ops`` with random passwords, a mutual-TLS listener, the ACLs of
``techgear.kafka_access`` and the system's topics, created by ``ops``."""

from __future__ import annotations

import os
import secrets
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runtime.kafka import KafkaConnection, KafkaSettings
from runtime.topics import ensure_topics
from schemas.topics import ANSWER_DELTAS, ANSWERS, DEADLETTER
from techgear.kafka_access import ACCESS, Grant, Operation, Resource, apply_access
from techgear.services import BrokerTls, LocalSecureKafka, ServicesSettings
from tests.certificates import Certificates, issue_certificates
from tests.conftest import STATE_DIR, run_on_own_loop

SECURE_KAFKA_PORT = int(os.environ.get("TEST_SECURE_KAFKA_PORT", "19094"))
"""SASL_SSL; the mutual-TLS listener and the controller take the next two ports."""
USERS = ("admin", "gateway", "worker", "helpdesk", "ops")
CERTIFICATE_PRINCIPAL = "techgear-test-client"
"""The common name of ``tests.certificates``' client certificate: its principal."""
CERTIFICATE_GRANTS = tuple(
    Grant(
        CERTIFICATE_PRINCIPAL,
        Resource.TOPIC,
        topic,
        frozenset({Operation.READ, Operation.DESCRIBE}),
    )
    for topic in (ANSWERS, ANSWER_DELTAS, DEADLETTER)
)
"""The certificate's principal reads what the gateway reads (so the grant joins the
gateway's AclCommand run instead of costing one of its own)."""


@dataclass(frozen=True, slots=True)
class SecuredKafka:
    """How to reach the secured broker, and as whom."""

    bootstrap: str
    """The SASL_SSL listener."""
    mtls_bootstrap: str
    """The listener that requires a client certificate."""
    ca: Path
    client_cert: Path
    client_key: Path
    passwords: Mapping[str, str]
    """User name -> SCRAM password."""

    def env(self, user: str) -> dict[str, str]:
        """The Kafka settings of a process running as ``user`` (the settings contract)."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "KAFKA_SASL_USERNAME": user,
            "KAFKA_SASL_PASSWORD": self.passwords[user],
            "KAFKA_SSL_CA_FILE": str(self.ca),
            "KAFKA_CREATE_TOPICS": "false",
        }

    def connection(self, user: str, *, password: str | None = None) -> KafkaConnection:
        """The system's own client factory, as ``user`` over SASL_SSL."""
        env = self.env(user) | ({} if password is None else {"KAFKA_SASL_PASSWORD": password})
        return KafkaSettings(
            _env_file=None,  # type: ignore[call-arg]
            **{name.lower(): value for name, value in env.items()},
        ).kafka

    def sasl_options(
        self, user: str, mechanism: str = "SCRAM-SHA-512", *, password: str | None = None
    ) -> dict[str, Any]:
        """aiokafka client keyword arguments for ``user`` over SASL_SSL."""
        return {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": "SASL_SSL",
            "ssl_context": ssl.create_default_context(cafile=self.ca),
            "sasl_mechanism": mechanism,
            "sasl_plain_username": user,
            "sasl_plain_password": self.passwords[user] if password is None else password,
        }

    def mtls_options(self, *, with_certificate: bool = True) -> dict[str, Any]:
        """aiokafka client keyword arguments for the mutual-TLS listener."""
        context = ssl.create_default_context(cafile=self.ca)
        if with_certificate:
            context.load_cert_chain(self.client_cert, self.client_key)
        return {
            "bootstrap_servers": self.mtls_bootstrap,
            "security_protocol": "SSL",
            "ssl_context": context,
        }


@pytest.fixture(scope="session")
def kafka_certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return issue_certificates(tmp_path_factory.mktemp("kafka-tls"))


@pytest.fixture(scope="session")
def secured_kafka(kafka_certificates: Certificates) -> Iterator[SecuredKafka]:
    settings = ServicesSettings(
        _env_file=None,  # type: ignore[call-arg]
        techgear_state_dir=STATE_DIR,  # the broker's own folder in it: kafka-secure
        service_start_timeout_s=300,  # a bound, not a pause (see services_settings)
    )
    tls = BrokerTls(
        kafka_certificates.ca, kafka_certificates.server_cert, kafka_certificates.server_key
    )
    passwords = {user: secrets.token_urlsafe(24) for user in USERS}
    broker = LocalSecureKafka(settings, tls, passwords, SECURE_KAFKA_PORT)
    handle = broker.start()
    try:
        apply_access(broker, ACCESS + CERTIFICATE_GRANTS)
        cluster = SecuredKafka(
            bootstrap=broker.address,
            mtls_bootstrap=broker.mtls_address,
            ca=kafka_certificates.ca,
            client_cert=kafka_certificates.client_cert,
            client_key=kafka_certificates.client_key,
            passwords=passwords,
        )
        run_on_own_loop(ensure_topics(cluster.connection("ops")))
        yield cluster
    finally:
        if handle.started:
            broker.stop()
