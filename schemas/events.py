"""Versioned events exchanged over Kafka.

Every event carries ``schema_version``, ``request_id``, ``conversation_id`` and a UTC
timestamp. Readers ignore unknown fields so producers can add fields without breaking
older consumers; a field is never removed or re-typed without a new major version.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = "1.0"
MAX_MESSAGE_CHARS = 4000


def _require_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must carry a timezone")
    return value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_require_utc)]
LanguageTag = Annotated[
    str,
    Field(
        max_length=35,
        pattern=r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$",
        description="BCP 47 language tag: en, hi, hi-Latn (romanized Hindi), mr, es, ...",
    ),
]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class Event(BaseModel):
    """Common envelope fields of every event."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    schema_version: str = SCHEMA_VERSION
    request_id: str = Field(min_length=1, max_length=128)
    conversation_id: str = Field(min_length=1, max_length=128)
    correlation_id: str = Field(min_length=1, max_length=128)


class Customer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str | None = Field(default=None, max_length=128)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=32)


class Source(BaseModel):
    """A knowledge-base document an answer was grounded on."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    doc_id: str
    title: str
    score: float = Field(ge=-1.0, le=1.0)


class Category(enum.StrEnum):
    PRODUCT_INFO = "product_info"
    ORDER_STATUS = "order_status"
    SHIPPING_DELIVERY = "shipping_delivery"
    RETURNS_REFUNDS = "returns_refunds"
    WARRANTY = "warranty"
    TECHNICAL_SUPPORT = "technical_support"
    BILLING_PAYMENT = "billing_payment"
    ACCOUNT = "account"
    GENERAL_INFO = "general_info"
    COMPLAINT = "complaint"
    HUMAN_AGENT = "human_agent"
    GREETING = "greeting"
    OUT_OF_SCOPE = "out_of_scope"


class EscalationReason(enum.StrEnum):
    HUMAN_REQUESTED = "human_requested"
    COMPLAINT = "complaint"
    NO_RELEVANT_KNOWLEDGE = "no_relevant_knowledge"
    LOW_CONFIDENCE = "low_confidence"
    LLM_UNAVAILABLE = "llm_unavailable"
    POLICY_EXCEPTION = "policy_exception"


class ChatRequest(Event):
    """A customer's question, published by the gateway on ``support.requests``.

    ``principal`` names the authenticated caller that owns the conversation (``key:<key
    id>`` or ``user:<subject>``; never a secret). ``customer`` is what the caller asserted
    about the person; ``customer_verified`` is true only when the credential itself
    carried it (JWT claims), never because a body said so.
    """

    event_type: Literal["chat.request"] = "chat.request"
    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    customer: Customer | None = None
    customer_verified: bool = False
    principal: str | None = Field(default=None, min_length=1, max_length=256)
    channel: Literal["chat", "api"] = "api"
    created_at: UtcDateTime = Field(default_factory=utc_now)


class HandoffState(enum.StrEnum):
    """Who answers a conversation: ``bot`` -> ``awaiting_agent`` (escalated) -> ``agent``
    (a person has replied) -> ``bot`` (handed back) or ``closed``."""

    BOT = "bot"
    AWAITING_AGENT = "awaiting_agent"
    AGENT = "agent"
    CLOSED = "closed"


class Author(BaseModel):
    """The person behind an agent's message or action, as a customer may see them."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(min_length=1, max_length=100)


