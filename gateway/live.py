"""The conversations whose sockets are open on this gateway, and the hand-off of each
conversation event to them as the bridge reads it (``gateway/bridge.py``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from gateway.conversation_events import ConversationEvent

LiveHandler = Callable[[ConversationEvent], None]
"""Called on the event loop for each event of the watched conversation; must not block."""


Positions = Callable[[], Mapping[int, int]]
"""The reader's next offset of each partition of ``support.conversation-events``."""


class LiveConversations:
    def __init__(self, positions: Positions) -> None:
        self._handlers: dict[str, set[LiveHandler]] = {}
        self._positions = positions

    def watch(self, conversation_id: str, handler: LiveHandler) -> dict[int, int]:
        """From now on ``handler`` gets the conversation's events. Returns where that starts
        per partition: the events before those offsets are for the transcript store."""
        self._handlers.setdefault(conversation_id, set()).add(handler)
        return dict(self._positions())

    def unwatch(self, conversation_id: str, handler: LiveHandler) -> None:
        handlers = self._handlers.get(conversation_id)
        if handlers is not None:
            handlers.discard(handler)
            if not handlers:
                del self._handlers[conversation_id]

    def __contains__(self, conversation_id: str) -> bool:
        return conversation_id in self._handlers

    def deliver(self, event: ConversationEvent) -> None:
        for handler in list(self._handlers.get(event.conversation_id, ())):
            handler(event)
