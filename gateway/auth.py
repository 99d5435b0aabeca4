"""Authentication on Starlette's ``AuthenticationBackend``.

Two kinds of credentials, each carrying scopes:

- API keys in ``X-API-Key`` or ``Authorization: ApiKey`` (services, scrapers), compared
  by SHA-256 digest in constant time;
- JWTs in ``Authorization: Bearer`` (users, from ``POST /v1/auth/token``).

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

from gateway.keys import KeyRing
from gateway.tokens import TokenError, TokenService

API_KEY_HEADER = "x-api-key"
SUBPROTOCOL = "techgear.v1"
KEY_SUBPROTOCOL_PREFIX = "techgear.key."
BEARER_SUBPROTOCOL_PREFIX = "techgear.bearer."


class Principal(BaseUser):
    """An authenticated caller; ``identity`` names its rate-limit bucket. ``expires_at``
    (Unix seconds) is when its credential stops being valid; an API key never does."""

    def __init__(self, identity: str, expires_at: int | None = None) -> None:
        self._identity = identity
        self.expires_at = expires_at

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self._identity

    @property
    def identity(self) -> str:
        return self._identity


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
            return AuthCredentials(sorted(entry.scopes)), Principal(f"key:{entry.key_id}")
        if bearer is not None:
            try:
                claims = self._tokens.verify(bearer)
            except TokenError as exc:
                raise AuthenticationError(f"invalid token: {exc}") from exc
            principal = Principal(f"user:{claims.subject}", expires_at=claims.expires_at)
            return AuthCredentials(sorted(claims.scopes)), principal
        return None


def authorize(conn: HTTPConnection, scope: str) -> None:
    """401 without valid credentials, 403 with credentials that lack ``scope``."""
    if not conn.user.is_authenticated:
        raise HTTPException(
            401,
            "missing credentials: send an API key in X-API-Key or a bearer token",
            headers={"WWW-Authenticate": 'Bearer realm="techgear"'},
        )
    if scope not in conn.auth.scopes:
        raise HTTPException(403, f"this credential lacks the {scope!r} scope")


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
