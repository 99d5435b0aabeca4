"""The secured broker admits only authenticated clients, and each service's principal only
to what the ACL table grants it. Plain aiokafka clients here; a refusal must come at once
(the ``wait_for`` bounds guard against a hang, they time nothing)."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAuthorizationFailedError

from schemas.topics import ANSWERS, REQUESTS
from techgear.services import SCRAM_MECHANISMS
from tests.certificates import Certificates
from tests.integration.kafka_auth.conftest import SecuredKafka

pytestmark = [pytest.mark.integration, pytest.mark.kafka_auth]

_GUARD_S = 20


async def _produce(options: dict[str, Any], topic: str, value: bytes) -> tuple[int, int]:
    """Send ``value`` to ``topic``; its (partition, offset)."""
    producer = AIOKafkaProducer(**options)
    await producer.start()
    try:
        metadata = await asyncio.wait_for(producer.send_and_wait(topic, value), _GUARD_S)
    finally:
        await producer.stop()
    return metadata.partition, metadata.offset


async def _read_at(options: dict[str, Any], topic: str, partition: int, offset: int) -> bytes:
    """The value of one record, read without a consumer group."""
    consumer = AIOKafkaConsumer(**options, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        position = TopicPartition(topic, partition)
        consumer.assign([position])
        consumer.seek(position, offset)
        record = await asyncio.wait_for(consumer.getone(), _GUARD_S)
    finally:
        await consumer.stop()
    return record.value or b""


async def _start_and_stop_producer(options: dict[str, Any]) -> None:
    producer = AIOKafkaProducer(**options)
    try:
        await asyncio.wait_for(producer.start(), _GUARD_S)
    finally:
        await producer.stop()


@pytest.mark.parametrize("mechanism", SCRAM_MECHANISMS)
async def test_gateway_publishes_a_question_the_worker_reads_over_sasl_ssl(
    secured_kafka: SecuredKafka, mechanism: str
) -> None:
    question = uuid.uuid4().bytes

    partition, offset = await _produce(
        secured_kafka.sasl_options("gateway", mechanism), REQUESTS, question
    )
    read = await _read_at(
        secured_kafka.sasl_options("worker", mechanism), REQUESTS, partition, offset
    )

    assert read == question


async def test_mtls_listener_admits_the_client_certificate_as_its_principal(
    secured_kafka: SecuredKafka,
) -> None:
    answer = uuid.uuid4().bytes
    partition, offset = await _produce(secured_kafka.sasl_options("worker"), ANSWERS, answer)

    # Only the certificate's common name is granted support.answers.
    read = await _read_at(secured_kafka.mtls_options(), ANSWERS, partition, offset)

    assert read == answer


async def test_mtls_listener_refuses_a_client_without_a_certificate(
    secured_kafka: SecuredKafka,
) -> None:
    with pytest.raises(KafkaConnectionError):
        await _start_and_stop_producer(secured_kafka.mtls_options(with_certificate=False))


async def test_gateway_may_not_read_questions(secured_kafka: SecuredKafka) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _read_at(secured_kafka.sasl_options("gateway"), REQUESTS, 0, 0)


@pytest.mark.parametrize(("user", "topic"), [("gateway", ANSWERS), ("helpdesk", REQUESTS)])
async def test_service_may_not_write_a_topic_it_does_not_own(
    secured_kafka: SecuredKafka, user: str, topic: str
) -> None:
    with pytest.raises(TopicAuthorizationFailedError):
        await _produce(secured_kafka.sasl_options(user), topic, b"not yours")


async def test_ops_creates_topics(secured_kafka: SecuredKafka) -> None:
    name = f"support.acl-check-{uuid.uuid4().hex}"
    admin = AIOKafkaAdminClient(**secured_kafka.sasl_options("ops"))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
        topics = await admin.list_topics()
    finally:
        await admin.close()

    assert name in topics and REQUESTS in topics


async def test_wrong_password_fails_at_start_with_an_authentication_error(
    secured_kafka: SecuredKafka, caplog: pytest.LogCaptureFixture
) -> None:
    options = secured_kafka.sasl_options("gateway", password="not-the-password")

    with pytest.raises(KafkaConnectionError):
        await _start_and_stop_producer(options)

    assert "Authentication failed" in caplog.text


async def test_broker_certificate_from_an_untrusted_ca_fails_verification(
    secured_kafka: SecuredKafka,
    kafka_certificates: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    options = secured_kafka.sasl_options("gateway")
    options["ssl_context"] = ssl.create_default_context(cafile=kafka_certificates.foreign_ca)

    with pytest.raises(KafkaConnectionError):
        await _start_and_stop_producer(options)

    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
