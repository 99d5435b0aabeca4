from __future__ import annotations

import schemas


def test_public_surface_changes_only_on_purpose() -> None:
    assert sorted(schemas.__all__) == sorted(
        [
            "MAX_MESSAGE_CHARS",
            "SCHEMA_VERSION",
            "AgentAction",
            "AgentActionKind",
            "AnswerFacts",
            "ApprovedAnswer",
            "CitedDocument",
            "Author",
            "Feedback",
            "FeedbackRating",
            "FeedbackReason",
            "ConversationMessage",
            "HandoffChanged",
            "HandoffState",
            "TranscriptRole",
            "Category",
            "ChatAnswer",
            "ChatDelta",
            "ChatRequest",
            "Customer",
            "DeadLetter",
            "DeadLetterReplay",
            "Escalation",
            "EscalationKind",
            "EscalationReason",
            "HelpdeskDeadLetter",
            "Priority",
            "TicketType",
            "TranscriptTurn",
            "Source",
            "new_id",
            "utc_now",
        ]
    )
    assert all(hasattr(schemas, name) for name in schemas.__all__)
