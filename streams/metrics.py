"""Prometheus metrics of a worker process, served on ``WORKER_METRICS_PORT``.

Each worker serves its own figures on its own port (several workers on one host take
different ports); process CPU and memory come from prometheus_client's collectors.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from streams.outcomes import Figure

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

MESSAGES = Counter(
    "techgear_worker_messages_total",
    "Requests processed, by category and outcome (answered, escalated, forwarded to a "
    "person, closed: refused in a closed conversation, dead_lettered).",
    ["category", "outcome"],
)
END_TO_END = Histogram(
    "techgear_worker_end_to_end_seconds",
    "From the request's creation at the gateway to its answer being published.",
    buckets=_SECONDS,
)
CONFIDENCE = Histogram(
    "techgear_worker_classification_confidence",
    "Classifier confidence of each question.",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0),
)
RETRIEVAL = Histogram(
    "techgear_worker_retrieval_duration_seconds", "Vector search time.", buckets=_SECONDS
)
LLM_LATENCY = Histogram("techgear_worker_llm_duration_seconds", "LLM call time.", buckets=_SECONDS)
LLM_TOKENS = Counter("techgear_worker_llm_tokens_total", "LLM tokens by kind.", ["kind"])
LLM_ERRORS = Counter("techgear_worker_llm_errors_total", "Failed LLM calls by error.", ["error"])
ESCALATIONS = Counter(
    "techgear_worker_escalations_total",
    "Escalations published, by reason, priority and kind (new ticket or follow-up).",
    ["reason", "priority", "kind"],
)
DEAD_LETTERS = Counter(
    "techgear_worker_dead_letters_total", "Dead letters by error.", ["error_class"]
)
CONSUMER_LAG = Gauge(
    "techgear_worker_consumer_lag",
    "Messages of support.requests not yet committed by the worker group, per partition.",
    ["topic", "partition"],
)
LLM_RETRIES = Counter(
    "techgear_worker_llm_retries_total", "LLM calls retried after a failure or timeout."
)
LLM_CIRCUIT_STATE = Gauge(
    "techgear_worker_llm_circuit_state",
    "The LLM circuit breaker: 0 closed, 1 half-open (trial call), 2 open (LLM skipped).",
)
LLM_CIRCUIT_REJECTIONS = Counter(
    "techgear_worker_llm_circuit_rejections_total",
    "Questions escalated without calling the LLM because its circuit was open.",
)
IN_FLIGHT = Gauge(
    "techgear_worker_in_flight_messages",
    "Requests taken in and not yet answered or dead-lettered (queued behind their "
    "conversation or being handled).",
)
UNSETTLED = Counter(
    "techgear_worker_unsettled_messages_total",
    "Requests neither answered nor dead-lettered (the dead letter could not be written): "
    "their partition's commits stop below them until it moves or the worker restarts.",
)
SKIPPED_OFFSETS = Counter(
    "techgear_worker_skipped_offsets_total",
    "Request offsets that never reached the worker although later ones of their partition "
    "did: questions that will not be answered until their partition is read again.",
)
REPLY_PARTITION_INVALID = Counter(
    "techgear_worker_reply_partition_invalid_total",
    "Answers and deltas whose request named a reply partition the topic does not have: "
    "sent to the key's partition instead (a gateway reading a topic with more partitions "
    "than this worker's metadata shows, or a hostile producer).",
)
REPLAYS = Counter(
    "techgear_worker_replays_total",
    "Requests that arrived again once applied (a caller's retry with the same X-Request-ID, "
    "a redelivery), by outcome: replayed (the kept answer sent again, marked replayed) or "
    "not_kept (no longer among the conversation's last answers kept: not answered again).",
    ["outcome"],
)
HANDOFF_FIRST_AGENT_REPLY = Histogram(
    "techgear_handoff_first_agent_reply_seconds",
    "From a conversation's handover to a person until that person's first message.",
    buckets=(30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 43200, 86400, 172800),
)
HANDOFF_CHANGES = Counter(
    "techgear_handoff_changes_total",
    "Changes of a conversation's owner, by the state entered (awaiting_agent, agent, bot, closed).",
    ["state"],
)
HANDOFF_HANDBACKS = Counter(
    "techgear_handoff_handbacks_total",
    "Conversations a person gave back to the bot, by source (api, zendesk, freshdesk).",
    ["source"],
)
HANDOFF_FORWARDED = Counter(
    "techgear_handoff_messages_forwarded_total",
    "Customer messages passed on to the person who owns their conversation, not answered "
    "by the bot.",
)

APPROVED_SERVED = Counter(
    "techgear_worker_approved_answers_served_total",
    "Questions answered with an operator-approved answer (`techgear answers`).",
)
APPROVED_STALE = Counter(
    "techgear_worker_approved_answers_stale_total",
    "Questions that matched an approved answer not served because a document it cites "
    "changed since it was approved.",
)
APPROVED_LOADED = Gauge(
    "techgear_worker_approved_answers",
    "Approved answers (not revoked) this worker holds, stale or not.",
)

_OUTCOME_FIGURES = {
    Figure.QUESTIONS: "Questions the bot was asked (customer messages not passed on to a person)",
    Figure.ANSWERED: "Questions the bot answered without escalating",
    Figure.ESCALATED: "Escalations to a person, by reason (the bot's, or a hand-over it did not "
    "announce)",
    Figure.CONVERSATIONS: "Conversations with a question to the bot, each once per window",
    Figure.TAKEN_OVER: "Conversations a person took over (replied in), each once per window",
    Figure.CLOSED: "Outcome windows closed (OUTCOME_WINDOW_S after the bot's last answer)",
    Figure.RESOLVED: "Outcome windows closed with no escalation, hand-over or thumbs-down: "
    "resolved without a person",
    Figure.RATINGS: "Current ratings of answers by the answer's category and rating (a "
    "replaced rating no longer counts)",
    Figure.DOCUMENT_RATINGS: "Current ratings of answers by knowledge-base document cited",
}
OUTCOMES_CURRENT = {
    figure: Gauge(
        f"techgear_outcomes_current_{figure}",
        f"{text}, in the current UTC hour or day (window), from the outcome tables.",
        ["window", *figure.labels],
    )
    for figure, text in _OUTCOME_FIGURES.items()
}
OUTCOMES_TOTAL = {
    figure: Counter(
        f"techgear_outcomes_{figure}",
        f"{text}; conversations and take-overs once per UTC day. Counted by this worker "
        "since it started.",
        list(figure.labels),
    )
    for figure, text in _OUTCOME_FIGURES.items()
}
OUTCOME_RATINGS_REPLACED = Counter(
    "techgear_outcomes_ratings_replaced_total",
    "Ratings replaced by a newer rating of the same answer, by the replaced one's category "
    "and rating: ratings_total minus this is the current ratings.",
    ["category", "rating"],
)
OUTCOMES_OPEN = Gauge(
    "techgear_outcomes_open_conversations",
    "Conversations of this worker's partitions whose outcome window has not closed yet.",
)
OUTCOMES_REFRESHED = Gauge(
    "techgear_outcomes_refreshed_timestamp_seconds",
    "When the outcome gauges were last read from the tables (Unix time): they are as fresh "
    "as this.",
)
