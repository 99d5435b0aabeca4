"""API keys: configured as SHA-256 digests with scopes, never as plaintext.

``API_KEY_DIGESTS`` holds comma-separated entries ``<sha256 hex>=<scope>+<scope>``
(scopes default to ``chat``). Rotation is adding the new key's entry, moving clients,
then removing the old one. ``techgear keys create`` prints a new key and its entry.

Two kinds of key:

- secret keys (``tgk_``), for servers: any scopes, kept out of browsers;
- publishable keys (``tgp_``), embedded in a public page and so known to anyone: entry
  ``<sha256 hex>=chat;publishable=https://shop.example|https://www.shop.example``. They
  carry only ``chat`` and are accepted only from their origins; since every visitor holds
  the same key, a visitor resumes a conversation only with its conversation token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from gateway import scopes
from runtime.errors import KeyConfigError

_KEY_PREFIX = "tgk_"
_PUBLISHABLE_KEY_PREFIX = "tgp_"
_PUBLISHABLE = "publishable"


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    digest: bytes
    scopes: frozenset[str]
    origins: frozenset[str] | None = None
    """The origins a publishable key is accepted from; ``None`` for a secret key."""

    @property
    def publishable(self) -> bool:
        return self.origins is not None

    def accepts_origin(self, origin: str | None) -> bool:
        return self.origins is None or (origin is not None and origin.lower() in self.origins)

    @property
    def key_id(self) -> str:
        """A short, non-secret name for logs and rate-limit buckets."""
        return self.digest.hex()[:12]


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_entries(config: str) -> list[ApiKeyEntry]:
    entries = []
    for raw in filter(None, (part.strip() for part in config.split(","))):
        hex_digest, _, grant = raw.partition("=")
        scope_text, _, option = grant.partition(";")
        try:
            value = bytes.fromhex(hex_digest)
        except ValueError as exc:
            raise KeyConfigError(f"API key digest {hex_digest[:8]}… is not hex") from exc
        if len(value) != hashlib.sha256().digest_size:
            raise KeyConfigError(f"API key digest {hex_digest[:8]}… is not a SHA-256 digest")
        granted = frozenset(scope_text.split("+")) if scope_text else frozenset({scopes.CHAT})
        unknown = granted - scopes.ALL
        if unknown:
            raise KeyConfigError(f"unknown scope(s) {sorted(unknown)} for key {hex_digest[:8]}…")
        origins = _publishable_origins(option, hex_digest) if option else None
        if origins is not None and granted != {scopes.CHAT}:
            raise KeyConfigError(f"publishable key {hex_digest[:8]}… may have the chat scope only")
        entries.append(ApiKeyEntry(value, granted, origins))
    return entries


def _publishable_origins(option: str, hex_digest: str) -> frozenset[str]:
    name, _, listed = option.partition("=")
    if name.strip() != _PUBLISHABLE:
        raise KeyConfigError(f"unknown option {name.strip()!r} for key {hex_digest[:8]}…")
    origins = frozenset(normalized_origin(o) for o in listed.split("|") if o.strip())
    if not origins:
        raise KeyConfigError(f"publishable key {hex_digest[:8]}… names no origin")
    return origins


def normalized_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, as browsers send ``Origin``."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc or parts.path not in {"", "/"}:
        raise KeyConfigError(f"{origin!r} is not an origin such as https://shop.example")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise KeyConfigError(f"{origin!r} is not an origin such as https://shop.example")
    return f"{parts.scheme}://{parts.netloc}".lower()


class KeyRing:
    def __init__(self, entries: list[ApiKeyEntry]) -> None:
        self._entries = entries

    def __bool__(self) -> bool:
        return bool(self._entries)

    def match(self, presented: str) -> ApiKeyEntry | None:
        """Constant-time comparison against every entry, so timing reveals nothing."""
        wanted = digest(presented)
        found = None
        for entry in self._entries:
            if hmac.compare_digest(wanted, entry.digest):
                found = entry
        return found


def create_key(granted: frozenset[str], origins: frozenset[str] = frozenset()) -> tuple[str, str]:
    """A new key and its ``API_KEY_DIGESTS`` entry; publishable when ``origins`` are given."""
    if not origins:
        key = _KEY_PREFIX + secrets.token_urlsafe(32)
        return key, f"{digest(key).hex()}={'+'.join(sorted(granted))}"
    if granted != {scopes.CHAT}:
        raise KeyConfigError("a publishable key may have the chat scope only")
    key = _PUBLISHABLE_KEY_PREFIX + secrets.token_urlsafe(32)
    listed = "|".join(sorted(normalized_origin(o) for o in origins))
    return key, f"{digest(key).hex()}={scopes.CHAT};{_PUBLISHABLE}={listed}"
