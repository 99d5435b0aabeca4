"""What can go wrong between the bridge and a helpdesk, and what the bridge does about it::

    HelpdeskError
    ├── PermanentError          retrying cannot help: the escalation goes to the dead letters
    │   │                       with the error's ``reason``
    │   ├── RefusedError        the helpdesk refused the request as invalid (4xx other than
    │   │                       429)
    │   ├── InvalidTicketIdError a ticket id (from Redis or a helpdesk reply) that is not a
    │   │                       positive integer: never put into a URL
    │   ├── ForeignUrlError     a listing's next page on another origin than the helpdesk's:
    │   │                       never sent the helpdesk's credentials
    │   └── RateLimitedError    the escalation's principal opened its hourly share of tickets
    └── TransientError          5xx, a broken connection or timeout, a reply not shaped as the
        │                       API documents: the request may or may not have taken effect;
        │                       retry after a backoff, looking at the helpdesk before writing
        │                       again
        └── NotAppliedError     429, or no connection made: the helpdesk certainly did not act
                                on the request; retry after a backoff

Redis errors, and Kafka's connection errors and timeouts while dead-lettering, are retried
as transient too.
"""

from __future__ import annotations


class HelpdeskError(Exception):
    pass


class PermanentError(HelpdeskError):
    reason = "refused"
    """The dead letter's ``reason``."""


class RefusedError(PermanentError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class InvalidTicketIdError(PermanentError):
    reason = "invalid_ticket_id"


class ForeignUrlError(PermanentError):
    reason = "foreign_url"


class RateLimitedError(PermanentError):
    reason = "rate_limited"


class TransientError(HelpdeskError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds the helpdesk asked to wait (``Retry-After``), if it did."""


class NotAppliedError(TransientError):
    pass
