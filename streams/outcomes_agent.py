"""The outcome figures counted on the stream: a thin Faust shell on ``streams.outcomes``.

Two agents of the worker's app (why there, and not in a process of their own:
docs/operations.md, "Outcomes"). ``count-outcomes`` reads the transcript and the ratings,
co-partitioned by conversation; ``settle-outcomes`` reads ticks that each worker sends,
every ``OUTCOME_TICK_S``, to the partitions of ``<app id>-outcome-ticks`` it owns, and
counts the conversations whose outcome window has closed. Faust lets a table be written
only while handling a message of the table's partition: a timer cannot close a window,
a tick can.

State per conversation (what was counted, the open outcome window) and per rated answer
(its current rating) lives in changelog-backed tables, so a redelivered event is
recognised after a crash; the figures live in two windowed tables (tumbling UTC hour
and day) read into gauges every ``OUTCOME_GAUGE_INTERVAL_S``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import cast

import faust
import orjson
from faust.tables.wrappers import WindowedItemsView, WindowWrapper
from faust.types import TableT
from faust.types.tuples import Message
from prometheus_client import Counter

from runtime.codec import ConversationEvent, decode, decode_conversation_event
from runtime.errors import EventDecodeError
from schemas import Feedback
from schemas.topics import CONVERSATION_EVENTS, FEEDBACK, TopicSpec
from streams import metrics
from streams.changelogs import CONVERSATION_PARTITIONS, table_changelog
from streams.outcomes import (
    Count,
    Figure,
    OutcomeRules,
    Window,
    dump,
    load_open,
    load_rating,
    load_tally,
    series_key,
    totals,
)
from streams.settings import WorkerSettings

log = logging.getLogger(__name__)

COUNT_AGENT = "count-outcomes"
SETTLE_AGENT = "settle-outcomes"
TALLY_TABLE = "outcome-tallies"
OPEN_TABLE = "outcome-open"
RATING_TABLE = "outcome-ratings"
WINDOW_TABLES = {Window.HOUR: "outcomes-hourly", Window.DAY: "outcomes-daily"}
EXPIRES_S = {Window.HOUR: 2 * 3600.0, Window.DAY: 2 * 86400.0}
"""How long a window is kept after it ends (Faust deletes older ones, and their
changelog records expire with it)."""


def ticks_topic(settings: WorkerSettings) -> TopicSpec:
    # A tick only matters until the next one.
    return TopicSpec(
        f"{settings.worker_app_id}-outcome-ticks",
        partitions=CONVERSATION_PARTITIONS,
        retention_ms=3600 * 1000,
    )


def outcome_topics(settings: WorkerSettings) -> tuple[TopicSpec, ...]:
    """The topics of the outcome agents, created (and put in line) before the app starts:
    Faust would create them itself, but a worker's consumer does not see a topic created
    after it started, and fails the tables' partition check on the first write."""
    conversations = tuple(
        table_changelog(settings, name, retention_s=settings.conversation_ttl_s)
        for name in (TALLY_TABLE, OPEN_TABLE, RATING_TABLE)
    )
    windows = tuple(_window_changelog(settings, window) for window in Window)
    # The figures' keys (a bounded set) for as long as there are figures.
    indexes = tuple(
        replace(
            table_changelog(settings, f"{name}-key_index", retention_s=EXPIRES_S[window]),
            cleanup_policy="compact",
        )
        for window, name in WINDOW_TABLES.items()
    )
    return (*conversations, *windows, *indexes, ticks_topic(settings))


def _window_changelog(settings: WorkerSettings, window: Window) -> TopicSpec:
    return table_changelog(settings, WINDOW_TABLES[window], retention_s=EXPIRES_S[window])


