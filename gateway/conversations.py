"""Which conversation a caller may use, for ``POST /v1/chat`` and ``/v1/ws`` alike.

A caller names a conversation by its id, by a conversation token, or both (they must
agree); naming neither starts a new one. The token must have been issued to this very
principal; the id alone suffices for secret keys and users (the ownership registry
decides), never for a publishable key, which every visitor of a page shares. Every
refusal looks the same, ``conversation_not_found``, whether the conversation is someone
else's or does not exist: the answer reveals nothing about other callers' ids.
"""

from __future__ import annotations

from gateway.auth import Principal
from gateway.ownership import ConversationRegistry
from gateway.tokens import ConversationGrant, TokenService
from runtime.errors import ConversationNotFoundError, TokenError
from schemas import new_id

CONVERSATION_NOT_FOUND = "conversation_not_found"
TOKEN_HEADER = "x-conversation-token"
TOKEN_SUBPROTOCOL_PREFIX = "techgear.conversation."
"""A WebSocket offers its token as this subprotocol (a JWT is an RFC 7230 token as is)."""


def offered_token(subprotocols: list[str]) -> str | None:
    return next(
        (
            p.removeprefix(TOKEN_SUBPROTOCOL_PREFIX)
            for p in subprotocols
            if p.startswith(TOKEN_SUBPROTOCOL_PREFIX)
        ),
        None,
    )


class ConversationAccess:
    def __init__(self, registry: ConversationRegistry, tokens: TokenService, ttl_s: int) -> None:
        self._registry = registry
        self._tokens = tokens
        self._ttl_s = ttl_s

    async def open(
        self,
        principal: Principal,
        requested: str | None,
        token: str | None,
        *,
        new_conversation_id: str | None = None,
    ) -> str:
        """The id of the conversation ``principal`` may use, claimed for it (when naming
        none, a new one: ``new_conversation_id`` or a random id); raises
        ``ConversationNotFoundError``."""
        conversation_id = requested
        if token is not None:
            try:
                grant = self._tokens.verify_conversation(token)
            except TokenError as exc:
                raise ConversationNotFoundError from exc
            if grant.principal != principal.identity or requested not in {
                None,
                grant.conversation_id,
            }:
                raise ConversationNotFoundError
            conversation_id = grant.conversation_id
        elif requested is not None and principal.publishable:
            raise ConversationNotFoundError
        conversation_id = conversation_id or new_conversation_id or new_id()
        if not await self._registry.claim(conversation_id, principal.identity):
            raise ConversationNotFoundError
        return conversation_id

    async def owns(self, principal: Principal, conversation_id: str, token: str | None) -> bool:
        """Whether ``principal`` may act on ``conversation_id`` (rate its answers), by the
        rules of :meth:`open` but without claiming it or naming a new one."""
        if token is not None:
            try:
                grant = self._tokens.verify_conversation(token)
            except TokenError:
                return False
            if (grant.principal, grant.conversation_id) != (principal.identity, conversation_id):
                return False
        elif principal.publishable:
            return False
        return await self._registry.owned_by(conversation_id, principal.identity)

    def token(self, conversation_id: str, principal: Principal) -> str:
        """A token that brings ``principal`` back into ``conversation_id``."""
        grant = ConversationGrant(conversation_id, principal.identity)
        return self._tokens.issue_conversation(grant, self._ttl_s)
