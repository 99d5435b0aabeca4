from __future__ import annotations

from streams.catalogue import Catalogue, Product
from streams.focus import focused
from streams.store import Passage

CATALOGUE = Catalogue.from_products(
    [
        Product("product-power-bank-slim", "Power Bank Slim 10000mAh", "power bank", ()),
        Product("product-power-bank-ultra", "Power Bank Ultra 20000mAh", "power bank", ()),
    ]
)


def passage(text: str) -> Passage:
    return Passage("guide:1", "guide", "Guide", "Recharging", text, 0.6)


def test_a_sentence_about_a_product_not_asked_about_is_left_out() -> None:
    guide = passage(
        "The Power Bank Ultra 20000mAh takes about 6 to 7 hours to recharge. "
        "The Power Bank Slim 10000mAh takes about 3.5 hours to recharge. "
        "Use a charger of 18W or more for the fastest recharge."
    )

    [kept] = focused([guide], CATALOGUE, {"guide", "product-power-bank-slim"})

    assert "Ultra" not in kept.text
    assert "3.5 hours" in kept.text and "18W" in kept.text


def test_a_question_naming_no_product_keeps_no_sentence_naming_one() -> None:
    only_products = passage("The Power Bank Ultra 20000mAh charges a phone 4 to 5 times.")
    general = passage("Power banks should be stored half charged in a cool place.")

    assert focused([only_products, general], CATALOGUE, {"guide"}) == [general]
