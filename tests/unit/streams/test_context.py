from __future__ import annotations

import pytest

from streams.catalogue import Catalogue
from streams.context import (
    MAX_PRODUCTS,
    ConversationContext,
    find_order_id,
    is_follow_up,
    standalone_question,
)


def converse(catalogue: Catalogue, messages: list[str]) -> list[str | None]:
    """Each message's standalone question, the context updated after each as the worker
    does: with the products named by the message, or by its standalone form."""
    context = ConversationContext()
    standalone: list[str | None] = []
    for message in messages:
        rewritten = standalone_question(message, context, catalogue, catalogue.find(message))
        standalone.append(rewritten)
        context = context.updated(
            products=catalogue.find(rewritten or message),
            order_id=find_order_id(message),
            topic=None,
            question=rewritten or message,
        )
    return standalone


@pytest.mark.parametrize(
    "conversation",
    [
        [
            ("Tell me about the SmartWatch Pro X", None),
            ("and the battery life?", "What is the battery life of the SmartWatch Pro X?"),
            ("same for the lite?", "What is the battery life of the SmartWatch Lite?"),
            ("is it waterproof?", "is the SmartWatch Lite waterproof?"),
            ("does it come in black?", "does the SmartWatch Lite come in black?"),
        ],
        [
            ("Do the Wireless Earbuds Elite have noise cancellation?", None),
            ("What's their price?", "What's the Wireless Earbuds Elite's price?"),
            ("what about the warranty?", "What is the warranty of the Wireless Earbuds Elite?"),
        ],
        [
            ("I'm interested in the Power Bank Ultra", None),
            ("how much is it", "how much is the Power Bank Ultra 20000mAh"),
            ("what about the slim one?", "how much is the Power Bank Slim 10000mAh"),
            ("in white?", "Is the Power Bank Slim 10000mAh available in white?"),
        ],
        [
            ("Tell me about the StudioBook Go 13", None),
            (
                "compare it with the AeroBook 14",
                "compare the StudioBook Go 13 with the AeroBook 14",
            ),
            (
                "which of them is lighter?",
                "which of the StudioBook Go 13 and the AeroBook 14 is lighter?",
            ),
        ],
        [
            ("how much is the nova pro?", None),
            ("and the Nova 5G?", "how much is the TechGear Nova 5G?"),
            ("does this phone charge wirelessly?", "does the TechGear Nova 5G charge wirelessly?"),
            ("price?", "What is the price of the TechGear Nova 5G?"),
            ("What is the price of the FitBand 3?", None),
        ],
        [
            ("I bought the FitBand 3", None),
            ("it's not charging", "The FitBand 3 is not charging"),
            ("how long does it take to get a refund?", None),
            ("is it possible to pay by UPI?", None),
            ("refund status?", None),
        ],
        [
            ("Where is my order TG-48213?", None),
            ("when will it arrive?", "when will my order TG48213 arrive?"),
            ("this is order TG12345, where is it?", None),
        ],
    ],
)
def test_follow_ups_become_standalone_questions_about_the_context(
    catalogue: Catalogue, conversation: list[tuple[str, str | None]]
) -> None:
    messages = [message for message, _ in conversation]
    assert converse(catalogue, messages) == [expected for _, expected in conversation]


@pytest.mark.parametrize(
    "question",
    [
        "will it rain in Chennai this weekend",
        "great, appreciate it",
        "Hey, how's it going?",
        "Paytm wallet KYC expired, how to renew it",
        "I ordered a kurta from Myntra and it hasn't come",
        "How do I see all my past orders and their status",
        "Is this chat a bot?",
        "I'm going to post this on LinkedIn and tag your CEO",
        "my phone can't find the earbuds in bluetooth settings",
        "Are the phones brand new sealed pack or refurbished?",
        "Found it cheaper elsewhere, don't want the StudioBook anymore",
    ],
)
def test_pronouns_that_stand_for_something_else_leave_the_question_alone(
    catalogue: Catalogue, question: str
) -> None:
    context = ConversationContext(products=("product-smartwatch-pro-x",))
    assert standalone_question(question, context, catalogue, catalogue.find(question)) is None


def test_a_kind_noun_refers_to_the_product_of_that_kind(catalogue: Catalogue) -> None:
    context = ConversationContext(products=("product-techgear-nova-5g", "product-smartwatch-pro-x"))
    question = "does the watch work with the phone?"
    assert (
        standalone_question(question, context, catalogue, [])
        == "does the SmartWatch Pro X work with the TechGear Nova 5G?"
    )


def test_without_context_nothing_is_rewritten(catalogue: Catalogue) -> None:
    assert standalone_question("how much is it?", ConversationContext(), catalogue, []) is None


@pytest.mark.parametrize(
    "question",
    [
        "how much is it?",
        "does it have GPS",
        "what about its warranty?",
        "What's their price?",
        "and the battery life?",
        "same for the lite?",
        "is this waterproof?",
        "battery life?",
        "how much?",
    ],
)
def test_referring_and_elliptic_questions_are_follow_ups(question: str) -> None:
    assert is_follow_up(question)


@pytest.mark.parametrize(
    "question",
    [
        "What is the price of SmartWatch Pro X?",
        "hello",
        "refund status?",
        "is it possible to get a refund without the box?",
        "how long does it take to deliver to Pune?",
        "this is my order number",
        "also, do you ship to Guwahati?",
    ],
)
def test_self_contained_questions_are_not_follow_ups(question: str) -> None:
    assert not is_follow_up(question)


