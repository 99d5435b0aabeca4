"""The gateways' timer over conversations awaiting a person: it keeps the handoff gauges
and, once a wait is overdue (``HANDOFF_OVERDUE_AFTER_S`` past the reply's expected time),
publishes one ``remind`` action for it, which the worker turns into a notice to the
customer. One gateway reminds each wait: the store's claim (a Redis ``SET NX``) decides,
and the action id ``remind:<seq of the handoff>`` is applied once by the worker anyway. A
claim whose action Kafka refused is given up, so a later tick (of any gateway) tries again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.exceptions import RedisError

from gateway.bridge import KafkaBridge
from gateway.metrics import HANDOFF_AWAITING, HANDOFF_OLDEST_WAIT, HANDOFF_OVERDUE
from gateway.transcripts import Awaiting, TranscriptStore
from runtime.errors import BrokerUnavailableError
from schemas import AgentAction, AgentActionKind, new_id

log = logging.getLogger(__name__)

PRINCIPAL = "system:reminders"


class HandoffReminders:
    def __init__(
        self,
        store: TranscriptStore,
        bridge: KafkaBridge,
        *,
        interval_s: float,
        overdue_after_s: float,
    ) -> None:
        self._store = store
        self._bridge = bridge
        self._interval_s = interval_s
        self._overdue_after_s = overdue_after_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="handoff-reminders")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.tick(time.time())
            except (RedisError, OSError) as exc:
                log.warning("awaiting conversations unavailable: %r", exc)
            await asyncio.sleep(self._interval_s)

    async def tick(self, now: float) -> None:
        waits = await self._store.awaiting()
        overdue = [w for w in waits if now >= w.expected_by + self._overdue_after_s]
        HANDOFF_AWAITING.set(len(waits))
        HANDOFF_OVERDUE.set(len(overdue))
        HANDOFF_OLDEST_WAIT.set(max((now - w.since for w in waits), default=0.0))
        for wait in overdue:
            if await self._store.claim_reminder(wait.conversation_id, wait.handoff_seq):
                await self._remind(wait)

    async def _remind(self, wait: Awaiting) -> None:
        action = AgentAction(
            request_id=new_id(),
            conversation_id=wait.conversation_id,
            correlation_id=new_id(),
            action_id=f"remind:{wait.handoff_seq}",
            action=AgentActionKind.REMIND,
            source="system",
            principal=PRINCIPAL,
        )
        try:
            await self._bridge.publish_action(action)
        except BrokerUnavailableError as exc:
            log.warning(
                "reminder for a wait since seq %d not published; retrying later: %r",
                wait.handoff_seq,
                exc,
            )
            await self._store.release_reminder(wait.conversation_id, wait.handoff_seq)
