"""The AsyncAPI 3.0 document of every topic, built from the event models and topic specs.

``techgear schemas export`` writes it to ``schemas/asyncapi.json``; the gateway serves it
at ``/asyncapi.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from schemas.cloudevents import SPEC_VERSION, ce_type
from schemas.events import (
    EVENT_TYPES,
    SCHEMA_VERSION,
    AgentAction,
    ApprovedAnswer,
    ChatAnswer,
    ChatDelta,
    ChatRequest,
    ConversationMessage,
    DeadLetter,
    DeadLetterReplay,
    Escalation,
    Feedback,
    HandoffChanged,
    HelpdeskDeadLetter,
)
from schemas.topics import (
    ANSWER_DELTAS,
    ANSWERS,
    APPROVED_ANSWERS,
    CONVERSATION_EVENTS,
    CORRELATION_HEADER,
    DEADLETTER,
    DEADLETTER_REPLAYS,
    ESCALATIONS,
    FEEDBACK,
    HELPDESK_DEADLETTER,
    REPLAYED_FROM_HEADER,
    REPLY_PARTITION_HEADER,
    REQUEST_ID_HEADER,
    REQUESTS,
    TOPICS,
)

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
_SCHEMA_REF = "#/components/schemas/{model}"


@dataclass(frozen=True, slots=True)
class _Channel:
    topic: str
    messages: tuple[str, ...]
    key: str
    """What the record key holds."""
    replayable: bool = False
    """``techgear dlq replay`` may republish records here, with ``replayed_from``."""


_BOOTSTRAP_VARIABLES: dict[str, Any] = {
    "bootstrapServers": {
        "default": "127.0.0.1:9092",
        "description": "Comma-separated host:port of the brokers.",
    }
}
# KAFKA_SASL_MECHANISM's choices, and mutual TLS (KAFKA_SSL_CERT_FILE); OAUTHBEARER tokens
# come from a provider of the deployment's (KAFKA_SASL_OAUTH_TOKEN_PROVIDER).
_SECURITY: dict[str, Any] = {
    "scramSha512": {"type": "scramSha512", "description": "KAFKA_SASL_MECHANISM=SCRAM-SHA-512"},
    "scramSha256": {"type": "scramSha256", "description": "KAFKA_SASL_MECHANISM=SCRAM-SHA-256"},
    "plain": {"type": "plain", "description": "KAFKA_SASL_MECHANISM=PLAIN (over TLS only)"},
    "clientCertificate": {
        "type": "X509",
        "description": "Mutual TLS: KAFKA_SECURITY_PROTOCOL=SSL with KAFKA_SSL_CERT_FILE",
    },
}

_CONVERSATION_KEY = "The conversation_id: a conversation stays ordered on one partition."

_CHANNELS: tuple[_Channel, ...] = (
    _Channel(
        REQUESTS, (ChatRequest.__name__, AgentAction.__name__), _CONVERSATION_KEY, replayable=True
    ),
    _Channel(ANSWERS, (ChatAnswer.__name__,), _CONVERSATION_KEY),
    _Channel(ANSWER_DELTAS, (ChatDelta.__name__,), _CONVERSATION_KEY),
    _Channel(ESCALATIONS, (Escalation.__name__,), _CONVERSATION_KEY),
    _Channel(FEEDBACK, (Feedback.__name__,), _CONVERSATION_KEY),
    _Channel(
        CONVERSATION_EVENTS,
        (ConversationMessage.__name__, HandoffChanged.__name__),
        _CONVERSATION_KEY,
    ),
    _Channel(
        DEADLETTER,
        (DeadLetter.__name__,),
        "The original record's key (its conversation_id; `unknown` when undecodable).",
    ),
    _Channel(
        DEADLETTER_REPLAYS,
        (DeadLetterReplay.__name__,),
        "The dead_letter_id: compaction keeps the latest replay of each letter.",
    ),
    _Channel(
        HELPDESK_DEADLETTER,
        (HelpdeskDeadLetter.__name__,),
        "The escalation's key (its conversation_id).",
    ),
    _Channel(
        APPROVED_ANSWERS,
        (ApprovedAnswer.__name__,),
        "The approval_id: compaction keeps the latest record (approval or revocation) of each.",
    ),
)

# Process -> (action, topic, summary) of every operation; a process is also a tag.
_OPERATIONS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "gateway": (
        ("send", REQUESTS, "Publishes a caller's question, and what an agent does."),
        (
            "receive",
            CONVERSATION_EVENTS,
            "Pushes agent messages and handoff changes to the customer's sockets; keeps "
            "the transcript (consumer group techgear-gateway-transcripts).",
        ),
        (
            "receive",
            ANSWERS,
            "Reads its reply partition (the one its requests name in `reply_partition`; "
            "every partition with ANSWER_ROUTING=broadcast); answers the caller waiting on "
            "this gateway.",
        ),
        (
            "receive",
            ANSWER_DELTAS,
            "Streams pieces of an answer to a WebSocket client; the same partition as its answers.",
        ),
        ("receive", DEADLETTER, "Fails the caller whose request could not be processed."),
        ("send", FEEDBACK, "Publishes a customer's rating of an answer."),
    ),
    "worker": (
        (
            "receive",
            REQUESTS,
            "Answers each question, or passes it on while a person owns the conversation; "
            "applies agent actions, in order per conversation.",
        ),
        (
            "send",
            CONVERSATION_EVENTS,
            "Numbers each message and handoff change of a conversation's transcript.",
        ),
        (
            "send",
            ANSWERS,
            "Publishes the answer to a request, on the partition its `reply_partition` "
            "header names (else the key's); a request that arrives again once answered gets "
            "that answer again, marked `replayed`.",
        ),
        (
            "send",
            ANSWER_DELTAS,
            "Publishes an answer as it is produced (channel `chat` only), on the answer's "
            "partition.",
        ),
        ("send", ESCALATIONS, "Hands a conversation over to a person."),
        ("send", DEADLETTER, "Sets aside a request it cannot decode or keeps failing on."),
        (
            "receive",
            FEEDBACK,
            "Counts outcomes with the transcripts (consumer group of the worker's outcomes "
            "agent): answered, escalated, resolved without a person, rated down.",
        ),
        (
            "receive",
            APPROVED_ANSWERS,
            "Reads every approved answer from the start and follows the topic; serves one "
            "for a similar question while its cited documents are unchanged.",
        ),
    ),
    "helpdesk-bridge": (
        ("receive", ESCALATIONS, "Opens or updates a helpdesk ticket per escalation."),
        ("send", HELPDESK_DEADLETTER, "Sets aside an escalation the helpdesk refused for good."),
    ),
    "dlq": (
        ("receive", DEADLETTER, "Lists the retained dead letters."),
        ("receive", DEADLETTER_REPLAYS, "Reads which letters were already replayed."),
        ("send", REQUESTS, "Republishes a dead letter's original record to its source topic."),
        ("send", DEADLETTER_REPLAYS, "Records each replay."),
    ),
    "answers": (
        ("receive", APPROVED_ANSWERS, "Lists the approved answers and whether each is current."),
        ("send", APPROVED_ANSWERS, "Approves an answer, or revokes one."),
    ),
}

_PROCESSES = {
    "gateway": "The HTTP/WebSocket gateway (`techgear gateway`).",
    "worker": "The stream worker (`techgear worker`).",
    "helpdesk-bridge": "The bridge from escalations to helpdesks (`techgear helpdesk`).",
    "dlq": "The operators' dead-letter tool (`techgear dlq`).",
    "answers": "The operators' approved-answers tool (`techgear answers`).",
}


@cache
def document() -> dict[str, Any]:
    _, definitions = models_json_schema(
        [(model, "serialization") for model in EVENT_TYPES], ref_template=_SCHEMA_REF
    )
    schemas = definitions["$defs"]
    event_types = {model.__name__: _event_type(model) for model in EVENT_TYPES}
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "TechGear Support Streams events",
            "version": SCHEMA_VERSION,
            "description": "Every Kafka topic of the system. Values are UTF-8 JSON; readers "
            "ignore unknown fields, so fields are only ever added within a major version.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrapServers}",
                "protocol": "kafka",
                "description": "The Kafka cluster (KAFKA_BOOTSTRAP_SERVERS), without TLS or "
                "SASL: local development.",
                "variables": _BOOTSTRAP_VARIABLES,
            },
            "kafka-secure": {
                "host": "{bootstrapServers}",
                "protocol": "kafka-secure",
                "description": "A cluster with TLS (KAFKA_SECURITY_PROTOCOL=SASL_SSL or SSL): "
                "each process authenticates as its own user, whose ACLs allow only the "
                "operations listed for it here (`techgear kafka acls`).",
                "variables": _BOOTSTRAP_VARIABLES,
                "security": [
                    {"$ref": f"#/components/securitySchemes/{name}"} for name in _SECURITY
                ],
            },
        },
        "channels": {_id(channel.topic): _channel(channel) for channel in _CHANNELS},
        "operations": _operations(),
        "components": {
            "schemas": schemas,
            "securitySchemes": _SECURITY,
            "messages": {
                name: _message(name, channel, event_types[name])
                for channel in _CHANNELS
                for name in channel.messages
            },
        },
    }


def _id(name: str) -> str:
    """An id AsyncAPI accepts (letters, digits, ``_``, ``-``) for a topic's name."""
    return name.replace(".", "_")


