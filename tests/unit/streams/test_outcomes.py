"""The outcome figures' arithmetic, driven as the agent drives it, without Faust."""

from __future__ import annotations

from collections import Counter as Tallied
from datetime import UTC, datetime, timedelta

from schemas import (
    Category,
    ConversationMessage,
    EscalationReason,
    Feedback,
    FeedbackRating,
    FeedbackReason,
    HandoffChanged,
    HandoffState,
)
from streams.outcomes import (
    Count,
    Figure,
    OpenOutcome,
    OutcomeRules,
    Rating,
    Tally,
    Window,
    dump,
    load_open,
    load_rating,
    load_tally,
    parse_series_key,
    series_key,
    totals,
)
from tests.outcome_events import Scripted

WINDOW_S = 600.0
START = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)

A, H, D = HandoffState.AGENT, HandoffState.AWAITING_AGENT, HandoffState.BOT


class Driver:
    """The agent's loop over plain dicts: state per conversation and per rated answer,
    and each window's sums."""

    def __init__(self) -> None:
        self.rules = OutcomeRules(WINDOW_S)
        self.tallies: dict[str, Tally] = {}
        self.open: dict[str, OpenOutcome] = {}
        self.ratings: dict[tuple[str, str], Rating] = {}
        self.windows: dict[Window, Tallied[tuple[Figure, tuple[str, ...], float]]] = {
            window: Tallied() for window in Window
        }

    def send(self, *events: ConversationMessage | HandoffChanged | Feedback) -> None:
        for event in events:
            cid = event.conversation_id
            if isinstance(event, Feedback):
                key = (cid, event.request_id)
                counts, rating = self.rules.feedback(
                    event, self.ratings.get(key), self.open.get(cid)
                )
                if rating is not None:
                    self.ratings[key] = rating
            else:
                tally = self.tallies.setdefault(cid, Tally())
                counts, open_ = self.rules.transcript(event, tally, self.open.get(cid))
                if open_ is not None:
                    self.open[cid] = open_
            self.add(counts)

    def tick(self, now: datetime) -> None:
        for cid, open_ in list(self.open.items()):
            if (counts := self.rules.close(open_, now.timestamp())) is not None:
                del self.open[cid]
                self.add(counts)

    def add(self, counts: list[Count]) -> None:
        for count in counts:
            for window in (count.window,) if count.window else tuple(Window):
                series = (count.figure, count.labels, window.start(count.at))
                self.windows[window][series] += count.delta

    def value(self, figure: Figure, *labels: str, window: Window = Window.DAY) -> int:
        return sum(
            n for (f, ls, _), n in self.windows[window].items() if f is figure and ls == labels
        )


def answered(
    script: Scripted,
    request_id: str = "r1",
    *,
    category: Category = Category.WARRANTY,
    doc_ids: tuple[str, ...] = (),
) -> list[ConversationMessage]:
    return [script.question(request_id), script.answer(request_id, category, doc_ids)]


def test_counts_questions_answers_and_settles_an_unrated_answer_as_resolved() -> None:
    driver, script = Driver(), Scripted(at=START)
    driver.send(*answered(script))
    driver.tick(START + timedelta(seconds=WINDOW_S - 1))
    assert driver.value(Figure.CLOSED) == 0

    driver.tick(START + timedelta(seconds=WINDOW_S + 1))

    assert driver.value(Figure.QUESTIONS) == 1
    assert driver.value(Figure.ANSWERED) == 1
    assert driver.value(Figure.CONVERSATIONS) == 1
    assert (driver.value(Figure.CLOSED), driver.value(Figure.RESOLVED)) == (1, 1)
    assert not driver.open


def test_a_later_answer_pushes_the_outcome_window_back() -> None:
    driver, script = Driver(), Scripted(at=START, step=timedelta(seconds=WINDOW_S / 2))
    driver.send(*answered(script, "r1"), *answered(script, "r2"))
    driver.tick(START + timedelta(seconds=WINDOW_S + 1))
    assert driver.value(Figure.CLOSED) == 0
    driver.tick(START + timedelta(seconds=3 * WINDOW_S))
    assert driver.value(Figure.CLOSED) == 1
    assert driver.value(Figure.CONVERSATIONS) == 1  # twice in one hour, counted once


def test_a_redelivered_transcript_event_is_not_counted_again() -> None:
    driver, script = Driver(), Scripted(at=START)
    events = answered(script)
    driver.send(*events, *events)
    assert driver.value(Figure.QUESTIONS) == 1
    assert driver.value(Figure.ANSWERED) == 1


def test_an_escalated_answer_counts_its_reason_once_with_the_handover_that_follows() -> None:
    driver, script = Driver(), Scripted(at=START)
    driver.send(
        script.question("r1"),
        script.answer("r1", escalation_reason=EscalationReason.NO_RELEVANT_KNOWLEDGE),
        script.handoff("r1", H, D, "no_relevant_knowledge"),
    )
    driver.tick(START + timedelta(seconds=WINDOW_S + 1))
    assert driver.value(Figure.ESCALATED, "no_relevant_knowledge") == 1
    assert driver.value(Figure.ANSWERED) == 0
    assert (driver.value(Figure.CLOSED), driver.value(Figure.RESOLVED)) == (1, 0)


def test_a_handover_without_an_escalated_answer_counts_with_a_bounded_reason() -> None:
    driver, script = Driver(), Scripted(at=START)
    driver.send(*answered(script), script.handoff("r2", H, D, "something new"))
    assert driver.value(Figure.ESCALATED, "other") == 1


