from __future__ import annotations

import pytest

from streams.embeddings import OnnxEmbedder
from streams.responder import OfflineResponder, split_sentences
from streams.store import KnowledgeStore, Passage


def passage(doc_id: str, title: str, text: str, score: float = 0.7) -> Passage:
    return Passage(
        chunk_id=f"{doc_id}:1", doc_id=doc_id, title=title, heading=title, text=text, score=score
    )


PRO_X = passage(
    "product-smartwatch-pro-x",
    "SmartWatch Pro X",
    "The SmartWatch Pro X costs ₹15,999. The SmartWatch Pro X has a 7-day battery life.",
)
LITE = passage(
    "product-smartwatch-lite",
    "SmartWatch Lite",
    "The SmartWatch Lite costs ₹5,999. The SmartWatch Lite lasts 10 days.",
    score=0.75,
)


async def test_price_question_gets_the_named_products_price(embedder: OnnxEmbedder) -> None:
    responder = OfflineResponder(embedder)
    question = "How much is the SmartWatch Pro X?"

    reply = await responder.answer(question, embedder.embed_one(question), [LITE, PRO_X])

    assert reply is not None
    assert "₹15,999" in reply.text and "₹5,999" not in reply.text
    assert [s.doc_id for s in reply.sources] == ["product-smartwatch-pro-x"]
    assert "Source: SmartWatch Pro X" in reply.text


async def test_unrelated_passages_give_no_answer(embedder: OnnxEmbedder) -> None:
    responder = OfflineResponder(embedder)
    question = "Can I pay my electricity bill here?"
    unrelated = passage(
        "product-splash", "Splash Mini Speaker", "The Splash Mini Speaker floats on water."
    )

    assert await responder.answer(question, embedder.embed_one(question), [unrelated]) is None


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("What is the price of SmartWatch Pro X?", "₹15,999"),
        ("How long does a refund take?", "5-7 business days"),
        ("What is the support phone number?", "1800-123-4567"),
        ("How long is the warranty on the Wireless Earbuds Elite?", "6-month"),
        ("Is there free shipping?", "₹999"),
        ("How many times can the Power Bank Ultra charge my phone?", "5 times"),
    ],
)
async def test_answers_come_from_the_knowledge_base(
    store: KnowledgeStore, embedder: OnnxEmbedder, question: str, expected: str
) -> None:
    vector = embedder.embed_one(question)
    passages = [p for p in store.search(vector, limit=5) if p.score >= 0.45]

    reply = await OfflineResponder(embedder).answer(question, vector, passages)

    assert reply is not None and expected in reply.text


def test_sentences_split_on_boundaries_and_bullets() -> None:
    text = "First sentence here. Second one costs ₹1,999.\n- A bullet point item"
    assert split_sentences(text) == [
        "First sentence here.",
        "Second one costs ₹1,999.",
        "A bullet point item",
    ]
