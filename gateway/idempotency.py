"""The ids of a ``POST /v1/chat`` call, the same for every retry of it.

A caller that sends an ``X-Request-ID`` names its call: a retry with the same value, on
this gateway or another, gets the same ``request_id`` and, when the call starts a
conversation, the same new ``conversation_id``; the worker recognises the request as
applied and sends the answer it kept again instead of answering twice. Each id is an HMAC,
under a key derived from the secret every gateway shares, of what it is, the principal,
the conversation and the supplied value: the caller's text never reaches Kafka or a
metric, and another principal sending the same value gets unrelated ids. The message is
not in it: one ``X-Request-ID`` names one call, so a different message sent with a value
already used is that call again and gets its answer. Without the header every call gets
random ids.

A publishable key is every visitor of a page, so a conversation it starts always gets a
random id: derived, one visitor's ``X-Request-ID`` would lead another into the first
one's conversation. Its calls in a conversation (named by the visitor's token) are
retried safely like any other's.
"""

from __future__ import annotations

import hashlib
import hmac

import orjson

from gateway.auth import Principal
from schemas import new_id

KEY_LABEL = "call-ids"
"""The purpose of the key derived from the gateways' shared secret."""
_NEW_CONVERSATION = "new"
_ID_HEX_CHARS = 32
"""As long as ``schemas.new_id()``'s ids."""


class CallIds:
    def __init__(self, key: bytes) -> None:
        self._key = key

    def new_conversation_id(self, principal: Principal, supplied: str | None) -> str:
        """The id of the conversation the call starts, if it starts one."""
        named = None if principal.publishable else supplied
        return self._derive("conversation", principal.identity, _NEW_CONVERSATION, named)

    def request_id(self, principal: Principal, conversation_id: str, supplied: str | None) -> str:
        return self._derive("request", principal.identity, conversation_id, supplied)

    def _derive(self, kind: str, principal: str, conversation: str, supplied: str | None) -> str:
        if supplied is None:
            return new_id()
        named = orjson.dumps([kind, principal, conversation, supplied])  # unambiguous
        return hmac.new(self._key, named, hashlib.sha256).hexdigest()[:_ID_HEX_CHARS]