def _event_type(model: type[BaseModel]) -> str:
    return str(model.model_fields["event_type"].default)


def _channel(channel: _Channel) -> dict[str, Any]:
    (spec,) = (spec for spec in TOPICS if spec.name == channel.topic)
    return {
        "address": channel.topic,
        "description": "Replication is set per deployment (KAFKA_REPLICATION_FACTOR).",
        "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in channel.messages},
        "bindings": {
            "kafka": {
                "partitions": spec.partitions,
                "topicConfiguration": {
                    "retention.ms": spec.retention_ms,
                    "cleanup.policy": spec.cleanup_policy.split(","),
                },
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _message(name: str, channel: _Channel, event_type: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": name,
        "contentType": "application/json",
        "payload": {"$ref": _SCHEMA_REF.format(model=name)},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": channel.key},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
        "headers": _cloudevents_headers(event_type, replayable=channel.replayable),
    }
    return message


def _cloudevents_headers(event_type: str, *, replayable: bool) -> dict[str, Any]:
    """CloudEvents 1.0 attributes in binary mode (the Kafka protocol binding), plus the
    tracing headers; every value is UTF-8."""
    properties: dict[str, Any] = {
        "ce_specversion": {"type": "string", "const": SPEC_VERSION},
        "ce_id": {
            "type": "string",
            "description": "The event's own id where it has one, else stable for its type, "
            "request and sequence number: a re-sent event keeps its id.",
        },
        "ce_source": {
            "type": "string",
            "format": "uri-reference",
            "examples": ["/techgear/gateway", "/techgear/streams", "/techgear/cli"],
        },
        "ce_type": {"type": "string", "const": ce_type(event_type)},
        "ce_time": {"type": "string", "format": "date-time"},
        "content-type": {"type": "string", "const": "application/json"},
        REQUEST_ID_HEADER: {"type": "string", "description": "The event's request_id."},
        CORRELATION_HEADER: {"type": "string", "description": "The event's correlation_id."},
    }
    if event_type == _event_type(ChatRequest):
        properties[REPLY_PARTITION_HEADER] = {
            "type": "string",
            "pattern": "^[0-9]{1,4}$",
            "description": "Set by the gateway: the partition of support.answers and "
            "support.answer-deltas it reads, where this request's answer and deltas go. "
            "Absent or not one of those partitions: the key's partition.",
        }
    if replayable:
        properties[REPLAYED_FROM_HEADER] = {
            "type": "string",
            "description": "Only on a record republished by `techgear dlq replay`: the "
            "dead_letter_id it came from. Such a record has this header alone, so none "
            "of the others is required here.",
        }
    headers: dict[str, Any] = {"type": "object", "properties": properties}
    if not replayable:
        headers["required"] = ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"]
    return headers


def _operations() -> dict[str, Any]:
    operations: dict[str, Any] = {}
    for process, actions in _OPERATIONS.items():
        for action, topic, summary in actions:
            (channel,) = (channel for channel in _CHANNELS if channel.topic == topic)
            operations[f"{process}_{action}_{_id(topic)}"] = {
                "action": action,
                "summary": summary,
                "channel": {"$ref": f"#/channels/{_id(topic)}"},
                "messages": [
                    {"$ref": f"#/channels/{_id(topic)}/messages/{name}"}
                    for name in channel.messages
                ],
                "tags": [{"name": process, "description": _PROCESSES[process]}],
            }
    return operations
