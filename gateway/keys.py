"""API keys: configured as SHA-256 digests with scopes, never as plaintext.

``API_KEY_DIGESTS`` holds comma-separated entries ``<sha256 hex>=<scope>+<scope>``
(scopes default to ``chat``). Rotation is adding the new key's entry, moving clients,
then removing the old one. ``techgear keys create`` prints a new key and its entry.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from gateway import scopes

_KEY_PREFIX = "tgk_"


class KeyConfigError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class ApiKeyEntry:
    digest: bytes
    scopes: frozenset[str]

    @property
    def key_id(self) -> str:
        """A short, non-secret name for logs and rate-limit buckets."""
        return self.digest.hex()[:12]


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def parse_entries(config: str) -> list[ApiKeyEntry]:
    entries = []
    for raw in filter(None, (part.strip() for part in config.split(","))):
        hex_digest, _, scope_text = raw.partition("=")
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
        entries.append(ApiKeyEntry(value, granted))
    return entries


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


def create_key(granted: frozenset[str]) -> tuple[str, str]:
    """A new key and its ``API_KEY_DIGESTS`` entry."""
    key = _KEY_PREFIX + secrets.token_urlsafe(32)
    return key, f"{digest(key).hex()}={'+'.join(sorted(granted))}"
