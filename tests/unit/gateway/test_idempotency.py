"""The ids of a call, derived from the caller's ``X-Request-ID``."""

from __future__ import annotations

import re

from gateway.auth import Principal
from gateway.idempotency import KEY_LABEL, CallIds
from gateway.tokens import TokenService

ALICE, BOB = Principal("key:alice"), Principal("user:bob")
PAGE = Principal("key:shop-page", publishable=True)


def call_ids(secret: str = "s" * 32) -> CallIds:
    tokens = TokenService(algorithm="HS256", signing_key=secret, verifying_key=secret, ttl_s=60)
    return CallIds(tokens.derived_key(KEY_LABEL))


def test_the_same_call_gets_the_same_ids_from_any_gateway_sharing_the_secret() -> None:
    one, another = call_ids(), call_ids()

    assert one.new_conversation_id(ALICE, "retry-1") == another.new_conversation_id(
        ALICE, "retry-1"
    )
    assert one.request_id(ALICE, "c-1", "retry-1") == another.request_id(ALICE, "c-1", "retry-1")


def test_ids_look_like_generated_ones() -> None:
    ids = call_ids()
    for derived in (ids.new_conversation_id(ALICE, "r"), ids.request_id(ALICE, "c", "r")):
        assert re.fullmatch(r"[0-9a-f]{32}", derived)


def test_another_principal_conversation_or_request_id_gets_other_ids() -> None:
    ids = call_ids()
    request = ids.request_id(ALICE, "c-1", "retry-1")

    assert ids.request_id(BOB, "c-1", "retry-1") != request
    assert ids.request_id(ALICE, "c-2", "retry-1") != request
    assert ids.request_id(ALICE, "c-1", "retry-2") != request
    assert ids.new_conversation_id(BOB, "retry-1") != ids.new_conversation_id(ALICE, "retry-1")


def test_a_new_conversation_and_a_request_never_share_an_id() -> None:
    ids = call_ids()
    assert ids.new_conversation_id(ALICE, "r") != ids.request_id(ALICE, "new", "r")


def test_gateways_with_another_secret_derive_other_ids() -> None:
    assert call_ids("t" * 32).request_id(ALICE, "c", "r") != call_ids().request_id(ALICE, "c", "r")


def test_a_publishable_key_starts_a_new_conversation_on_every_call() -> None:
    ids = call_ids()
    assert ids.new_conversation_id(PAGE, "r-1") != ids.new_conversation_id(PAGE, "r-1")
    assert ids.request_id(PAGE, "c-1", "r-1") == ids.request_id(PAGE, "c-1", "r-1")


def test_without_a_supplied_request_id_every_call_is_new() -> None:
    ids = call_ids()
    assert ids.request_id(ALICE, "c-1", None) != ids.request_id(ALICE, "c-1", None)
    assert ids.new_conversation_id(ALICE, None) != ids.new_conversation_id(ALICE, None)


def test_the_derived_key_is_neither_the_secret_nor_another_purposes() -> None:
    tokens = TokenService(algorithm="HS256", signing_key="s" * 32, verifying_key="s" * 32, ttl_s=60)

    assert tokens.derived_key(KEY_LABEL) != tokens.derived_key("other")
    assert tokens.derived_key(KEY_LABEL) != b"s" * 32 and len(tokens.derived_key(KEY_LABEL)) == 32