@pytest.mark.parametrize(
    ("text", "order_id"),
    [
        ("where is my order #TG48213", "TG48213"),
        ("Order TG-48213, please", "TG48213"),
        ("first tg 11111 then TG22222", "TG22222"),
        ("warranty claim WC10234", None),
        ("call 1800-123-4567", None),
    ],
)
def test_order_ids_are_found_and_written_one_way(text: str, order_id: str | None) -> None:
    assert find_order_id(text) == order_id


def test_updated_keeps_the_latest_products_last_and_what_is_not_said(
    catalogue: Catalogue,
) -> None:
    context = ConversationContext(order_id="TG11111", topic="product_info")
    for text in ["FitBand 3", "AeroBook 14", "K8", "Pulse Neckband", "AeroBook 14"]:
        context = context.updated(products=catalogue.find(text), order_id=None, topic=None)
    assert len(context.products) == MAX_PRODUCTS
    assert context.products == (
        "product-k8-mechanical-keyboard",
        "product-pulse-neckband",
        "product-aerobook-14",
    )
    assert (context.order_id, context.topic) == ("TG11111", "product_info")
    moved = context.updated(products=[], order_id="TG22222", topic="order_status")
    assert (moved.products, moved.order_id, moved.topic) == (
        context.products,
        "TG22222",
        "order_status",
    )


def test_context_round_trips_through_json_and_junk_is_empty() -> None:
    context = ConversationContext(("product-fitband-3",), "TG48213", "warranty", "price?")
    assert ConversationContext.from_json(context.to_json()) == context
    assert ConversationContext.from_json(None) == ConversationContext()
    assert ConversationContext.from_json({"products": "x", "order_id": 5}) == ConversationContext()


@pytest.mark.parametrize(
    "conversation",
    [
        [
            ("Tell me about the K8 Mechanical Keyboard", None),
            ("what's the weight?", "what's the K8 Mechanical Keyboard's weight?"),
            ("is the warranty extendable?", "is the K8 Mechanical Keyboard's warranty extendable?"),
            ("what is the return policy?", None),
        ],
        [
            ("Does the TechGear Nova Pro charge wirelessly?", None),
            ("how much is the 256GB version?", "how much is the TechGear Nova Pro 256GB variant?"),
            ("what colours?", "what colours does the TechGear Nova Pro have?"),
        ],
        [
            ("I'm looking at the Power Bank Slim", None),
            ("can it charge my laptop?", "can the Power Bank Slim 10000mAh charge my laptop?"),
            (
                "how long does it take to charge?",
                "how long does the Power Bank Slim 10000mAh take to charge?",
            ),
        ],
        [
            ("I'm buying the AeroBook Pro 16", None),
            ("do you sell a sleeve for it?", "do you sell a sleeve for the AeroBook Pro 16?"),
        ],
    ],
)
def test_elliptic_follow_ups_without_a_pronoun_are_about_the_product_in_context(
    catalogue: Catalogue, conversation: list[tuple[str, str | None]]
) -> None:
    messages = [message for message, _ in conversation]
    assert converse(catalogue, messages) == [expected for _, expected in conversation]


@pytest.mark.parametrize(
    "conversation",
    [
        [
            ("Can I pay with a credit card?", None),
            ("and with debit cards?", "Can I pay with a credit card? and with debit cards?"),
        ],
        [
            ("Do you deliver to Kochi?", None),
            (
                "how many days will it take to arrive?",
                "Do you deliver to Kochi? how many days will it take to arrive?",
            ),
        ],
        [
            ("What's your exchange policy?", None),
            ("what about gift cards?", None),
            ("which brands?", "what about gift cards? which brands?"),
        ],
        [
            ("Do you sell laptops?", None),
            ("what's the price?", "Do you sell laptops? what's the price?"),
        ],
        [
            ("Do you ship to Goa?", None),
            ("what's the warranty?", None),
            ("how do I track my order?", None),
        ],
    ],
)
def test_fragments_with_no_product_in_context_carry_the_last_question(
    catalogue: Catalogue, conversation: list[tuple[str, str | None]]
) -> None:
    messages = [message for message, _ in conversation]
    assert converse(catalogue, messages) == [expected for _, expected in conversation]


def test_a_kind_we_sell_one_product_of_stands_for_that_product(catalogue: Catalogue) -> None:
    assert converse(catalogue, ["Do you sell smart rings?", "how much?"]) == [
        None,
        "How much is the TechGear Ring?",
    ]


@pytest.mark.parametrize(
    "question",
    [
        "what's the petrol price today",
        "Who wrote the Ramcharitmanas?",
        "what causes thunderstorms",
        "when is my bike due for its service",
    ],
)
def test_questions_about_something_else_are_not_pinned_on_the_product(
    catalogue: Catalogue, question: str
) -> None:
    context = ConversationContext(products=("product-fitband-3",), question="FitBand 3 price?")
    assert standalone_question(question, context, catalogue, catalogue.find(question)) is None


@pytest.mark.parametrize(
    "question",
    [
        "will it snow in Manali next week",
        "how much does it cost to renew a passport",
        "in which city is your head office located",
        "Do the prices include GST?",
    ],
)
def test_whole_questions_do_not_carry_the_last_question(
    catalogue: Catalogue, question: str
) -> None:
    context = ConversationContext(question="Do you ship to Goa?")
    assert standalone_question(question, context, catalogue, catalogue.find(question)) is None
