from __future__ import annotations

import hashlib

from schemas.answer_cache import AnswerScope, answer_digest, decode_scope

SCOPE = AnswerScope(kb_version=3, responder="offline", prompt_version="1")


def test_approvals_move_every_key_and_none_keeps_the_keys_of_before() -> None:
    digest = answer_digest(question="How long does a refund take?", context=None, scope=SCOPE)
    approving = SCOPE.model_copy(update={"approvals": "a1b2"})

    assert digest != answer_digest(
        question="How long does a refund take?", context=None, scope=approving
    )
    # A scope published by a worker without approved answers reads as having none.
    older = decode_scope(b'{"kb_version": 3, "responder": "offline", "prompt_version": "1"}')
    assert older == SCOPE
    assert (
        answer_digest(question="how long does a refund take", context=None, scope=SCOPE) == digest
    )
    before_approvals = "\x1f".join(["how long does a refund take", "", "3", "offline", "1"])
    assert digest == hashlib.sha256(before_approvals.encode()).hexdigest()
