from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.authentication import AuthenticationError
from starlette.requests import HTTPConnection

from gateway.auth import CredentialsBackend
from gateway.keys import KeyRing, create_key, digest, parse_entries
from gateway.tokens import AUDIENCE, ISSUER, TokenService
from runtime.errors import KeyConfigError, TokenError

SECRET = "s" * 32


def connection(
    headers: dict[str, str], kind: str = "http", query: str = "", subprotocols: tuple[str, ...] = ()
) -> HTTPConnection:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": kind, "headers": raw, "query_string": query.encode(), "path": "/"}
    if kind == "websocket":
        scope["subprotocols"] = list(subprotocols)
    return HTTPConnection(scope)


def b64url(credential: str) -> str:
    return base64.urlsafe_b64encode(credential.encode()).decode().rstrip("=")


def hs256() -> TokenService:
    return TokenService(algorithm="HS256", signing_key=SECRET, verifying_key=SECRET, ttl_s=600)


def backend(*entries: str) -> CredentialsBackend:
    return CredentialsBackend(KeyRing(parse_entries(",".join(entries))), hs256())


def test_created_key_matches_its_entry_with_its_scopes() -> None:
    key, entry = create_key(frozenset({"chat", "admin"}))
    [parsed] = parse_entries(entry)
    assert KeyRing([parsed]).match(key) == parsed and parsed.scopes == {"chat", "admin"}
    assert key not in entry


@pytest.mark.parametrize("entry", ["zz=chat", "abcd=chat", f"{digest('k').hex()}=root"])
def test_bad_key_configuration_is_refused(entry: str) -> None:
    with pytest.raises(KeyConfigError):
        parse_entries(entry)


async def test_rotation_accepts_old_and_new_keys() -> None:
    auth = backend(f"{digest('old').hex()}=chat", f"{digest('new').hex()}=chat")
    for key in ("old", "new"):
        result = await auth.authenticate(connection({"X-API-Key": key}))
        assert result is not None and result[0].scopes == ["chat"]


async def test_wrong_key_is_refused() -> None:
    with pytest.raises(AuthenticationError):
        await backend(f"{digest('right').hex()}").authenticate(connection({"X-API-Key": "wrong"}))


async def test_no_credentials_is_anonymous() -> None:
    assert await backend().authenticate(connection({})) is None


async def test_identity_does_not_reveal_the_key() -> None:
    result = await backend(digest("secret-key").hex()).authenticate(
        connection({"X-API-Key": "secret-key"})
    )
    assert result is not None and "secret-key" not in result[1].display_name


async def test_valid_token_authenticates_with_its_scopes() -> None:
    token = hs256().issue("asha", frozenset({"chat", "escalations:read"}))
    result = await backend().authenticate(connection({"Authorization": f"Bearer {token}"}))
    assert result is not None
    assert (
        result[0].scopes == ["chat", "escalations:read"] and result[1].display_name == "user:asha"
    )


async def test_websocket_may_offer_the_token_as_a_subprotocol() -> None:
    token = hs256().issue("asha", frozenset({"chat"}))
    offered = ["techgear.v1", f"techgear.bearer.{b64url(token)}"]
    result = await backend().authenticate(connection({}, "websocket", subprotocols=offered))
    assert result is not None and result[1].display_name == "user:asha"


async def test_websocket_may_offer_any_api_key_as_a_subprotocol() -> None:
    key = "dev key/with+chars="
    entry = f"{hashlib.sha256(key.encode()).hexdigest()}=chat"
    offered = ["techgear.v1", f"techgear.key.{b64url(key)}"]
    result = await backend(entry).authenticate(connection({}, "websocket", subprotocols=offered))
    assert result is not None and result[0].scopes == ["chat"]


async def test_websocket_ignores_credentials_in_the_query() -> None:
    token = hs256().issue("asha", frozenset({"chat"}))
    query = f"access_token={token}&token={token}"
    assert await backend().authenticate(connection({}, "websocket", query)) is None


async def test_websocket_subprotocol_that_is_not_base64url_is_refused() -> None:
    offered = ["techgear.v1", "techgear.key.a"]
    with pytest.raises(AuthenticationError, match="base64url"):
        await backend().authenticate(connection({}, "websocket", subprotocols=offered))


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "sub": "asha",
        "scope": "chat",
        "iat": now,
        "exp": now + 60,
        "jti": "j1",
        "iss": ISSUER,
        "aud": AUDIENCE,
    }
    return base | overrides


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def forged_tokens() -> dict[str, str]:
    valid = jwt.encode(claims(), SECRET, algorithm="HS256")
    header, payload, signature = valid.split(".")
    other = jwt.encode(claims(sub="admin"), SECRET, algorithm="HS256").split(".")[1]
    unsigned = jwt.encode(claims(), None, algorithm="none")
    return {
        "expired": jwt.encode(claims(exp=int(time.time()) - 10), SECRET, algorithm="HS256"),
        "tampered": f"{header}.{other}.{signature}",
        "wrong_secret": jwt.encode(claims(), "x" * 32, algorithm="HS256"),
        "alg_none": unsigned,
        "missing_jti": jwt.encode(
            {k: v for k, v in claims().items() if k != "jti"}, SECRET, algorithm="HS256"
        ),
        "wrong_audience": jwt.encode(claims(aud="someone-else"), SECRET, algorithm="HS256"),
        "garbage": "not.a.token",
    }


@pytest.mark.parametrize("kind", sorted(forged_tokens()))
async def test_bad_tokens_are_refused(kind: str) -> None:
    token = forged_tokens()[kind]
    with pytest.raises(AuthenticationError, match="invalid token"):
        await backend().authenticate(connection({"Authorization": f"Bearer {token}"}))


def test_rs256_public_key_cannot_be_used_as_an_hmac_secret() -> None:
    private, public = rsa_pair()
    service = TokenService(algorithm="RS256", signing_key=private, verifying_key=public, ttl_s=60)
    assert service.verify(service.issue("asha", frozenset({"chat"}))).subject == "asha"
    # The classic attack: an HS256 token whose HMAC key is the server's public key.
    header = base64url(b'{"alg":"HS256","typ":"JWT"}')
    payload = base64url(json.dumps(claims(sub="admin", scope="admin")).encode())
    signature = base64url(hmac.new(public, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    with pytest.raises(TokenError):
        service.verify(f"{header}.{payload}.{signature}")


def test_short_hmac_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenService(algorithm="HS256", signing_key="short", verifying_key="short", ttl_s=60)


async def test_malformed_authorization_header_is_refused() -> None:
    with pytest.raises(AuthenticationError):
        await backend().authenticate(connection({"Authorization": "Basic abc"}))
