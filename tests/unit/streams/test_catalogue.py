from __future__ import annotations

import pytest

from streams.catalogue import KINDS, Catalogue, Product


def titles(products: list[Product]) -> list[str]:
    return [p.title for p in products]


def test_every_product_document_has_a_kind_and_a_few_aliases(catalogue: Catalogue) -> None:
    assert len(catalogue.products) == 27
    for product in catalogue.products:
        assert product.kind in KINDS
        assert len(product.aliases) <= 5


def test_each_name_finds_its_own_product_only(catalogue: Catalogue) -> None:
    for product in catalogue.products:
        for name in product.names:
            assert catalogue.find(f"tell me about the {name}") == [product], name


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("is the smartwatch pro-x waterproof", "SmartWatch Pro X"),
        ("smartwach pro x battery", "SmartWatch Pro X"),
        ("how mcuh for the erbuds elite", "Wireless Earbuds Elite"),
        ("wireles earbud elite", "Wireless Earbuds Elite"),
        ("powerbank ultra price", "Power Bank Ultra 20000mAh"),
        ("POWER-BANK SLIM", "Power Bank Slim 10000mAh"),
        ("aero book 14 weight", "AeroBook 14"),
        ("bassbom headphones", "BassBoom ANC Headphones"),
        ("usb c hub 7 in 1", "USB-C Hub 7-in-1"),
        ("the nova pro 256gb variant", "TechGear Nova Pro"),
        ("I bought the FitBand 3 2 weeks ago", "FitBand 3"),
    ],
)
def test_finds_products_despite_typos_case_spacing_and_hyphens(
    catalogue: Catalogue, text: str, expected: str
) -> None:
    assert titles(catalogue.find(text)) == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("smartwatch lite", ["SmartWatch Lite"]),
        (
            "power bank ultra vs power bank slim",
            ["Power Bank Ultra 20000mAh", "Power Bank Slim 10000mAh"],
        ),
        ("AeroBook 14 or AeroBook Pro 16?", ["AeroBook 14", "AeroBook Pro 16"]),
        ("a Laptop Sleeve 14 for my AeroBook 14", ["Laptop Sleeve 14", "AeroBook 14"]),
        ("TechGear Nova Pro vs Nova 5G", ["TechGear Nova Pro", "TechGear Nova 5G"]),
    ],
)
def test_products_sharing_words_are_told_apart_in_order_of_appearance(
    catalogue: Catalogue, text: str, expected: list[str]
) -> None:
    assert titles(catalogue.find(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "does the watch have GPS",
        "earbuds",
        "which laptops do you sell",
        "a power bank",
        "Pulse rate",
    ],
)
def test_generic_words_alone_name_no_product(catalogue: Catalogue, text: str) -> None:
    assert catalogue.find(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("do you have a phone with 5G, the phone 5g", "TechGear Nova 5G"),
        ("is the laptop pro good for gaming", "AeroBook Pro 16"),
        ("the TechGear smart ring", "TechGear Ring"),
    ],
)
def test_a_kind_with_a_designation_names_the_only_product_that_has_it(
    catalogue: Catalogue, text: str, expected: str
) -> None:
    assert titles(catalogue.find(text)) == [expected]


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ("What's the price of the TechGear Laptop Air 14?", ["TechGear Laptop Air 14"]),
        ("is the SmartWatch Pro Z out yet", ["SmartWatch Pro Z"]),
        ("TechGear Nova 7 launch date", ["TechGear Nova 7"]),
        ("aerobook 15 specs", ["aerobook 15"]),
        ("when does the FitBand 4 come", ["FitBand 4"]),
        ("TechGear Fold Flip 2 price", ["TechGear Fold Flip 2"]),
        ("Is the Nova Pro Max out?", ["Nova Pro Max"]),
        ("a power bank 30000mAh", ["power bank 30000mAh"]),
    ],
)
def test_names_that_look_like_ours_but_are_not_sold_are_unknown(
    catalogue: Catalogue, text: str, unknown: list[str]
) -> None:
    assert catalogue.unknown_mentions(text) == unknown
    assert catalogue.find(text) == []


@pytest.mark.parametrize(
    "text",
    [
        "Galaxy Buds Pro price",
        "Galaxy Watch 6 vs SmartWatch Pro X",
        "iPhone 15 Pro",
        "Mi Band 8",
        "a laptop 14 inch",
        "does TechGear's warranty cover water damage",
        "TechGear app login fails",
        "SmartWatch Pro X and the Nova Pro 256gb",
    ],
)
def test_other_brands_quantities_and_our_own_names_are_not_unknown(
    catalogue: Catalogue, text: str
) -> None:
    assert catalogue.unknown_mentions(text) == []


