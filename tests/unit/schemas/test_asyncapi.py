"""The AsyncAPI document: valid AsyncAPI 3.0, and saying what the code does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from pydantic import BaseModel

from schemas import ChatAnswer, ChatDelta, ChatRequest, Customer, DeadLetter, DeadLetterReplay
from schemas.asyncapi import document
from schemas.cloudevents import headers_for
from schemas.events import (
    EVENT_TYPES,
    AgentAction,
    ConversationMessage,
    Escalation,
    HandoffChanged,
    TranscriptTurn,
)
from schemas.topics import HELPDESK_DEADLETTER, TOPICS

SPEC = Path(__file__).parent / "asyncapi_spec" / "3.0.0.json"
IDS = {"request_id": "r-1", "conversation_id": "c-1", "correlation_id": "t-1"}


@pytest.fixture(scope="module")
def asyncapi_validator() -> jsonschema.Draft7Validator:
    spec = orjson.loads(SPEC.read_bytes())
    jsonschema.Draft7Validator.check_schema(spec)
    return jsonschema.Draft7Validator(spec)


def contract() -> dict[str, Any]:
    """The document as a consumer reads it (JSON, not Python objects)."""
    parsed: dict[str, Any] = orjson.loads(orjson.dumps(document()))
    return parsed


def payload_validator(model: str) -> jsonschema.Draft202012Validator:
    components = contract()["components"]
    return jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{model}", "components": components},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def message_of(topic: str, model: str) -> dict[str, Any]:
    """The message ``model`` of ``topic``'s channel; fails when the channel lacks it."""
    doc = contract()
    (channel,) = (c for c in doc["channels"].values() if c["address"] == topic)
    refs = {m["$ref"].rsplit("/", 1)[-1] for m in channel["messages"].values()}
    assert model in refs, f"{topic} does not carry {model}: {sorted(refs)}"
    message: dict[str, Any] = doc["components"]["messages"][model]
    return message


SAMPLES: tuple[tuple[str, BaseModel], ...] = (
    ("support.requests", ChatRequest(message="hi", channel="chat", **IDS)),
    (
        "support.requests",
        AgentAction(
            action_id="zendesk:comment:1",
            action="message",
            text="Hi",
            author={"name": "Asha"},
            **IDS,
        ),
    ),
    (
        "support.conversation-events",
        ConversationMessage(seq=3, message_id="m-1", role="agent", text="Hi", **IDS),
    ),
    (
        "support.conversation-events",
        HandoffChanged(
            seq=4,
            state="bot",
            previous_state="agent",
            actor="agent",
            actor_name="Asha",
            reason="handback",
            notice="You are talking to the assistant again.",
            **IDS,
        ),
    ),
    (
        "support.answers",
        ChatAnswer(
            answer="Hello",
            category="greeting",
            confidence=0.9,
            responder="offline",
            request_created_at=ChatRequest(message="hi", **IDS).created_at,
            **IDS,
        ),
    ),
    ("support.answer-deltas", ChatDelta(seq=0, text="Hel", **IDS)),
    (
        "support.escalations",
        Escalation(
            event_id="e-1",
            ticket_event_id="e-1",
            requester=Customer(email="r@example.com"),
            subject="Refund",
            summary="wants a refund",
            transcript=[TranscriptTurn(role="customer", text="refund please")],
            category="returns_refunds",
            confidence=0.2,
            reason="low_confidence",
            priority="normal",
            ticket_type="question",
            channel="api",
            tags=["refund"],
            **IDS,
        ),
    ),
    (
        "support.deadletter",
        DeadLetter(
            request_id="unknown",
            conversation_id="unknown",
            source_topic="support.requests",
            source_partition=0,
            source_offset=7,
            original_key_b64=None,
            original_value_b64="e30=",
            error_class="EventDecodeError",
            error_message="not JSON",
            retryable=False,
            attempts=1,
        ),
    ),
    (
        "support.deadletter-replays",
        DeadLetterReplay(
            dead_letter_id="d-1",
            request_id="r-1",
            target_topic="support.requests",
            target_partition=0,
            target_offset=8,
            original_size=2,
            original_sha256="0" * 64,
            from_source_record=False,
        ),
    ),
)


def test_document_is_valid_asyncapi_3(asyncapi_validator: jsonschema.Draft7Validator) -> None:
    errors = [
        f"{e.json_path}: {e.message[:200]}" for e in asyncapi_validator.iter_errors(contract())
    ]
    assert errors == []


def test_validation_rejects_a_broken_document(
    asyncapi_validator: jsonschema.Draft7Validator,
) -> None:
    broken = contract()
    next(iter(broken["channels"].values()))["bindings"]["kafka"]["partitions"] = 0
    next(iter(broken["operations"].values()))["action"] = "publish"
    assert len(list(asyncapi_validator.iter_errors(broken))) == 2


def test_every_topic_is_a_channel_with_its_partitions_and_retention() -> None:
    channels = {c["address"]: c["bindings"]["kafka"] for c in contract()["channels"].values()}
    assert set(channels) == {spec.name for spec in TOPICS}
    for spec in TOPICS:
        assert channels[spec.name]["partitions"] == spec.partitions
        assert channels[spec.name]["topicConfiguration"] == {
            "retention.ms": spec.retention_ms,
            "cleanup.policy": spec.cleanup_policy.split(","),
        }


def test_every_event_model_is_a_message_payload() -> None:
    payloads = {m["payload"]["$ref"] for m in contract()["components"]["messages"].values()}
    assert {f"#/components/schemas/{model.__name__}" for model in EVENT_TYPES} <= payloads


@pytest.mark.parametrize(
    ("topic", "event"), SAMPLES, ids=[f"{topic}:{type(event).__name__}" for topic, event in SAMPLES]
)
def test_events_and_their_headers_follow_the_contract(topic: str, event: BaseModel) -> None:
    message = message_of(topic, type(event).__name__)
    payload_validator(type(event).__name__).validate(orjson.loads(event.model_dump_json()))
    headers = {k: v.decode() for k, v in headers_for(event, source="/techgear/test").items()}
    jsonschema.Draft7Validator(
        message["headers"], format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    ).validate(headers)
    assert message["bindings"]["kafka"]["key"]["type"] == "string"


def test_a_payload_missing_a_required_field_is_refused() -> None:
    delta = orjson.loads(ChatDelta(seq=0, text="Hel", **IDS).model_dump_json())
    del delta["seq"]
    with pytest.raises(jsonschema.ValidationError, match="'seq' is a required property"):
        payload_validator("ChatDelta").validate(delta)


def test_headers_of_another_event_type_are_refused() -> None:
    headers = {
        k: v.decode()
        for k, v in headers_for(ChatDelta(seq=0, text="x", **IDS), source="/x").items()
    }
    with pytest.raises(jsonschema.ValidationError, match="ce_type"):
        jsonschema.Draft7Validator(message_of("support.answers", "ChatAnswer")["headers"]).validate(
            headers
        )


def test_every_channel_has_a_sender_and_all_but_the_helpdesk_dead_letters_a_receiver() -> None:
    doc = contract()
    actions: dict[str, set[str]] = {doc["channels"][c]["address"]: set() for c in doc["channels"]}
    for operation in doc["operations"].values():
        channel = doc["channels"][operation["channel"]["$ref"].removeprefix("#/channels/")]
        actions[channel["address"]].add(operation["action"])
    # Operators read helpdesk dead letters with any Kafka client; no process of ours does.
    assert actions.pop(HELPDESK_DEADLETTER) == {"send"}
    assert all(found == {"send", "receive"} for found in actions.values()), actions
