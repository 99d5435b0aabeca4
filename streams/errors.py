"""Errors of the stream worker, and which of them are worth retrying.

    ProcessingError
    ├── RetryableError            transient: retried with backoff, then dead-lettered
    │   ├── LlmUnavailableError   LLM timeout, quota, network
    │   └── DependencyUnavailableError   vector store or broker unreachable
    └── PermanentError            retrying cannot help: dead-lettered at once
        ├── InvalidEventError     undecodable or invalid event bytes
        ├── ContentRefusedError   content the system will not process
        └── ConversationOwnershipError   the conversation belongs to another principal

Kafka's refusals of a record itself are permanent too: a record over the broker's
message size (``MessageSizeTooLargeError``, ``RecordListTooLargeError``,
``RecordTooLargeError``), a topic the client may not write (``TopicAuthorizationFailedError``)
or a record the broker will not take (``InvalidTopicError``, ``CorruptRecordException``,
``PolicyViolationError``). Any other Kafka error (broker unreachable, leader moving, a
delivery timeout) is retryable.

Anything else raised while processing counts as retryable: an unknown failure gets the
benefit of the doubt before it is dead-lettered.
"""

from __future__ import annotations

from aiokafka import errors as kafka_errors

KAFKA_REFUSALS: tuple[type[Exception], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.TopicAuthorizationFailedError,
    kafka_errors.InvalidTopicError,
    kafka_errors.CorruptRecordException,
    kafka_errors.PolicyViolationError,
)


class ProcessingError(Exception):
    retryable: bool = True


class RetryableError(ProcessingError):
    retryable = True


class LlmUnavailableError(RetryableError):
    pass


class DependencyUnavailableError(RetryableError):
    pass


class PermanentError(ProcessingError):
    retryable = False


class InvalidEventError(PermanentError):
    pass


class ContentRefusedError(PermanentError):
    pass


class ConversationOwnershipError(PermanentError):
    """A request whose principal is not the conversation's owner; the gateway answers
    its caller 404 ``conversation_not_found`` (matched on this class's name)."""


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, ProcessingError):
        return error.retryable
    return not isinstance(error, KAFKA_REFUSALS)
