from __future__ import annotations

import time
import uuid
from datetime import timedelta

from gateway.reminders import HandoffReminders
from gateway.transcripts import LocalTranscripts
from runtime.errors import BrokerUnavailableError
from schemas import AgentAction, HandoffState, utc_now
from tests.handoff_events import handoff


class Broker:
    def __init__(self) -> None:
        self.refusing = False
        self.published: list[AgentAction] = []

    async def publish_action(self, action: AgentAction) -> None:
        if self.refusing:
            raise BrokerUnavailableError("Kafka did not accept the action")
        self.published.append(action)


async def test_reminder_kafka_refused_is_published_by_a_later_tick_once() -> None:
    store, broker, cid = LocalTranscripts(ttl_s=3600), Broker(), uuid.uuid4().hex
    since = utc_now() - timedelta(minutes=30)
    await store.append(
        handoff(
            cid, 4, HandoffState.AWAITING_AGENT, occurred_at=since,
            expected_response_by=since + timedelta(minutes=15),
        )
    )  # fmt: skip
    reminders = HandoffReminders(
        store,
        broker,  # type: ignore[arg-type]
        interval_s=60,
        overdue_after_s=0,
    )

    broker.refusing = True
    await reminders.tick(time.time())
    broker.refusing = False
    await reminders.tick(time.time())
    await reminders.tick(time.time())

    assert [(a.conversation_id, a.action_id) for a in broker.published] == [(cid, "remind:4")]
