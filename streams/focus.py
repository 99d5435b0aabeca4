"""Passages cut down to the sentences an answer may use: none that names a product the
customer did not ask about.

Policies, guides and the FAQ mention products by name ("The Power Bank Ultra 20000mAh takes
about 6 to 7 hours to recharge"); asked about the Power Bank Slim, such a sentence states
another product's fact, whichever document it sits in.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace

from streams.catalogue import Catalogue
from streams.sentences import split_sentences
from streams.store import Passage


def focused(
    passages: Sequence[Passage], catalogue: Catalogue, allowed: Collection[str]
) -> list[Passage]:
    """``passages`` without the sentences that name a product whose page is not in
    ``allowed`` (the documents the question may cite); a passage left empty is dropped."""
    others = [p.title.lower() for p in catalogue.products if p.doc_id not in allowed]
    kept: list[Passage] = []
    for passage in passages:
        sentences = split_sentences(passage.text)
        mine = [s for s in sentences if not any(title in s.lower() for title in others)]
        if len(mine) == len(sentences):
            kept.append(passage)
        elif mine:
            kept.append(replace(passage, text="\n".join(mine)))
    return kept
