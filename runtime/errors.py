"""Every error of the system, whether retrying can help, and where each is caught::

    TechGearError
    ├── RetryableError (retryable)     a later try can succeed
    │   ├── DependencyUnavailableError   Kafka, Redis or the vector store (ChromaDB)
    │   │   │                            unreachable or failing; the store wraps ChromaDB's
    │   │   │                            errors into it where they happen
    │   │   └── BrokerUnavailableError   gateway: Kafka did not take the request -> 503
    │   ├── LlmUnavailableError          worker: LLM timeout, quota, network
    │   │   └── CircuitOpenError         the LLM failed repeatedly a moment ago; not called
    │   └── HelpdeskTransientError       helpdesk bridge: 5xx, a broken connection or
    │       │                            timeout, a reply not shaped as documented; the
    │       │                            request may have taken effect: look before writing
    │       └── NotAppliedError          429, or no connection made: it certainly did not
    ├── PermanentError (not retryable)  retrying cannot help
    │   ├── InvalidEventError            worker: undecodable or invalid event bytes
    │   │   └── EventDecodeError         codec: not JSON, or not the expected event
    │   ├── ContentRefusedError          worker: content the system will not process
    │   ├── ConversationOwnershipError   worker: the conversation belongs to another
    │   │                                principal (the gateway reads this name in a letter)
    │   ├── ProcessingFailedError        gateway: the worker dead-lettered the request -> 500
    │   │   └── ConversationNotOwnedError  ... refusing its conversation -> 404
    │   ├── ConversationNotFoundError    gateway: not the caller's conversation -> 404
    │   ├── AnswerNotFoundError          gateway: no answer of the caller's to rate -> 404
    │   ├── ConversationClosedError      gateway: the conversation was closed -> 409
    │   ├── TokenError                   gateway: a JWT missing, malformed, expired or
    │   │                                wrongly signed -> 401
    │   └── HelpdeskPermanentError       helpdesk bridge, each with its dead letter's reason:
    │       ├── RefusedError             "refused": a 4xx other than 429
    │       ├── InvalidTicketIdError     "invalid_ticket_id": never put into a URL
    │       ├── ForeignUrlError          "foreign_url": a next page on another origin
    │       └── RateLimitedError         "rate_limited": the principal's hourly tickets
    └── ConfigurationError (not retried) the process cannot run as configured
        ├── KafkaSetupError              Kafka unreachable, untrusted, or refusing our
        │                                credentials at start
        ├── ChromaSetupError             the Chroma server unreachable, or refusing
        │                                CHROMA_AUTH_TOKEN, at a worker's start
        ├── KeyConfigError               gateway: a malformed API_KEY_DIGESTS entry
        ├── EmbeddingModelMismatchError  worker: the collection was built by another model
        └── PartitionsMismatchError      worker: support.requests and the conversation
                                         memory's changelog have different partition counts

Where each branch is caught:

- The stream worker's handler (``streams/handler.py``) retries a :class:`RetryableError`
  with exponential backoff, then dead-letters it; a :class:`PermanentError` is
  dead-lettered at once. :func:`is_retryable` decides, and is recorded in the letter.
- The gateway (``gateway/routes.py``, ``gateway/websocket.py``, ``gateway/auth.py``) maps
  its errors to the status shown above; it does not retry.
- The helpdesk bridge (``helpdesk/bridge.py``) retries a :class:`HelpdeskTransientError`
  (and Redis errors, Kafka connection errors and timeouts) after a backoff, dead-letters
  a :class:`HelpdeskPermanentError` with its ``reason``, and stops, uncommitted, on
  anything else.
- A :class:`ConfigurationError` stops a process at start; the ``techgear`` command prints
  its message as one line.

Errors of other libraries are classified by :func:`is_retryable` too: Kafka's refusals of
a record itself (:data:`KAFKA_REFUSALS`) are permanent; any other Kafka error (broker
unreachable, leader moving, a delivery timeout) and any Redis error are retryable.
Anything else unknown counts as retryable as well: an unknown failure gets the benefit
of the doubt before it is dead-lettered.
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
"""Kafka's refusals of a record: over the broker's message size, a topic the client may
not write, or a record the broker will not take. Sending it again cannot help."""


class TechGearError(Exception):
    retryable: bool = True


class RetryableError(TechGearError):
    retryable = True


class DependencyUnavailableError(RetryableError):
    pass


class BrokerUnavailableError(DependencyUnavailableError):
    """Kafka did not accept the request; the caller may retry later."""


class LlmUnavailableError(RetryableError):
    pass


class CircuitOpenError(LlmUnavailableError):
    """The LLM failed repeatedly a moment ago; it is not being called for now."""


class HelpdeskTransientError(RetryableError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds the helpdesk asked to wait (``Retry-After``), if it did."""


class NotAppliedError(HelpdeskTransientError):
    pass


class PermanentError(TechGearError):
    retryable = False


class InvalidEventError(PermanentError):
    pass


class EventDecodeError(InvalidEventError):
    """The bytes are not valid JSON, or not a valid event of the expected type."""


class ContentRefusedError(PermanentError):
    pass


class ConversationOwnershipError(PermanentError):
    """A request whose principal is not the conversation's owner; the gateway answers
    its caller 404 ``conversation_not_found`` (matched on this class's name)."""


class ProcessingFailedError(PermanentError):
    """The worker dead-lettered the request; it is kept for an operator to replay."""


class ConversationNotOwnedError(ProcessingFailedError):
    """The worker refused the request: its conversation belongs to another principal."""


class ConversationNotFoundError(PermanentError):
    """Not this caller's conversation (or no conversation at all)."""


class AnswerNotFoundError(PermanentError):
    """No answer of the caller's to rate: unknown, not (yet) rateable, or another's."""


class ConversationClosedError(PermanentError):
    """The conversation was closed: nobody may write into it any more."""


class TokenError(PermanentError):
    """The token is missing, malformed, expired, tampered with or wrongly signed."""


class HelpdeskPermanentError(PermanentError):
    reason = "refused"
    """The dead letter's ``reason``."""


class RefusedError(HelpdeskPermanentError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class InvalidTicketIdError(HelpdeskPermanentError):
    reason = "invalid_ticket_id"


class ForeignUrlError(HelpdeskPermanentError):
    reason = "foreign_url"


class RateLimitedError(HelpdeskPermanentError):
    reason = "rate_limited"


class ConfigurationError(TechGearError):
    retryable = False


class KafkaSetupError(ConfigurationError):
    """Kafka cannot be used as configured (unreachable, untrusted, or refusing our
    credentials); the message says which, for an operator to fix."""


class ChromaSetupError(ConfigurationError):
    """The workers' Chroma server cannot be used as configured (unreachable, or its proxy
    refusing ``CHROMA_AUTH_TOKEN``); the message says which."""


class KeyConfigError(ConfigurationError):
    pass


class EmbeddingModelMismatchError(ConfigurationError):
    """The collection was built with another embedding model than the one querying it."""


class PartitionsMismatchError(ConfigurationError):
    """Topics that must be co-partitioned are not: someone added partitions to one of them,
    which moved keys, and so conversations, away from their memory."""


def is_retryable(error: BaseException) -> bool:
    if isinstance(error, TechGearError):
        return error.retryable
    return not isinstance(error, KAFKA_REFUSALS)
