from __future__ import annotations

import pytest

from streams.lexical import LexicalIndex, tokenize
from streams.store import StoredChunk


def chunk(
    chunk_id: str, text: str, *, title: str = "Doc", aliases: tuple[str, ...] = ()
) -> StoredChunk:
    return StoredChunk(
        chunk_id=chunk_id,
        doc_id=chunk_id.split(":")[0],
        title=title,
        heading=title,
        category="faq",
        kind="",
        aliases=aliases,
        text=text,
    )


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Call 1800-123-4567 today", ["1800-123-4567", "18001234567"]),
        ("Write to support@techgear.com.", ["support@techgear.com"]),
        ("It costs ₹15,999 now", ["₹15999", "15999"]),
        ("It costs ₹ 899", ["₹899", "899"]),
        ("over 1,00,000 customers", ["100000"]),
        ("the GaN Charger 65W and the 20000mAh bank", ["65w", "20000mah"]),
        ("Wi-Fi 6 and USB-C", ["wifi", "wi", "fi", "6", "usbc", "usb", "c"]),
        ("the USB-C Hub 7-in-1", ["7in1", "7", "1"]),
        ("lasts 2.5 hours", ["2.5"]),
    ],
)
def test_tokens_keep_exact_facts_whole(text: str, kept: list[str]) -> None:
    tokens = tokenize(text)
    assert all(token in tokens for token in kept), tokens


def test_tokens_are_lowercase_stems_without_english_stopwords_or_question_words() -> None:
    assert tokenize("What is the Return Policy of TechGear?") == ["return", "polici", "techgear"]
    assert tokenize("Which cards do you accept?") == tokenize("card accepted")


def test_scores_rank_the_chunk_that_holds_the_quoted_fact_first() -> None:
    index = LexicalIndex.build(
        [
            chunk("contact:1", "Call support on the toll-free number 1800-123-4567."),
            chunk("contact:2", "Email support at support@techgear.com."),
            chunk("returns:1", "Returns are accepted within 7 days of delivery."),
        ]
    )

    by_phone = index.scores("is 1800-123-4567 toll free?")
    by_email = index.scores("support@techgear.com")

    assert max(by_phone, key=by_phone.__getitem__) == "contact:1"
    assert list(by_email) == ["contact:2"]
    assert "returns:1" not in by_phone


def test_titles_and_aliases_are_searchable_in_every_chunk_of_their_document() -> None:
    index = LexicalIndex.build(
        [
            chunk("band:1", "It lasts 14 days.", title="FitBand 3", aliases=("Band Three",)),
            chunk("watch:1", "It lasts 7 days.", title="SmartWatch Lite"),
        ]
    )

    assert list(index.scores("band three battery")) == ["band:1"]
    assert list(index.scores("fitband")) == ["band:1"]


def test_a_query_sharing_no_token_with_the_chunks_scores_nothing() -> None:
    index = LexicalIndex.build([chunk("returns:1", "Returns are accepted within 7 days.")])

    assert index.scores("kya hai") == {}
    assert index.scores("the of and") == {}
    assert index.scores("") == {}


def test_an_empty_index_scores_nothing() -> None:
    index = LexicalIndex.build([])

    assert len(index) == 0
    assert index.scores("returns") == {}
