from __future__ import annotations

import pytest

from streams.embeddings import OnnxEmbedder
from streams.responder import OfflineResponder
from streams.sentences import SentenceCache, split_sentences
from streams.store import KnowledgeStore, Passage


def passage(doc_id: str, title: str, text: str, score: float = 0.7, *, chunk: int = 1) -> Passage:
    return Passage(
        chunk_id=f"{doc_id}:{chunk}",
        doc_id=doc_id,
        title=title,
        heading=title,
        text=text,
        score=score,
        category=doc_id.split("-", 1)[0],
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
    responder = OfflineResponder(SentenceCache(embedder))
    question = "How much is the SmartWatch Pro X?"

    reply = await responder.answer(question, embedder.embed_one(question), [LITE, PRO_X])

    assert reply is not None
    assert "₹15,999" in reply.text and "₹5,999" not in reply.text
    assert [s.doc_id for s in reply.sources] == ["product-smartwatch-pro-x"]
    assert "Source: SmartWatch Pro X" in reply.text


async def test_unrelated_passages_give_no_answer(embedder: OnnxEmbedder) -> None:
    responder = OfflineResponder(SentenceCache(embedder))
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

    reply = await OfflineResponder(SentenceCache(embedder)).answer(question, vector, passages)

    assert reply is not None and expected in reply.text


# An invented product, so these tests do not lean on the knowledge base's wording.
LANTERN = "product-trail-lantern-x2"
LANTERN_PAGE = passage(
    LANTERN,
    "Trail Lantern X2",
    "The Trail Lantern X2 is a rechargeable camping lantern with a fold-out hook. "
    "The Trail Lantern X2 costs ₹1,899 and comes in Olive and Sand. "
    "The Trail Lantern X2 weighs 340 grams without its stand. "
    "The Trail Lantern X2 is rated IP66 against rain and dust, so it can stay out in a storm. "
    "The Trail Lantern X2 shines for up to 48 hours on its lowest setting. "
    "The Trail Lantern X2 can top up a phone roughly 1 to 2 times from its internal cell. "
    "The Trail Lantern X2 needs a USB-C charger of at least 18W to recharge overnight.",
)
LANTERN_GUIDE = passage(
    "troubleshooting-lighting",
    "Troubleshooting Lighting",
    "The Trail Lantern X2 can be restored to factory settings. "
    "To restore the Trail Lantern X2, hold the mode and power buttons together for 8 seconds "
    "until the ring glows blue. "
    "The Trail Lantern Mini can top up a phone about 4 times.",
    score=0.6,
)
HELP_DESK = passage(
    "company-help",
    "Reaching Us",
    "Our help desk team is friendly and knows every product. "
    "Ring our help desk on 1800-555-0199 between 10 AM and 7 PM. "
    "Write to care@example.in with photos of the problem and your order number.",
)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How heavy is the Trail Lantern X2?", "340 grams"),
        ("Is the Trail Lantern X2 okay outside in heavy rain?", "IP66"),
        ("How many times can the Trail Lantern X2 charge my phone?", "1 to 2 times"),
        ("What's the smallest charger wattage for the Trail Lantern X2?", "18W"),
        ("Trail Lantern X2 backup on low?", "48 hours"),
        ("How do I factory reset my Trail Lantern X2?", "8 seconds"),
        ("Trail Lantern X2 price?", "₹1,899"),
    ],
)
async def test_picks_the_sentence_that_states_the_asked_fact(
    embedder: OnnxEmbedder, question: str, expected: str
) -> None:
    reply = await OfflineResponder(SentenceCache(embedder)).answer(
        question, embedder.embed_one(question), [LANTERN_PAGE, LANTERN_GUIDE]
    )

    assert reply is not None and expected in reply.text


async def test_a_guide_sentence_about_another_product_is_not_the_answer(
    embedder: OnnxEmbedder,
) -> None:
    question = "How many times can the Trail Lantern X2 charge a phone?"

    reply = await OfflineResponder(SentenceCache(embedder)).answer(
        question, embedder.embed_one(question), [LANTERN_GUIDE, LANTERN_PAGE]
    )

    assert reply is not None
    assert "1 to 2 times" in reply.text and "4 times" not in reply.text


async def test_a_named_product_keeps_the_guides_but_not_other_products_pages(
    embedder: OnnxEmbedder,
) -> None:
    other_page = passage(
        "product-trail-lantern-mini",
        "Trail Lantern Mini",
        "To restore the Trail Lantern Mini, hold its power button for 3 seconds.",
        score=0.9,
    )
    question = "How do I restore the Trail Lantern X2 to factory settings?"

    reply = await OfflineResponder(SentenceCache(embedder)).answer(
        question, embedder.embed_one(question), [other_page, LANTERN_GUIDE, LANTERN_PAGE]
    )

    assert reply is not None and "8 seconds" in reply.text
    assert "Trail Lantern Mini" not in {source.title for source in reply.sources}


async def test_a_question_asking_two_facts_gets_both_sentences(embedder: OnnxEmbedder) -> None:
    question = "How can I get in touch with you?"

    reply = await OfflineResponder(SentenceCache(embedder)).answer(
        question, embedder.embed_one(question), [HELP_DESK]
    )

    assert reply is not None
    assert "1800-555-0199" in reply.text and "care@example.in" in reply.text


async def test_the_document_the_question_names_answers_it(embedder: OnnxEmbedder) -> None:
    swap_policy = passage(
        "policy-swaps",
        "Swap Policy",
        "Further details are in the Swap Policy. "
        "Our swap policy lets a faulty item be swapped for the same model within 10 days.",
        score=0.55,
    )
    credit_policy = passage(
        "policy-store-credit",
        "Store Credit",
        "An item handed back under the 10-day swap policy earns store credit for its price.",
        score=0.65,
    )
    question = "swap policy?"

    reply = await OfflineResponder(SentenceCache(embedder)).answer(
        question, embedder.embed_one(question), [credit_policy, swap_policy]
    )

    assert reply is not None
    assert reply.text.startswith("Our swap policy lets a faulty item")
    assert reply.sources[0].doc_id == "policy-swaps"


def test_sentences_split_on_boundaries_and_bullets() -> None:
    text = "First sentence here. Second one costs ₹1,999.\n- A bullet point item"
    assert split_sentences(text) == [
        "First sentence here.",
        "Second one costs ₹1,999.",
        "A bullet point item",
    ]
