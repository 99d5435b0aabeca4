from __future__ import annotations

import re

import pytest
from aiokafka import errors as kafka_errors
from redis.exceptions import ConnectionError as RedisConnectionError

from runtime import errors
from runtime.errors import (
    KAFKA_REFUSALS,
    BrokerUnavailableError,
    CircuitOpenError,
    ConfigurationError,
    ContentRefusedError,
    ConversationNotOwnedError,
    DependencyUnavailableError,
    EventDecodeError,
    HelpdeskPermanentError,
    InvalidEventError,
    KafkaSetupError,
    NotAppliedError,
    PermanentError,
    RateLimitedError,
    RetryableError,
    TechGearError,
    is_retryable,
)


@pytest.mark.parametrize(
    "error",
    [
        DependencyUnavailableError("chroma down"),
        BrokerUnavailableError("kafka down"),
        CircuitOpenError("llm failing"),
        NotAppliedError("429", retry_after=3.0),
    ],
    ids=type,
)
def test_a_retryable_branch_is_retried(error: TechGearError) -> None:
    assert isinstance(error, RetryableError) and is_retryable(error)


@pytest.mark.parametrize(
    "error",
    [
        EventDecodeError("not JSON"),
        ContentRefusedError("refused"),
        ConversationNotOwnedError("another owner"),
        RateLimitedError("hourly share used"),
        KafkaSetupError("wrong password"),
    ],
    ids=type,
)
def test_permanent_and_configuration_branches_are_not_retried(error: TechGearError) -> None:
    assert isinstance(error, PermanentError | ConfigurationError) and not is_retryable(error)


def test_a_decode_failure_is_an_invalid_event() -> None:
    assert issubclass(EventDecodeError, InvalidEventError)


def test_a_helpdesk_refusal_names_its_dead_letter_reason() -> None:
    assert (HelpdeskPermanentError.reason, RateLimitedError.reason) == ("refused", "rate_limited")


@pytest.mark.parametrize("refusal", KAFKA_REFUSALS, ids=lambda cls: cls.__name__)
def test_kafkas_refusal_of_a_record_is_permanent(refusal: type[Exception]) -> None:
    assert not is_retryable(refusal())


@pytest.mark.parametrize(
    "error",
    [
        kafka_errors.KafkaConnectionError(),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.NotLeaderForPartitionError(),
        RedisConnectionError("Redis is down"),
        RuntimeError("never seen before"),
    ],
    ids=type,
)
def test_other_kafka_redis_and_unknown_failures_are_retryable(error: Exception) -> None:
    assert is_retryable(error)


def test_every_error_of_the_tree_is_drawn_in_its_docstring() -> None:
    drawing = (errors.__doc__ or "").split("Where each branch is caught")[0]
    drawn = set(re.findall(r"\w+Error\b", drawing))
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, TechGearError)
    ]
    assert {cls.__name__ for cls in classes} == drawn
