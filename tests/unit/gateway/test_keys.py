"""Key kinds in ``API_KEY_DIGESTS``: secret keys, and publishable keys bound to origins."""

from __future__ import annotations

import pytest

from gateway.keys import KeyRing, create_key, digest, parse_entries
from runtime.errors import KeyConfigError

SHOP = "https://shop.example"


def test_entry_without_options_is_a_secret_key_accepted_from_anywhere() -> None:
    [entry] = parse_entries(f"{digest('k').hex()}=chat+admin")
    assert not entry.publishable and entry.accepts_origin(None)
    assert entry.accepts_origin("https://evil.example")


def test_publishable_entry_accepts_only_its_origins() -> None:
    [entry] = parse_entries(
        f"{digest('k').hex()}=chat;publishable={SHOP}|https://WWW.Shop.example/"
    )
    assert entry.publishable and entry.scopes == {"chat"}
    assert entry.accepts_origin(SHOP) and entry.accepts_origin("https://www.shop.example")
    for origin in (None, "null", "http://shop.example", "https://shop.example.evil.example"):
        assert not entry.accepts_origin(origin)


@pytest.mark.parametrize(
    "option",
    [
        f"chat+admin;publishable={SHOP}",  # publishable keys carry chat only
        "escalations:read;publishable=" + SHOP,
        "chat;publishable=",
        "chat;publishable=shop.example",
        "chat;publishable=https://shop.example/path",
        "chat;publishable=javascript:alert(1)",
        f"chat;public={SHOP}",
    ],
)
def test_bad_publishable_entries_are_refused(option: str) -> None:
    with pytest.raises(KeyConfigError):
        parse_entries(f"{digest('k').hex()}={option}")


def test_created_publishable_key_matches_its_entry() -> None:
    key, entry = create_key(frozenset({"chat"}), frozenset({SHOP}))
    [parsed] = parse_entries(entry)
    assert key.startswith("tgp_") and key not in entry
    assert KeyRing([parsed]).match(key) == parsed and parsed.origins == {SHOP}


def test_publishable_key_with_another_scope_cannot_be_created() -> None:
    with pytest.raises(KeyConfigError):
        create_key(frozenset({"chat", "admin"}), frozenset({SHOP}))