class OutcomeCounter:
    def __init__(self, app: faust.App, settings: WorkerSettings) -> None:
        self._app = app
        self._settings = settings
        self._rules = OutcomeRules(settings.outcome_window_s)
        self._tallies = self._conversation_table(TALLY_TABLE)
        self._open = self._conversation_table(OPEN_TABLE)
        self._ratings = self._conversation_table(RATING_TABLE)
        self._windows: dict[Window, WindowWrapper] = {
            window: cast(
                WindowWrapper,
                app.Table(
                    name,
                    default=int,
                    key_type=str,
                    value_type=int,
                    partitions=CONVERSATION_PARTITIONS,
                    extra_topic_configs=_window_changelog(settings, window).configs,
                ).tumbling(window.seconds, expires=EXPIRES_S[window], key_index=True),
            )
            for window, name in WINDOW_TABLES.items()
        }
        self._shown: set[tuple[Window, Figure, tuple[str, ...]]] = set()

    def _conversation_table(self, name: str) -> TableT[bytes, bytes | None]:
        # Kept as long as the worker remembers a conversation (CONVERSATION_TTL_S).
        changelog = table_changelog(
            self._settings, name, retention_s=self._settings.conversation_ttl_s
        )
        return self._app.Table(
            name,
            default=None,
            key_type=bytes,
            value_type=bytes,
            partitions=changelog.partitions,
            options={"ttl": int(self._settings.conversation_ttl_s)},
            extra_topic_configs=changelog.configs,
        )

    def install(self) -> None:
        """Register the agents and timers on the app."""
        app = self._app
        sources = app.topic(CONVERSATION_EVENTS, FEEDBACK, key_type=bytes, value_type=bytes)
        spec = ticks_topic(self._settings)
        ticks = app.topic(
            spec.name,
            key_type=bytes,
            value_type=bytes,
            partitions=spec.partitions,
            internal=True,
            config=spec.configs,
        )

        @app.agent(sources, name=COUNT_AGENT)
        async def count_outcomes(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                self.take(event.message)

        @app.agent(ticks, name=SETTLE_AGENT)
        async def settle_outcomes(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                self.settle(event.message.partition, time.time())

        async def send_ticks() -> None:
            for tp in app.assignor.assigned_actives():
                if tp.topic == ticks.get_topic_name():
                    await ticks.send(value=b"", partition=tp.partition)

        async def show() -> None:
            self.show()

        app.timer(interval=self._settings.outcome_tick_s)(send_ticks)
        app.timer(interval=self._settings.outcome_gauge_interval_s)(show)

    def take(self, message: Message) -> None:
        """Count one event of the transcript or the ratings (skipping what was counted)."""
        try:
            if message.topic == FEEDBACK:
                self._feedback(message.partition, decode(message.value or b"", Feedback))
            else:
                self._transcript(message.partition, decode_conversation_event(message.value or b""))
        except EventDecodeError as exc:
            log.warning(
                "outcomes skip %s/%d@%d: %s", message.topic, message.partition, message.offset, exc
            )

    def _transcript(self, partition: int, event: ConversationEvent) -> None:
        key = event.conversation_id.encode()
        tally = load_tally(self._tallies.get(key))
        open_key = _open_key(partition, event.conversation_id)
        seq = tally.seq
        counts, open_ = self._rules.transcript(event, tally, load_open(self._open.get(open_key)))
        if tally.seq == seq:
            return
        self._tallies[key] = dump(tally)
        if open_ is not None:
            self._open[open_key] = dump(open_)
        self._count(partition, counts)

    def _feedback(self, partition: int, event: Feedback) -> None:
        key = orjson.dumps([event.conversation_id, event.request_id])
        open_key = _open_key(partition, event.conversation_id)
        open_ = load_open(self._open.get(open_key))
        counts, rating = self._rules.feedback(event, load_rating(self._ratings.get(key)), open_)
        if rating is None:
            return
        self._ratings[key] = dump(rating)
        if open_ is not None:
            self._open[open_key] = dump(open_)
        self._count(partition, counts)

    def settle(self, partition: int, now: float) -> None:
        """Count the outcomes of ``partition`` whose window has closed by ``now``."""
        prefix = b"[%d," % partition
        settled: list[tuple[bytes, list[Count]]] = []
        for key, value in self._open.items():
            open_ = load_open(value) if key.startswith(prefix) else None
            if open_ is not None and (counts := self._rules.close(open_, now)) is not None:
                settled.append((key, counts))
        for key, counts in settled:
            del self._open[key]
            self._count(partition, counts)

    def _count(self, partition: int, counts: list[Count]) -> None:
        for count in counts:
            key = series_key(partition, count.figure, count.labels)
            for window in (count.window,) if count.window else tuple(Window):
                self._windows[window].relative_to(count.at)[key] += count.delta
            if count.delta > 0 and count.window in (None, Window.DAY):
                _child(metrics.OUTCOMES_TOTAL[count.figure], count.labels).inc(count.delta)
            elif count.delta < 0 and count.figure is Figure.RATINGS:
                metrics.OUTCOME_RATINGS_REPLACED.labels(*count.labels).inc(-count.delta)

    def show(self) -> None:
        """Set the gauges to the current hour's and day's values of this worker's
        partitions; a series gone from the window (a new hour) shows 0."""
        shown: set[tuple[Window, Figure, tuple[str, ...]]] = set()
        for window, table in self._windows.items():
            values = totals(cast(WindowedItemsView, table.items()).now())
            for figure in Figure:
                if not figure.labels:
                    values.setdefault((figure, ()), 0)
            for (figure, labels), value in values.items():
                metrics.OUTCOMES_CURRENT[figure].labels(window.value, *labels).set(value)
                shown.add((window, figure, labels))
        for window, figure, labels in self._shown - shown:
            metrics.OUTCOMES_CURRENT[figure].labels(window.value, *labels).set(0)
        self._shown |= shown
        metrics.OUTCOMES_OPEN.set(len(self._open))
        metrics.OUTCOMES_REFRESHED.set(time.time())


def _open_key(partition: int, conversation_id: str) -> bytes:
    """The open-outcome table's key: a tick settles the conversations of its partition."""
    return orjson.dumps([partition, conversation_id])


def _child(metric: Counter, labels: tuple[str, ...]) -> Counter:
    return metric.labels(*labels) if labels else metric
