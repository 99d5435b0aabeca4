"""How every process reaches Kafka: connection settings, security, and the one client factory.

``KafkaSettings`` reads the ``KAFKA_*`` variables; :class:`KafkaConnection` turns them into
aiokafka clients (and Faust's broker options) with the same security everywhere, and the
one producer configuration of the system: ``acks=all`` and idempotent, so a retried send
is never written twice and a send reported done is on every in-sync replica.

Security protocols: ``PLAINTEXT``, ``SSL`` (optionally with a client certificate: mutual
TLS), ``SASL_PLAINTEXT`` and ``SASL_SSL`` with ``PLAIN``, ``SCRAM-SHA-256``,
``SCRAM-SHA-512`` or ``OAUTHBEARER`` (a token provider named by import path, for MSK IAM or
Confluent Cloud OAuth). Certificates are verified against ``KAFKA_SSL_CA_FILE`` (or the
system's CAs) and the broker's host name is checked unless switched off.
"""

from __future__ import annotations

import asyncio
import importlib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError, SaslAuthenticationFailed, UnsupportedSaslMechanismError
from aiokafka.helpers import create_ssl_context
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from runtime.errors import KafkaSetupError

PRODUCER_DELIVERY: dict[str, Any] = {"acks": "all", "enable_idempotence": True}
"""How every producer of the system delivers: on all in-sync replicas, never twice."""

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]


class KafkaSettings(BaseSettings):
    """The ``KAFKA_*`` settings every process shares."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", env_ignore_empty=True)

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    """Comma-separated ``host:port`` of some brokers of the cluster."""
    kafka_replication_factor: int = Field(default=1, ge=1)
    """Replicas of each topic this system creates (3 on a production cluster)."""
    kafka_create_topics: bool = True
    """Create missing topics and align their retention at start. Off where the process's
    principal may not create topics: run ``techgear topics create`` with an operator's."""
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_sasl_oauth_token_provider: str | None = None
    """``package.module:factory``: a callable without arguments returning an aiokafka
    ``AbstractTokenProvider`` (``KAFKA_SASL_MECHANISM=OAUTHBEARER``)."""
    kafka_ssl_ca_file: Path | None = None
    """CA certificates (PEM) the brokers' certificates are checked against; unset: the
    system's CAs (managed services with public certificates need nothing here)."""
    kafka_ssl_cert_file: Path | None = None
    """Client certificate (PEM) for mutual TLS."""
    kafka_ssl_key_file: Path | None = None
    kafka_ssl_key_password: SecretStr | None = None
    kafka_ssl_check_hostname: bool = True
    """Check that a broker's certificate names the host connected to. Leave on."""

    @model_validator(mode="after")
    def _complete_security(self) -> KafkaSettings:
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL_"):
            if self.kafka_sasl_mechanism == "OAUTHBEARER":
                if not self.kafka_sasl_oauth_token_provider:
                    raise ValueError("OAUTHBEARER needs KAFKA_SASL_OAUTH_TOKEN_PROVIDER")
            elif not (self.kafka_sasl_username and self.kafka_sasl_password):
                raise ValueError(
                    f"{protocol} with {self.kafka_sasl_mechanism} needs KAFKA_SASL_USERNAME "
                    "and KAFKA_SASL_PASSWORD"
                )
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            raise ValueError("KAFKA_SSL_CERT_FILE and KAFKA_SSL_KEY_FILE go together")
        return self

    @property
    def kafka(self) -> KafkaConnection:
        return KafkaConnection(
            bootstrap_servers=self.kafka_bootstrap_servers,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=self.kafka_sasl_password,
            oauth_token_provider=self.kafka_sasl_oauth_token_provider,
            ssl_ca_file=self.kafka_ssl_ca_file,
            ssl_cert_file=self.kafka_ssl_cert_file,
            ssl_key_file=self.kafka_ssl_key_file,
            ssl_key_password=self.kafka_ssl_key_password,
            ssl_check_hostname=self.kafka_ssl_check_hostname,
        )