class ChatAnswer(Event):
    """The reply to one ``ChatRequest``, published by the worker on ``support.answers``.

    While a person owns the conversation the bot does not answer: the reply then says the
    message was passed on (``forwarded``) and ``handoff_state`` is not ``bot``.

    A request that arrives again once answered (a caller's retry with the same
    ``X-Request-ID``, a redelivery) is not processed again: its answer is sent again,
    unchanged but for ``replayed: true``, with the same CloudEvents ``ce_id``. Consumers
    that count answers skip replayed ones."""

    event_type: Literal["chat.answer"] = "chat.answer"
    answer: str
    category: Category
    confidence: float = Field(ge=0.0, le=1.0)
    escalated: bool = False
    escalation_reason: EscalationReason | None = None
    sources: list[Source] = Field(default_factory=list)
    responder: str
    cached: bool = False
    """True when the answer came from the answer cache."""
    request_created_at: UtcDateTime
    answered_at: UtcDateTime = Field(default_factory=utc_now)
    forwarded: bool = False
    """The question went to the person who owns the conversation, not to the bot."""
    handoff_state: HandoffState = HandoffState.BOT
    """Who owns the conversation after this reply."""
    expected_response_by: UtcDateTime | None = None
    """When escalated or forwarded: by when a person is expected to reply (support hours)."""
    transcript_seq: int | None = Field(default=None, ge=1)
    """The reply's ``seq`` in the conversation's transcript (``support.conversation-events``)."""
    language: LanguageTag | None = None
    """The language the customer wrote in, when it was detected."""
    replayed: bool = False
    """This request's answer sent again because the request arrived again (see above)."""
    approved_answer_id: str | None = Field(default=None, max_length=128)
    """Set when an operator-approved answer was served (``ApprovedAnswer.approval_id``)."""


class ChatDelta(Event):
    """A piece of an answer as it is produced, on ``support.answer-deltas``.

    Deltas of one request carry ``seq`` 0, 1, 2, ...; their concatenation is the answer
    text. They are a courtesy to live chat (requests of channel ``chat``; API requests get
    none): the ``ChatAnswer`` that follows is the authority. A request processed again
    after a crash streams again from ``seq`` 0.
    """

    event_type: Literal["chat.delta"] = "chat.delta"
    seq: int = Field(ge=0)
    text: str


