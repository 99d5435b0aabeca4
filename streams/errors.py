"""Errors of the stream worker, and which of them are worth retrying.

    ProcessingError
    ├── RetryableError            transient: retried with backoff, then dead-lettered
    │   ├── LlmUnavailableError   LLM timeout, quota, network
    │   └── DependencyUnavailableError   vector store or broker unreachable
    └── PermanentError            retrying cannot help: dead-lettered at once
        ├── InvalidEventError     undecodable or invalid event bytes
        └── ContentRefusedError   content the system will not process

Anything else raised while processing counts as retryable: an unknown failure gets the
benefit of the doubt before it is dead-lettered.
"""

from __future__ import annotations


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


def is_retryable(error: BaseException) -> bool:
    return error.retryable if isinstance(error, ProcessingError) else True