@dataclass(frozen=True, slots=True)
class KafkaConnection:
    """Where the cluster is and how to authenticate to it; builds every Kafka client."""

    bootstrap_servers: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    oauth_token_provider: str | None = None
    ssl_ca_file: Path | None = None
    ssl_cert_file: Path | None = None
    ssl_key_file: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_check_hostname: bool = True

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.uses_tls:
            return None
        context: ssl.SSLContext = create_ssl_context(
            cafile=str(self.ssl_ca_file) if self.ssl_ca_file else None,
            certfile=str(self.ssl_cert_file) if self.ssl_cert_file else None,
            keyfile=str(self.ssl_key_file) if self.ssl_key_file else None,
            password=self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
        )
        context.check_hostname = self.ssl_check_hostname
        return context

    def token_provider(self) -> AbstractTokenProvider:
        if not self.oauth_token_provider:
            raise KafkaSetupError("OAUTHBEARER needs KAFKA_SASL_OAUTH_TOKEN_PROVIDER")
        module_name, _, attribute = self.oauth_token_provider.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError, ValueError) as exc:
            raise KafkaSetupError(
                f"KAFKA_SASL_OAUTH_TOKEN_PROVIDER={self.oauth_token_provider!r} cannot be "
                f"imported: {exc}"
            ) from exc
        provider = factory()
        if not isinstance(provider, AbstractTokenProvider):
            raise KafkaSetupError(
                f"{self.oauth_token_provider} returned {type(provider).__name__}, "
                "not an aiokafka AbstractTokenProvider"
            )
        return provider

    def client_options(self) -> dict[str, Any]:
        """The keyword arguments every aiokafka client takes to reach the cluster."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
            "ssl_context": self.ssl_context(),
        }
        if self.uses_sasl:
            options["sasl_mechanism"] = self.sasl_mechanism
            if self.sasl_mechanism == "OAUTHBEARER":
                options["sasl_oauth_token_provider"] = self.token_provider()
            else:
                options["sasl_plain_username"] = self.sasl_username
                options["sasl_plain_password"] = (
                    self.sasl_password.get_secret_value() if self.sasl_password else None
                )
        return options

    def producer(self, **options: Any) -> AIOKafkaProducer:
        """The system's producer: every replica acknowledges, retries never duplicate."""
        return AIOKafkaProducer(**self.client_options(), **PRODUCER_DELIVERY, **options)

    def consumer(self, *topics: str, **options: Any) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(*topics, **self.client_options(), **options)

    def admin(self, **options: Any) -> AIOKafkaAdminClient:
        return AIOKafkaAdminClient(**self.client_options(), **options)

    def faust_options(self) -> dict[str, Any]:
        """Faust's ``broker`` and ``broker_credentials`` for the same cluster and security."""
        brokers = ";".join(f"kafka://{host}" for host in self.bootstrap_servers.split(","))
        return {"broker": brokers, "broker_credentials": self._faust_credentials()}

    def _faust_credentials(self) -> faust.auth.Credentials | None:
        context = self.ssl_context()
        if not self.uses_sasl:
            return faust.SSLCredentials(context) if context else None
        if self.sasl_mechanism == "OAUTHBEARER":
            return faust.OAuthCredentials(oauth_cb=self.token_provider(), ssl_context=context)
        return faust.SASLCredentials(
            username=self.sasl_username,
            password=self.sasl_password.get_secret_value() if self.sasl_password else None,
            ssl_context=context,
            mechanism=self.sasl_mechanism,
        )

    def describe(self) -> str:
        """Where and as whom, for messages: never the password."""
        who = f" as {self.sasl_username}" if self.uses_sasl and self.sasl_username else ""
        return f"{self.bootstrap_servers} ({self.security_protocol}{who})"


async def verify_connection(connection: KafkaConnection, timeout_s: float = 15.0) -> None:
    """Connect and authenticate to one bootstrap broker, or raise :class:`KafkaSetupError`
    saying why. aiokafka's own start-up only reports "unable to bootstrap" and its retries
    would hide a wrong password or an untrusted certificate: processes call this first."""
    options = connection.client_options()
    last: str = "no bootstrap server configured"
    for address in connection.bootstrap_servers.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            conn = await asyncio.wait_for(
                create_conn(
                    host,
                    int(port),
                    ssl_context=options["ssl_context"],
                    security_protocol=connection.security_protocol,
                    sasl_mechanism=options.get("sasl_mechanism", "PLAIN"),
                    sasl_plain_username=options.get("sasl_plain_username"),
                    sasl_plain_password=options.get("sasl_plain_password"),
                    sasl_oauth_token_provider=options.get("sasl_oauth_token_provider"),
                ),
                timeout_s,
            )
        except ssl.SSLCertVerificationError as exc:
            raise KafkaSetupError(
                f"Kafka at {address}: the broker's TLS certificate is not trusted "
                f"({exc.verify_message}); check KAFKA_SSL_CA_FILE"
            ) from exc
        except SaslAuthenticationFailed as exc:
            raise KafkaSetupError(
                f"Kafka at {address} refused the credentials of "
                f"{connection.sasl_username or 'the token provider'} "
                f"({connection.sasl_mechanism}): {_first_line(exc)}"
            ) from exc
        except UnsupportedSaslMechanismError as exc:
            raise KafkaSetupError(
                f"Kafka at {address} does not offer SASL {connection.sasl_mechanism}: "
                f"{_first_line(exc)}; check KAFKA_SASL_MECHANISM"
            ) from exc
        except ssl.SSLError as exc:
            raise KafkaSetupError(f"Kafka at {address}: TLS failed: {exc.reason}") from exc
        except (OSError, KafkaError, TimeoutError) as exc:
            last = f"{address}: {type(exc).__name__}: {_first_line(exc)}"
            continue
        conn.close()
        return
    raise KafkaSetupError(f"cannot reach Kafka at {connection.describe()}: {last}")


def _first_line(exc: BaseException) -> str:
    return (str(exc) or type(exc).__name__).splitlines()[0]
