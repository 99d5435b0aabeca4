"""Users with bcrypt-hashed passwords, kept in a JSON file (``USERS_FILE``).

The file maps a username to its hash and scopes; ``techgear users add`` writes it.
A file suits a handful of operator and integration accounts; it is re-read when it
changes, so adding a user needs no restart. Only ``concurrent_checks`` password checks run
at once, so a flood of sign-ins cannot take every core; the rest wait up to ``wait_s``.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import orjson

_ROUNDS = 12
MAX_PASSWORD_BYTES = 72
"""bcrypt's limit; a longer password can never have been stored, so it never matches."""
# Checked against when the user does not exist, so timing does not reveal which names do.
_DUMMY_HASH = bcrypt.hashpw(b"not-a-password", bcrypt.gensalt(_ROUNDS))


class PasswordChecksBusy(Exception):
    """Every password check slot stayed taken for the whole wait."""


@dataclass(frozen=True, slots=True)
class User:
    username: str
    password_hash: bytes
    scopes: frozenset[str]


class UserStore:
    def __init__(self, path: Path, *, concurrent_checks: int = 2, wait_s: float = 2.0) -> None:
        self._path = path
        self._checks = asyncio.Semaphore(concurrent_checks)
        self._wait_s = wait_s
        self._loaded_mtime: float | None = None
        self._users: dict[str, User] = {}

    def _load(self) -> dict[str, User]:
        try:
            mtime = self._path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if mtime != self._loaded_mtime:
            raw = orjson.loads(self._path.read_bytes())
            self._users = {
                name: User(name, entry["password_hash"].encode(), frozenset(entry["scopes"]))
                for name, entry in raw.items()
            }
            self._loaded_mtime = mtime
        return self._users

    async def authenticate(self, username: str, password: str) -> User | None:
        user = self._load().get(username)
        secret = password.encode()
        storable = len(secret) <= MAX_PASSWORD_BYTES
        hashed = user.password_hash if user and storable else _DUMMY_HASH
        try:
            async with asyncio.timeout(self._wait_s):
                await self._checks.acquire()
        except TimeoutError as exc:
            raise PasswordChecksBusy from exc
        try:
            # bcrypt takes ~0.2 s by design; keep it off the event loop. Every refusal pays
            # the same price, so timing tells nothing about which names or lengths exist.
            matches = await asyncio.to_thread(bcrypt.checkpw, secret[:MAX_PASSWORD_BYTES], hashed)
        finally:
            self._checks.release()
        return user if matches and user and storable else None

    def add(self, username: str, password: str, granted: frozenset[str]) -> None:
        users = {
            name: {"password_hash": u.password_hash.decode(), "scopes": sorted(u.scopes)}
            for name, u in self._load().items()
        }
        if len(password.encode()) > MAX_PASSWORD_BYTES:
            raise ValueError(f"a password may have at most {MAX_PASSWORD_BYTES} bytes (bcrypt)")
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(_ROUNDS))
        users[username] = {"password_hash": hashed.decode(), "scopes": sorted(granted)}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=self._path.parent, delete=False) as tmp:
            tmp.write(orjson.dumps(users, option=orjson.OPT_INDENT_2))
        os.chmod(tmp.name, 0o600)
        os.replace(tmp.name, self._path)
