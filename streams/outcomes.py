"""What the outcome figures count, as arithmetic on events: no Faust, no Kafka.

``streams.outcomes_agent`` feeds it the transcript (``support.conversation-events``), the
ratings (``support.feedback``) and its own ticks, keeps the state it returns in tables and
adds the :class:`Count` s to the hour and day windows. Each figure is defined in
docs/operations.md, "Outcomes". A conversation's *outcome window* opens with a bot answer,
is pushed back by each later one, and closes ``window_s`` after the last: it is then
*resolved without a person* unless, meanwhile, the bot escalated, a person took over or an
answer is (still) rated down.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import orjson

from schemas import (
    ConversationMessage,
    EscalationReason,
    Feedback,
    FeedbackRating,
    HandoffChanged,
    HandoffState,
    TranscriptRole,
)


class Window(enum.StrEnum):
    HOUR = "hour"
    DAY = "day"

    @property
    def seconds(self) -> int:
        return 3600 if self is Window.HOUR else 86400

    def start(self, at: float) -> float:
        """The start of the tumbling window holding ``at`` (UTC-aligned, as Faust's)."""
        return at - at % self.seconds


class Figure(enum.StrEnum):
    """A counted figure, with the labels it is counted by (``labels``)."""

    QUESTIONS = "questions"
    ANSWERED = "answered"
    ESCALATED = "escalated"
    CONVERSATIONS = "conversations"
    TAKEN_OVER = "taken_over"
    CLOSED = "closed"
    RESOLVED = "resolved"
    RATINGS = "ratings"
    DOCUMENT_RATINGS = "document_ratings"

    @property
    def labels(self) -> tuple[str, ...]:
        return _LABELS.get(self, ())


_REASONS = frozenset(reason.value for reason in EscalationReason)
_LABELS = {
    Figure.ESCALATED: ("reason",),
    Figure.RATINGS: ("category", "rating"),
    Figure.DOCUMENT_RATINGS: ("doc_id", "rating"),
}


@dataclass(frozen=True, slots=True)
class Count:
    figure: Figure
    labels: tuple[str, ...]
    at: float
    """When it happened (epoch seconds): the windows it is counted in."""
    delta: int = 1
    window: Window | None = None
    """Only this window (a figure counted once per conversation and window); ``None``: both."""


@dataclass(slots=True)
class Tally:
    """What has been counted of one conversation, so nothing is counted twice."""

    seq: int = 0
    """The last transcript ``seq`` counted: a redelivered event has one at most this."""
    counted: dict[str, float] = field(default_factory=dict)
    """``<figure>:<window>`` -> start of the window it was last counted in."""
    escalated_request: str | None = None
    """The last request whose escalation was counted (its answer, then its handoff)."""


@dataclass(slots=True)
class OpenOutcome:
    """A conversation whose outcome window has not closed yet."""

    last_answer_at: float
    escalated: bool = False
    taken_over: bool = False
    rated_down: list[str] = field(default_factory=list)
    """Requests whose answer is currently rated down."""

    @property
    def resolved(self) -> bool:
        return not (self.escalated or self.taken_over or self.rated_down)


@dataclass(frozen=True, slots=True)
class Rating:
    """The current rating of one answer."""

    revision: int
    rating: FeedbackRating
    category: str
    doc_ids: tuple[str, ...]
    at: float


class OutcomeRules:
    def __init__(self, window_s: float) -> None:
        self.window_s = window_s

    def transcript(
        self,
        event: ConversationMessage | HandoffChanged,
        tally: Tally,
        open_: OpenOutcome | None,
    ) -> tuple[list[Count], OpenOutcome | None]:
        """The counts of one transcript event (none if already counted) and the
        conversation's open outcome after it; ``tally`` is updated in place."""
        if event.seq <= tally.seq:
            return [], open_
        tally.seq = event.seq
        at = event.occurred_at.timestamp()
        if isinstance(event, HandoffChanged):
            return self._handoff(event, tally, open_, at)
        if event.role is TranscriptRole.CUSTOMER and not event.forwarded:
            return [Count(Figure.QUESTIONS, (), at), *_once(Figure.CONVERSATIONS, tally, at)], open_
        if event.role is not TranscriptRole.ASSISTANT or event.answer is None:
            return [], open_
        opened = open_ or OpenOutcome(at)
        opened.last_answer_at = at
        reason = event.answer.escalation_reason
        if reason is None:
            return [Count(Figure.ANSWERED, (), at)], opened
        opened.escalated = True
        tally.escalated_request = event.request_id
        return [Count(Figure.ESCALATED, (reason.value,), at)], opened

    def _handoff(
        self, event: HandoffChanged, tally: Tally, open_: OpenOutcome | None, at: float
    ) -> tuple[list[Count], OpenOutcome | None]:
        if event.state is HandoffState.AGENT and event.previous_state is not HandoffState.AGENT:
            if open_ is not None:
                open_.taken_over = True
            return _once(Figure.TAKEN_OVER, tally, at), open_
        # The bot's own hand-over follows its escalated answer, already counted.
        if event.state is HandoffState.AWAITING_AGENT and tally.escalated_request != (
            event.request_id
        ):
            if open_ is not None:
                open_.escalated = True
            tally.escalated_request = event.request_id
            return [Count(Figure.ESCALATED, (_reason_label(event.reason),), at)], open_
        return [], open_

    def feedback(
        self, event: Feedback, current: Rating | None, open_: OpenOutcome | None
    ) -> tuple[list[Count], Rating | None]:
        """The counts of one rating: a replacement takes the rating it replaces out of the
        windows it was counted in. ``None`` (and no counts) when ``event`` is not newer than
        ``current`` (a redelivery). ``open_`` is updated in place."""
        if current is not None and event.revision <= current.revision:
            return [], None
        rating = Rating(
            revision=event.revision,
            rating=event.rating,
            category=event.answer.category.value,
            doc_ids=tuple(dict.fromkeys(source.doc_id for source in event.answer.sources)),
            at=event.rated_at.timestamp(),
        )
        counts = _rating_counts(rating, 1)
        if current is not None:
            counts += _rating_counts(current, -1)
        if open_ is not None:
            down = [r for r in open_.rated_down if r != event.request_id]
            if rating.rating is FeedbackRating.DOWN:
                down.append(event.request_id)
            open_.rated_down = down
        return counts, rating

    def close(self, open_: OpenOutcome, now: float) -> list[Count] | None:
        """The counts of a settled outcome, or ``None`` while its window is open."""
        closes_at = open_.last_answer_at + self.window_s
        if now < closes_at:
            return None
        counts = [Count(Figure.CLOSED, (), closes_at)]
        if open_.resolved:
            counts.append(Count(Figure.RESOLVED, (), closes_at))
        return counts


def _reason_label(reason: str) -> str:
    """A label value from a bounded set, whatever a handoff's free-form reason says."""
    return reason if reason in _REASONS else "other"


def _once(figure: Figure, tally: Tally, at: float) -> list[Count]:
    """``figure`` counted in each window of ``at`` where this conversation is not yet."""
    counts = []
    for window in Window:
        start, slot = window.start(at), f"{figure}:{window}"
        if tally.counted.get(slot) != start:
            tally.counted[slot] = start
            counts.append(Count(figure, (), at, window=window))
    return counts


def _rating_counts(rating: Rating, delta: int) -> list[Count]:
    return [Count(Figure.RATINGS, (rating.category, rating.rating.value), rating.at, delta)] + [
        Count(Figure.DOCUMENT_RATINGS, (doc_id, rating.rating.value), rating.at, delta)
        for doc_id in rating.doc_ids
    ]


def series_key(partition: int, figure: Figure, labels: tuple[str, ...]) -> str:
    """A windowed table's key: partitions keep their own counts (a table key lives on one
    partition), summed when read."""
    return orjson.dumps([partition, figure.value, *labels]).decode()


def parse_series_key(key: str) -> tuple[Figure, tuple[str, ...]]:
    _, figure, *labels = orjson.loads(key)
    return Figure(figure), tuple(labels)


def totals(items: Iterable[tuple[str, int]]) -> dict[tuple[Figure, tuple[str, ...]], int]:
    """Window values of ``(series_key, value)`` pairs summed over partitions."""
    summed: dict[tuple[Figure, tuple[str, ...]], int] = {}
    for key, value in items:
        series = parse_series_key(key)
        summed[series] = summed.get(series, 0) + int(value)
    return summed


def dump(state: Tally | OpenOutcome | Rating) -> bytes:
    return orjson.dumps(asdict(state))


def load_tally(data: bytes | None) -> Tally:
    return Tally(**orjson.loads(data)) if data else Tally()


def load_open(data: bytes | None) -> OpenOutcome | None:
    return OpenOutcome(**orjson.loads(data)) if data else None


def load_rating(data: bytes | None) -> Rating | None:
    if not data:
        return None
    fields = orjson.loads(data)
    return Rating(
        revision=fields["revision"],
        rating=FeedbackRating(fields["rating"]),
        category=fields["category"],
        doc_ids=tuple(fields["doc_ids"]),
        at=fields["at"],
    )