@pytest.mark.parametrize(
    ("text", "product"),
    [
        ("Tell me about the FitBand 3 (212993)", "product-fitband-3"),
        ("my FitBand 3: 2 days and it won't charge", "product-fitband-3"),
        ("Is the K8 keyboard, 2 of them, in stock?", "product-k8-mechanical-keyboard"),
        ("I bought a FitBand 3. 5 days later it broke", "product-fitband-3"),
    ],
)
def test_punctuation_ends_a_name(catalogue: Catalogue, text: str, product: str) -> None:
    assert [p.doc_id for p in catalogue.find(text)] == [product]
    assert catalogue.unknown_mentions(text) == []


@pytest.mark.parametrize(
    ("text", "kinds"),
    [
        ("which laptops do you sell", {"laptop"}),
        ("a notebook and smartwatches", {"laptop", "smartwatch"}),
        ("best powerbank or earphones", {"power bank", "earbuds"}),
        ("a laptop sleeve and a charger", {"sleeve", "charger"}),
        ("tell me about the SmartWatch Pro X", set()),
        ("the TechGear Laptop Air 14", {"laptop"}),
    ],
)
def test_kinds_are_read_from_generic_words_outside_product_names(
    catalogue: Catalogue, text: str, kinds: set[str]
) -> None:
    assert catalogue.kinds_in(text) == kinds


def test_products_of_a_kind(catalogue: Catalogue) -> None:
    assert titles(catalogue.of_kind("laptop")) == [
        "AeroBook 14",
        "AeroBook Pro 16",
        "StudioBook Go 13",
    ]
    assert catalogue.of_kind("tablet") == []


def test_a_designation_alone_picks_a_sibling_of_the_same_kind(catalogue: Catalogue) -> None:
    pro_x = catalogue.find("SmartWatch Pro X")[0]
    ultra = catalogue.find("Power Bank Ultra")[0]
    assert catalogue.sibling("same for the lite?", pro_x) == (
        catalogue.find("SmartWatch Lite")[0],
        "lite",
    )
    assert catalogue.sibling("what about the slim one?", ultra) == (
        catalogue.find("Power Bank Slim")[0],
        "slim",
    )
    assert catalogue.sibling("is it waterproof?", pro_x) is None


def test_rename_replaces_a_product_however_written(catalogue: Catalogue) -> None:
    elite = catalogue.find("Wireless Earbuds Elite")[0]
    assert (
        catalogue.rename("how mcuh for the erbuds elite?", elite, "Pulse Neckband")
        == "how mcuh for the Pulse Neckband?"
    )


def test_a_product_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        Catalogue.from_products([Product("p", "Tab 1", "tablet", ())])


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ("is the Splash Pro Speaker loud?", ["Splash Pro Speaker"]),
        ("wireless earbuds mini battery life", ["wireless earbuds mini"]),
        ("StudioBook Go 14 weight", ["StudioBook Go 14"]),
        ("does the K6 mechanical keyboard have a numpad", ["K6 mechanical keyboard"]),
        ("can the GaN Charger 100W charge a laptop", ["GaN Charger 100W"]),
        ("is the Power Bank Nano 5000mAh pocketable", ["Power Bank Nano 5000mAh"]),
        ("CinemaBar 5.1 price", ["CinemaBar 5.1"]),
    ],
)
def test_a_name_of_ours_with_a_designation_of_its_own_is_another_product(
    catalogue: Catalogue, text: str, unknown: list[str]
) -> None:
    assert catalogue.unknown_mentions(text) == unknown
    assert catalogue.find(text) == []


@pytest.mark.parametrize(
    ("text", "unknown"),
    [
        ("how big is the TechGear Television 55 inch", ["TechGear Television 55 inch"]),
        ("is there a TechGear tablet", ["TechGear tablet"]),
        ("TechGear Vision 32 launch", ["TechGear Vision 32"]),
    ],
)
def test_techgear_and_goods_we_do_not_sell_are_unknown(
    catalogue: Catalogue, text: str, unknown: list[str]
) -> None:
    assert catalogue.unknown_mentions(text) == unknown


@pytest.mark.parametrize(
    "text",
    [
        "TechGear customer care 1800-123-4567",
        "TechGear 2 year warranty on laptops",
        "Does TechGear sell TVs?",
        "the AeroBook 14, I think, is light",
        "the StudioBook Go 13 in grey",
    ],
)
def test_company_words_and_our_own_names_after_techgear_are_not_unknown(
    catalogue: Catalogue, text: str
) -> None:
    assert catalogue.unknown_mentions(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("is the splash mnii speaker loud", "Splash Mini Speaker"),
        ("studiobook go13 weight", "StudioBook Go 13"),
        ("k8 mechanical keybord price", "K8 Mechanical Keyboard"),
        ("wireles earbuds elite colours", "Wireless Earbuds Elite"),
        ("is the Power Bank Ultra 20000mAh in stock", "Power Bank Ultra 20000mAh"),
    ],
)
def test_typos_of_our_names_are_still_ours(catalogue: Catalogue, text: str, expected: str) -> None:
    assert titles(catalogue.find(text)) == [expected]
    assert catalogue.unknown_mentions(text) == []
