from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from gateway.users import PasswordChecksBusy, User, UserStore


async def test_added_user_authenticates_with_the_right_password_only(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("asha", "correct horse battery staple", frozenset({"chat"}))

    user = await store.authenticate("asha", "correct horse battery staple")

    assert user is not None and user.scopes == {"chat"}
    assert await store.authenticate("asha", "wrong") is None
    assert await store.authenticate("nobody", "correct horse battery staple") is None
    assert b"correct horse" not in (tmp_path / "users.json").read_bytes()
    assert (tmp_path / "users.json").stat().st_mode & 0o777 == 0o600


async def test_a_second_store_sees_users_added_later(tmp_path: Path) -> None:
    reader = UserStore(tmp_path / "users.json")
    assert await reader.authenticate("ravi", "pw-123456") is None

    UserStore(tmp_path / "users.json").add("ravi", "pw-123456", frozenset({"chat", "admin"}))

    user = await reader.authenticate("ravi", "pw-123456")
    assert user is not None and user.scopes == {"chat", "admin"}


async def test_passwords_beyond_bcrypts_limit_are_refused_not_crashed(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json")
    store.add("asha", "a" * 72, frozenset({"chat"}))

    assert await store.authenticate("asha", "a" * 73) is None
    assert await store.authenticate("asha", "a" * 72) is not None
    with pytest.raises(ValueError, match="72 bytes"):
        store.add("ravi", "é" * 40, frozenset({"chat"}))


async def test_checks_beyond_the_concurrency_bound_wait_then_give_up(tmp_path: Path) -> None:
    UserStore(tmp_path / "users.json").add("asha", "pw-123456", frozenset({"chat"}))
    store = UserStore(tmp_path / "users.json", concurrent_checks=1, wait_s=0.01)

    outcomes = await asyncio.gather(
        store.authenticate("asha", "pw-123456"),
        store.authenticate("asha", "pw-123456"),
        return_exceptions=True,
    )

    assert sum(isinstance(o, PasswordChecksBusy) for o in outcomes) == 1
    assert any(isinstance(o, User) for o in outcomes)