def test_a_person_taking_over_spoils_the_outcome_and_counts_once_per_window() -> None:
    driver, script = Driver(), Scripted(at=START)
    driver.send(
        *answered(script),
        script.handoff("a1", A, H, "agent_replied", actor="agent"),
        script.handoff("a2", D, A, "handback", actor="agent"),
        script.handoff("a3", A, H, "agent_replied", actor="agent"),
    )
    driver.tick(START + timedelta(seconds=WINDOW_S + 1))
    assert driver.value(Figure.TAKEN_OVER) == 1
    assert driver.value(Figure.TAKEN_OVER, window=Window.HOUR) == 1
    assert driver.value(Figure.RESOLVED) == 0


def test_forwarded_customer_messages_are_not_questions_to_the_bot() -> None:
    driver, script = Driver(), Scripted(at=START)
    driver.send(script.question("r1", forwarded=True))
    assert driver.value(Figure.QUESTIONS) == 0


def test_a_thumbs_down_counts_by_category_and_document_and_spoils_the_outcome() -> None:
    driver, script = Driver(), Scripted(at=START)
    driver.send(
        *answered(script, category=Category.BILLING_PAYMENT, doc_ids=("faq", "faq", "billing")),
        script.rating("r1", FeedbackRating.DOWN, reason=FeedbackReason.OUTDATED),
    )
    driver.tick(START + timedelta(seconds=WINDOW_S + 1))
    assert driver.value(Figure.RATINGS, "billing_payment", "down") == 1
    assert driver.value(Figure.DOCUMENT_RATINGS, "faq", "down") == 1  # cited twice, once
    assert driver.value(Figure.DOCUMENT_RATINGS, "billing", "down") == 1
    assert (driver.value(Figure.CLOSED), driver.value(Figure.RESOLVED)) == (1, 0)


def test_a_replacement_rating_replaces_the_counted_one_and_lifts_its_thumbs_down() -> None:
    driver, script = Driver(), Scripted(at=START)
    driver.send(*answered(script, doc_ids=("warranty",)))
    down = script.rating("r1", FeedbackRating.DOWN, reason=FeedbackReason.WRONG)
    driver.send(down)
    up = script.rating("r1", FeedbackRating.UP, revision=2)
    driver.send(up, down, up)  # the older one and the same one again change nothing
    driver.tick(START + timedelta(seconds=WINDOW_S + 1))
    assert driver.value(Figure.RATINGS, "warranty", "down") == 0
    assert driver.value(Figure.RATINGS, "warranty", "up") == 1
    assert driver.value(Figure.DOCUMENT_RATINGS, "warranty", "up") == 1
    assert driver.value(Figure.RESOLVED) == 1


def test_a_replacement_in_a_later_hour_takes_the_old_rating_out_of_its_own_hour() -> None:
    driver, script = Driver(), Scripted(at=START, step=timedelta(minutes=40))
    driver.send(*answered(script), script.rating("r1", FeedbackRating.DOWN))
    driver.send(script.rating("r1", FeedbackRating.UP, revision=2))
    hours = driver.windows[Window.HOUR]
    assert hours[(Figure.RATINGS, ("warranty", "down"), START.timestamp() + 3600)] == 0
    assert hours[(Figure.RATINGS, ("warranty", "up"), START.timestamp() + 7200)] == 1


def test_a_rating_arriving_after_the_outcome_settled_does_not_unsettle_it() -> None:
    driver, script = Driver(), Scripted(at=START)
    driver.send(*answered(script))
    driver.tick(START + timedelta(seconds=WINDOW_S + 1))
    driver.send(script.rating("r1", FeedbackRating.DOWN))
    assert driver.value(Figure.RESOLVED) == 1
    assert driver.value(Figure.RATINGS, "warranty", "down") == 1


def test_a_conversation_is_counted_again_in_a_new_hour_but_not_a_new_day_of_the_same_day() -> None:
    driver, script = Driver(), Scripted(at=START, step=timedelta(minutes=35))
    driver.send(*answered(script, "r1"), *answered(script, "r2"))
    assert driver.value(Figure.CONVERSATIONS, window=Window.HOUR) == 2
    assert driver.value(Figure.CONVERSATIONS, window=Window.DAY) == 1


def test_windows_are_utc_aligned_tumbling_hours_and_days() -> None:
    at = datetime(2026, 12, 2, 10, 59, 59, tzinfo=UTC).timestamp()
    assert Window.HOUR.start(at) == datetime(2026, 12, 2, 10, tzinfo=UTC).timestamp()
    assert Window.DAY.start(at) == datetime(2026, 12, 2, tzinfo=UTC).timestamp()


def test_series_keys_keep_partitions_apart_and_totals_sum_them() -> None:
    keys = [
        (series_key(0, Figure.RATINGS, ("warranty", "down")), 2),
        (series_key(3, Figure.RATINGS, ("warranty", "down")), 1),
        (series_key(3, Figure.DOCUMENT_RATINGS, ('a|b"c', "up")), 1),
    ]
    assert keys[0][0] != keys[1][0]
    assert parse_series_key(keys[2][0]) == (Figure.DOCUMENT_RATINGS, ('a|b"c', "up"))
    assert totals(keys) == {
        (Figure.RATINGS, ("warranty", "down")): 3,
        (Figure.DOCUMENT_RATINGS, ('a|b"c', "up")): 1,
    }


def test_state_survives_its_round_trip_through_a_table() -> None:
    tally = Tally(seq=4, counted={"conversations:hour": 3600.0}, escalated_request="r1")
    open_ = OpenOutcome(last_answer_at=1.5, escalated=True, rated_down=["r2"])
    rating = Rating(2, FeedbackRating.DOWN, "warranty", ("a", "b"), 9.0)
    assert load_tally(dump(tally)) == tally
    assert load_open(dump(open_)) == open_
    assert load_rating(dump(rating)) == rating
    assert (load_tally(None), load_open(None), load_rating(None)) == (Tally(), None, None)
