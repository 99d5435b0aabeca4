"""Authentication on Starlette's ``AuthenticationBackend``.

Two kinds of credentials, each carrying scopes:

- API keys in ``X-API-Key`` or ``Authorization: ApiKey`` (services, scrapers), compared
  by SHA-256 digest in constant time; a publishable key (``gateway/keys.py``) counts only
  from its allowed origins, anything else is refused 403 ``origin_not_allowed``;
- JWTs in ``Authorization: Bearer`` (users, from ``POST /v1/auth/token``, or signed by a
  customer's site: their customer claims make a verified customer).

Browsers cannot set headers on a WebSocket, but they can offer subprotocols, so ``/v1/ws``
also takes the credential from ``Sec-WebSocket-Protocol``: ``techgear.key.<b64>`` or
``techgear.bearer.<b64>``, the credential base64url-encoded without padding (an RFC 7230
token whatever the key is made of), offered beside ``techgear.v1``, the only subprotocol the
server selects. A credential never travels in a URL: URLs end up in logs and histories.
No credential gives an anonymous user; a wrong one is refused with 401.
"""

from __future__ import annotations

import base64
import binascii

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
)
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection

from gateway.errors import ApiError
from gateway.keys import KeyRing
from gateway.tokens import TokenService
from runtime.errors import TokenError
from schemas import Customer

API_KEY_HEADER = "x-api-key"
SUBPROTOCOL = "techgear.v1"
KEY_SUBPROTOCOL_PREFIX = "techgear.key."
BEARER_SUBPROTOCOL_PREFIX = "techgear.bearer."
ORIGIN_NOT_ALLOWED = "origin_not_allowed"


class Principal(BaseUser):
    """An authenticated caller; ``identity`` names its rate-limit bucket and owns its
    conversations. ``expires_at`` (Unix seconds) is when its credential stops being valid;
    an API key never does."""

    def __init__(
        self,
        identity: str,
        *,
        expires_at: int | None = None,
        publishable: bool = False,
        origin_allowed: bool = True,
        verified_customer: Customer | None = None,
    ) -> None:
        self._identity = identity
        self.expires_at = expires_at
        self.publishable = publishable
        """Shared by every visitor of a page: conversations resume by token only."""
        self.origin_allowed = origin_allowed
        self.verified_customer = verified_customer

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self._identity

    @property
    def identity(self) -> str:
        return self._identity

    def customer(self, asserted: Customer | None) -> tuple[Customer | None, bool]:
        """The requester and whether it is verified: the credential's customer when it
        carries one (an asserted one is then ignored, so no field of a verified requester
        comes from the caller), else what the caller asserted, unverified."""
        if self.verified_customer is not None:
            return self.verified_customer, True
        return asserted, False


class CredentialsBackend(AuthenticationBackend):
    def __init__(self, keys: KeyRing, tokens: TokenService) -> None:
        self._keys = keys
        self._tokens = tokens

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        api_key = conn.headers.get(API_KEY_HEADER)
        bearer, authorization_key = _authorization(conn.headers.get("authorization"))
        api_key = api_key or authorization_key
        if conn.scope["type"] == "websocket":
            offered: list[str] = conn.scope.get("subprotocols", [])
            api_key = api_key or _subprotocol_credential(offered, KEY_SUBPROTOCOL_PREFIX)
            bearer = bearer or _subprotocol_credential(offered, BEARER_SUBPROTOCOL_PREFIX)
        if api_key is not None:
            entry = self._keys.match(api_key)
            if entry is None:
                raise AuthenticationError("invalid API key")
            principal = Principal(
                f"key:{entry.key_id}",
                publishable=entry.publishable,
                origin_allowed=entry.accepts_origin(conn.headers.get("origin")),
            )
            return AuthCredentials(sorted(entry.scopes)), principal
        if bearer is not None:
            try:
                claims = self._tokens.verify(bearer)
            except TokenError as exc:
                raise AuthenticationError(f"invalid token: {exc}") from exc
            principal = Principal(
                f"user:{claims.subject}",
                expires_at=claims.expires_at,
                verified_customer=claims.customer,
            )
            return AuthCredentials(sorted(claims.scopes)), principal
        return None


def authorize(conn: HTTPConnection, scope: str) -> Principal:
    """The caller; 401 without valid credentials, 403 with credentials that lack
    ``scope`` or a publishable key from an origin it is not allowed on."""
    if not conn.user.is_authenticated:
        raise HTTPException(
            401,
            "missing credentials: send an API key in X-API-Key or a bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="techgear"'},
        )
    if scope not in conn.auth.scopes:
        raise HTTPException(403, f"this credential lacks the {scope!r} scope")
    principal: Principal = conn.user
    if not principal.origin_allowed:
        raise ApiError(403, ORIGIN_NOT_ALLOWED, "this key is not allowed from this Origin")
    return principal


def _authorization(header: str | None) -> tuple[str | None, str | None]:
    """(bearer token, API key) from ``Authorization``; ``ApiKey <key>`` suits scrapers
    such as Prometheus that can set this header but no other."""
    if not header:
        return None, None
    kind, _, value = header.partition(" ")
    if not value.strip() or kind.lower() not in {"bearer", "apikey"}:
        raise AuthenticationError("Authorization must be 'Bearer <token>' or 'ApiKey <key>'")
    return (value.strip(), None) if kind.lower() == "bearer" else (None, value.strip())


def _subprotocol_credential(offered: list[str], prefix: str) -> str | None:
    for protocol in offered:
        if protocol.startswith(prefix):
            encoded = protocol.removeprefix(prefix)
            try:
                return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
            except (binascii.Error, UnicodeDecodeError) as exc:
                raise AuthenticationError(f"{prefix}<credential> is not base64url") from exc
    return None
