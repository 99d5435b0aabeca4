from __future__ import annotations

from pathlib import Path

import faust
import pytest
from aiokafka.abc import AbstractTokenProvider
from pydantic import ValidationError

from runtime.kafka import KafkaConnection, KafkaSettings, KafkaSetupError, verify_connection
from tests.certificates import issue_certificates


class StaticToken(AbstractTokenProvider):
    async def token(self) -> str:
        return "a-token"


def static_token() -> StaticToken:
    return StaticToken()


def settings(**values: object) -> KafkaSettings:
    return KafkaSettings(_env_file=None, **values)  # type: ignore[call-arg]


def test_plaintext_is_the_default_and_needs_nothing_else() -> None:
    options = settings().kafka.client_options()
    assert options == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
        "ssl_context": None,
    }
    assert settings().kafka.faust_options() == {
        "broker": "kafka://127.0.0.1:9092",
        "broker_credentials": None,
    }


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SASL_SSL"])
def test_sasl_without_a_user_and_password_is_refused_at_start(protocol: str) -> None:
    with pytest.raises(ValidationError, match="needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD"):
        settings(kafka_security_protocol=protocol, kafka_sasl_username="gateway")


def test_oauthbearer_needs_a_token_provider() -> None:
    with pytest.raises(ValidationError, match="KAFKA_SASL_OAUTH_TOKEN_PROVIDER"):
        settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="OAUTHBEARER")


def test_a_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValidationError, match="go together"):
        settings(kafka_security_protocol="SSL", kafka_ssl_cert_file=Path("client.pem"))


def test_sasl_ssl_verifies_the_broker_against_the_ca_and_checks_its_name(tmp_path: Path) -> None:
    certificates = issue_certificates(tmp_path)
    connection = settings(
        kafka_bootstrap_servers="a:9093,b:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-256",
        kafka_sasl_username="worker",
        kafka_sasl_password="secret",
        kafka_ssl_ca_file=certificates.ca,
    ).kafka
    options = connection.client_options()
    assert options["sasl_mechanism"] == "SCRAM-SHA-256"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("worker", "secret")
    assert options["ssl_context"].check_hostname is True
    credentials = connection.faust_options()["broker_credentials"]
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.mechanism.value == "SCRAM-SHA-256"
    assert connection.faust_options()["broker"] == "kafka://a:9093;kafka://b:9093"
    assert "secret" not in connection.describe() and "worker" in connection.describe()


def test_mutual_tls_loads_the_client_certificate(tmp_path: Path) -> None:
    certificates = issue_certificates(tmp_path)
    connection = settings(
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=certificates.ca,
        kafka_ssl_cert_file=certificates.client_cert,
        kafka_ssl_key_file=certificates.client_key,
        kafka_ssl_check_hostname=False,
    ).kafka
    context = connection.client_options()["ssl_context"]
    assert context.check_hostname is False
    assert isinstance(connection.faust_options()["broker_credentials"], faust.SSLCredentials)


def test_oauthbearer_builds_the_named_token_provider() -> None:
    connection = settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_sasl_oauth_token_provider=f"{__name__}:static_token",
    ).kafka
    assert isinstance(connection.client_options()["sasl_oauth_token_provider"], StaticToken)
    credentials = connection.faust_options()["broker_credentials"]
    assert isinstance(credentials, faust.OAuthCredentials)


@pytest.mark.parametrize(
    ("provider", "message"),
    [("no.such.module:factory", "cannot be imported"), (f"{__name__}:settings", "not an aiokafka")],
)
def test_a_token_provider_that_cannot_be_used_is_a_setup_error(provider: str, message: str) -> None:
    connection = KafkaConnection(
        "127.0.0.1:9093",
        security_protocol="SASL_SSL",
        sasl_mechanism="OAUTHBEARER",
        oauth_token_provider=provider,
    )
    with pytest.raises(KafkaSetupError, match=message):
        connection.client_options()


async def test_an_unreachable_broker_is_a_setup_error_naming_where() -> None:
    with pytest.raises(
        KafkaSetupError, match=r"cannot reach Kafka at 127\.0\.0\.1:1 \(PLAINTEXT\)"
    ):
        await verify_connection(KafkaConnection("127.0.0.1:1"), timeout_s=5)