class Priority(enum.StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketType(enum.StrEnum):
    QUESTION = "question"
    INCIDENT = "incident"
    PROBLEM = "problem"
    TASK = "task"


class EscalationKind(enum.StrEnum):
    NEW = "new"
    """Opens a ticket."""
    FOLLOW_UP = "follow_up"
    """Adds to the ticket opened by ``ticket_event_id`` in the same conversation."""
    CUSTOMER_MESSAGE = "customer_message"
    """The customer wrote while a person owns the conversation: a public reply from the
    requester on the ticket opened by ``ticket_event_id`` (``summary`` is the text)."""


class TranscriptTurn(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    role: Literal["customer", "assistant"]
    text: str


class Escalation(Event):
    """A hand-over to a person, published on ``support.escalations`` for helpdesks.

    Shaped to map one to one onto a Zendesk or Freshdesk ticket: ``event_id`` is the
    helpdesk idempotency key (derived from ``request_id``, so a redelivered request keeps
    it), ``conversation_id`` the ticket's external id.
    """

    event_type: Literal["support.escalation"] = "support.escalation"
    event_id: str
    occurred_at: UtcDateTime = Field(default_factory=utc_now)
    kind: EscalationKind = EscalationKind.NEW
    ticket_event_id: str
    """The ``event_id`` of the escalation that opened the ticket (its own, when new)."""
    requester: Customer
    requester_verified: bool = False
    """False when the requester's details were asserted by the caller rather than carried
    by its credential: a helpdesk must not mail such an address unless configured to."""
    principal: str | None = Field(default=None, min_length=1, max_length=256)
    """The caller that owns the conversation, for per-caller limits; never a secret."""
    subject: str = Field(max_length=150)
    summary: str
    transcript: list[TranscriptTurn]
    category: Category
    confidence: float = Field(ge=0.0, le=1.0)
    reason: EscalationReason
    priority: Priority
    ticket_type: TicketType
    channel: Literal["chat", "api"]
    tags: list[str]
    sources: list[Source] = Field(default_factory=list)
    expected_response_by: UtcDateTime | None = None
    """By when a person is expected to reply, from the configured support hours."""
    language: LanguageTag = "en"
    """The language the customer wrote in, so a person who reads it can take the ticket."""


class AgentActionKind(enum.StrEnum):
    MESSAGE = "message"
    """A person's message to the customer; the person takes the conversation."""
    HANDBACK = "handback"
    """The person gives the conversation back to the bot."""
    CLOSE = "close"
    """The conversation is over (the ticket was closed)."""
    REMIND = "remind"
    """Nobody has replied in time: tell the customer, once per wait."""


class AgentAction(Event):
    """What a person (or the helpdesk on their behalf) does to a conversation, published
    by the gateway on ``support.requests`` keyed by conversation, so the worker sees it in
    order with the customer's messages.

    ``action_id`` is the idempotency key: a helpdesk's comment id (``zendesk:comment:123``)
    or the agent API's request id; the same id is applied once however often it is
    delivered. ``principal`` is the credential that sent it (``key:…``, ``user:…`` or
    ``webhook:zendesk``); never a secret."""

    event_type: Literal["agent.action"] = "agent.action"
    action_id: str = Field(min_length=1, max_length=160)
    action: AgentActionKind
    text: str | None = Field(default=None, min_length=1, max_length=MAX_MESSAGE_CHARS)
    author: Author | None = None
    source: Literal["api", "zendesk", "freshdesk", "system"] = "api"
    principal: str | None = Field(default=None, min_length=1, max_length=256)
    occurred_at: UtcDateTime = Field(default_factory=utc_now)


class AnswerFacts(BaseModel):
    """What the bot's answer rested on, carried by its transcript message: what a rating of
    the answer refers to (``Feedback``) and what outcomes are counted by."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    category: Category
    confidence: float = Field(ge=0.0, le=1.0)
    responder: str = Field(max_length=64)
    sources: list[Source] = Field(default_factory=list)
    escalation_reason: EscalationReason | None = None
    cached: bool = False
    approved_answer_id: str | None = Field(default=None, max_length=128)
    """Set when an operator-approved answer was served (``techgear answers``)."""


class TranscriptRole(enum.StrEnum):
    CUSTOMER = "customer"
    ASSISTANT = "assistant"
    AGENT = "agent"
    SYSTEM = "system"
    """A notice of the service itself (a reminder that a person is still awaited)."""


class ConversationMessage(Event):
    """One message of a conversation's transcript, on ``support.conversation-events``
    keyed by conversation; published by the worker, the transcript's only writer.

    ``seq`` numbers a conversation's events (messages and handoff changes) 1, 2, 3, …
    without gaps: a reader that has ``seq`` N asks for what comes after N. An event
    published again after a worker crash keeps its ``seq``; readers keep the first."""

    event_type: Literal["conversation.message"] = "conversation.message"
    seq: int = Field(ge=1)
    message_id: str = Field(min_length=1, max_length=200)
    role: TranscriptRole
    text: str
    author: Author | None = None
    forwarded: bool = False
    """A customer's message passed on to the person who owns the conversation."""
    answer: AnswerFacts | None = None
    """Set on the bot's answers (role ``assistant``): what the answer rested on."""
    occurred_at: UtcDateTime = Field(default_factory=utc_now)


class HandoffChanged(Event):
    """The conversation changed owner, on ``support.conversation-events`` (see
    :class:`ConversationMessage` for ``seq``): who (``actor``), why (``reason``), when.

    ``reason`` is an ``EscalationReason`` value when the bot handed over, else
    ``agent_replied``, ``handback``, ``ticket_solved``, ``ticket_closed`` or
    ``closed``. ``notice`` is what the customer is told."""

    event_type: Literal["conversation.handoff"] = "conversation.handoff"
    seq: int = Field(ge=1)
    state: HandoffState
    previous_state: HandoffState
    actor: Literal["bot", "agent", "system"]
    actor_name: str | None = Field(default=None, max_length=100)
    reason: str = Field(min_length=1, max_length=64)
    notice: str
    ticket_event_id: str | None = None
    expected_response_by: UtcDateTime | None = None
    occurred_at: UtcDateTime = Field(default_factory=utc_now)


class FeedbackRating(enum.StrEnum):
    UP = "up"
    DOWN = "down"


class FeedbackReason(enum.StrEnum):
    """Why a customer rated an answer down (optional)."""

    WRONG = "wrong"
    OUTDATED = "outdated"
    DIDNT_ANSWER = "didnt_answer"
    OTHER = "other"


class Feedback(Event):
    """A customer's rating of one bot answer (``request_id``), published by the gateway on
    ``support.feedback`` keyed by conversation.

    One rating counts per answer: a customer who rates it again replaces the rating, and
    the replacement carries the next ``revision``; readers keep the highest revision of each
    ``request_id`` (a repeated identical rating publishes nothing). The event carries what
    the rating is about (the question, and the answer's ``AnswerFacts``), so its readers
    need no other topic."""

    event_type: Literal["support.feedback"] = "support.feedback"
    feedback_id: str = Field(min_length=1, max_length=128)
    """The rating event's id, derived from ``request_id`` and ``revision``: a rating
    published again keeps it, a replacement has its own."""
    revision: int = Field(ge=1)
    rating: FeedbackRating
    reason: FeedbackReason | None = None
    """Only with ``down``."""
    principal: str = Field(min_length=1, max_length=256)
    channel: Literal["chat", "api"]
    question: str = Field(max_length=MAX_MESSAGE_CHARS)
    """The customer's message the answer replied to ("" when no longer known)."""
    answer: AnswerFacts
    answered_at: UtcDateTime
    rated_at: UtcDateTime = Field(default_factory=utc_now)

    @model_validator(mode="after")
    def _reason_only_when_down(self) -> Feedback:
        if self.reason is not None and self.rating is not FeedbackRating.DOWN:
            raise ValueError("a reason is given only with a thumbs-down")
        return self


APPROVED_QUESTION_MAX_CHARS = 500
_ApprovedQuestion = Annotated[str, Field(min_length=1, max_length=APPROVED_QUESTION_MAX_CHARS)]


class CitedDocument(BaseModel):
    """A knowledge-base document an approved answer rests on, as it was when approved."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    doc_id: str = Field(min_length=1, max_length=200)
    title: str = Field(max_length=300)
    digest: str = Field(pattern=r"^[0-9a-f]{64}$")
    """The document's content digest at approval: SHA-256 over its sorted chunk ids (each
    a hash of a chunk's content), so any edit of the document changes it."""


class ApprovedAnswer(BaseModel):
    """An answer an operator approved for a group of questions, on
    ``support.approved-answers`` (compacted, keyed by ``approval_id``): workers serve it for
    questions similar enough to one of ``questions`` while every cited document still has
    the digest it had when approved. A revocation republishes the same ``approval_id``
    with ``revoked: true``; compaction keeps the latest of each."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: Literal["support.approved-answer"] = "support.approved-answer"
    schema_version: str = SCHEMA_VERSION
    event_id: str = Field(default_factory=new_id)
    """This record's own id: a revocation of the approval has another."""
    approval_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    questions: list[_ApprovedQuestion] = Field(min_length=1, max_length=50)
    """Example questions the answer answers."""
    answer: str = Field(min_length=1, max_length=2 * MAX_MESSAGE_CHARS)
    category: Category
    documents: list[CitedDocument] = Field(min_length=1, max_length=20)
    kb_version: int = Field(ge=0)
    """The knowledge-base version the documents were read at, for the record."""
    approved_by: str = Field(min_length=1, max_length=100)
    approved_at: UtcDateTime = Field(default_factory=utc_now)
    revoked: bool = False


DEAD_LETTER_MAX_VALUE_BYTES = 128 * 1024
"""Original bytes a dead letter carries at most (base64 makes them 4/3 larger): with the
rest of the letter it stays far below the broker's default 1 MiB message size."""
DEAD_LETTER_MAX_KEY_BYTES = 1024


class DeadLetter(BaseModel):
    """A message the worker could not process, with everything needed to replay it.

    ``request_id`` and ``conversation_id`` are ``"unknown"`` when the original bytes
    could not be decoded far enough to read them. A letter is bounded in size: when the
    original key or value was larger than it may carry, ``original_truncated`` is true,
    the ``*_b64`` fields hold a prefix only, and ``original_size``/``original_sha256``
    describe the whole value, so a replay re-reads it from ``source_topic`` at
    ``source_partition``/``source_offset`` while that topic still retains it.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: Literal["support.deadletter"] = "support.deadletter"
    schema_version: str = SCHEMA_VERSION
    dead_letter_id: str = Field(default_factory=new_id)
    request_id: str
    conversation_id: str
    correlation_id: str | None = None
    occurred_at: UtcDateTime = Field(default_factory=utc_now)
    source_topic: str
    source_partition: int
    source_offset: int
    original_key_b64: str | None
    original_value_b64: str
    original_size: int | None = Field(default=None, ge=0)
    original_sha256: str | None = None
    original_truncated: bool = False
    error_class: str
    error_message: str
    retryable: bool
    attempts: int = Field(ge=1)


class DeadLetterReplay(BaseModel):
    """One replay of a dead letter, on ``support.deadletter-replays`` keyed by
    ``dead_letter_id``: the log every operator's ``techgear dlq replay`` reads so that a
    letter is not replayed twice by accident. ``original_sha256`` is the hash of the bytes
    republished; ``from_source_record`` tells they were re-read from the source topic
    because the letter held a prefix only."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: Literal["support.deadletter-replay"] = "support.deadletter-replay"
    schema_version: str = SCHEMA_VERSION
    event_id: str = Field(default_factory=new_id)
    dead_letter_id: str
    request_id: str
    replayed_at: UtcDateTime = Field(default_factory=utc_now)
    target_topic: str
    target_partition: int
    target_offset: int
    original_size: int = Field(ge=0)
    original_sha256: str
    from_source_record: bool


class HelpdeskDeadLetter(BaseModel):
    """An escalation the helpdesk bridge set aside for an operator, on
    ``support.helpdesk-deadletter``: the helpdesk refused it for good, it would pass its
    principal's hourly ticket quota, or it could not be decoded (``reason``). Bounded like
    :class:`DeadLetter`: at most ``DEAD_LETTER_MAX_VALUE_BYTES`` of the original value,
    with its whole size and SHA-256, and where it is on ``source_topic``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: Literal["support.helpdesk-deadletter"] = "support.helpdesk-deadletter"
    schema_version: str = SCHEMA_VERSION
    dead_letter_id: str = Field(default_factory=new_id)
    occurred_at: UtcDateTime = Field(default_factory=utc_now)
    target: str = Field(max_length=64, description="The helpdesk: zendesk or freshdesk.")
    reason: str = Field(
        max_length=64,
        description="Why: refused, rate_limited, invalid_ticket_id, foreign_url, undecodable.",
    )
    escalation_event_id: str | None = Field(default=None, max_length=128)
    request_id: str | None = Field(default=None, max_length=128)
    conversation_id: str | None = Field(default=None, max_length=128)
    source_topic: str
    source_partition: int
    source_offset: int
    original_value_b64: str
    original_size: int = Field(ge=0)
    original_sha256: str
    original_truncated: bool
    error: str = Field(max_length=2000, description="The error, with the helpdesk's reply.")


EVENT_TYPES: tuple[type[BaseModel], ...] = (
    ChatRequest,
    AgentAction,
    ConversationMessage,
    HandoffChanged,
    ChatDelta,
    ChatAnswer,
    Escalation,
    Feedback,
    ApprovedAnswer,
    DeadLetter,
    DeadLetterReplay,
    HelpdeskDeadLetter,
)
