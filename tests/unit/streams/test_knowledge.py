from __future__ import annotations

from pathlib import Path

import pytest

from streams.knowledge import (
    KnowledgeFormatError,
    chunk_document,
    chunk_tree,
    document_digests,
    load_documents,
    parse_document,
)

KB = Path(__file__).resolve().parents[3] / "data" / "knowledge"
DOC = """---
id: product-demo
title: Demo Watch
category: product
updated: 2026-11-01
---
# Demo Watch

## Price and availability
The Demo Watch costs ₹1,234.

## Battery
### Charging
The Demo Watch charges fully in 2 hours.
"""


def test_chunks_keep_their_heading_path() -> None:
    chunks = chunk_document(parse_document(DOC, "demo.md"))
    headings = [chunk.heading for chunk in chunks]
    assert headings == ["Demo Watch > Price and availability", "Demo Watch > Battery > Charging"]
    assert chunks[0].embedding_text.startswith("Demo Watch > Price and availability\n")


def test_chunk_ids_are_stable_and_change_with_content() -> None:
    first = chunk_document(parse_document(DOC, "demo.md"))
    again = chunk_document(parse_document(DOC, "demo.md"))
    edited = chunk_document(parse_document(DOC.replace("₹1,234", "₹1,299"), "demo.md"))
    assert [c.chunk_id for c in first] == [c.chunk_id for c in again]
    assert first[0].chunk_id != edited[0].chunk_id
    assert first[1].chunk_id == edited[1].chunk_id


PRODUCT = DOC.replace(
    "category: product\n", "category: product\nkind: smartwatch\naliases: [Demo, Demo watch]\n"
)


def test_product_front_matter_gives_kind_and_aliases_to_the_document_and_its_chunks() -> None:
    doc = parse_document(PRODUCT, "demo.md")
    chunks = chunk_document(doc)

    assert (doc.kind, doc.aliases) == ("smartwatch", ("Demo", "Demo watch"))
    assert {(c.kind, c.aliases) for c in chunks} == {("smartwatch", ("Demo", "Demo watch"))}


def test_documents_without_kind_or_aliases_have_none() -> None:
    doc = parse_document(DOC, "demo.md")
    assert (doc.kind, doc.aliases) == ("", ())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("kind", "Smartwatch"),
        ("kind", "[watch]"),
        ("aliases", "Demo"),
        ("aliases", "[Demo, 3]"),
        ("aliases", "['  ']"),
    ],
)
def test_malformed_kind_or_aliases_are_refused_with_their_path(field: str, value: str) -> None:
    text = DOC.replace("category: product\n", f"category: product\n{field}: {value}\n")
    with pytest.raises(KnowledgeFormatError, match=f"demo.md: {field}"):
        parse_document(text, "demo.md")


def test_chunk_ids_change_with_kind_and_aliases_so_ingestion_stores_them_again() -> None:
    plain = chunk_document(parse_document(DOC, "demo.md"))
    product = chunk_document(parse_document(PRODUCT, "demo.md"))
    renamed = chunk_document(parse_document(PRODUCT.replace("Demo watch", "DW"), "demo.md"))
    rekinded = chunk_document(parse_document(PRODUCT.replace("smartwatch", "ring"), "demo.md"))

    ids = [{c.chunk_id for c in chunks} for chunks in (plain, product, renamed, rekinded)]
    assert all(a.isdisjoint(b) for i, a in enumerate(ids) for b in ids[i + 1 :])


@pytest.mark.parametrize(
    "text", ["# no front matter", "---\ntitle: x\ncategory: y\n---\nbody", "---\n: [\n---\nbody"]
)
def test_malformed_documents_are_refused_with_their_path(text: str) -> None:
    with pytest.raises(KnowledgeFormatError, match="bad.md"):
        parse_document(text, "bad.md")


def test_repository_knowledge_base_keeps_the_seed_facts() -> None:
    documents = load_documents(KB)
    text = "\n".join(doc.body for doc in documents)
    assert len(documents) >= 40
    for fact in [
        "₹15,999",
        "₹4,999",
        "₹2,499",
        "₹1,999",
        "1800-123-4567",
        "support@techgear.com",
        "5-7 business days",
        "3-5 business days",
        "7-10 business days",
        "₹999",
        "₹3,000",
    ]:
        assert fact in text, fact


def test_repository_knowledge_base_chunks_have_unique_ids() -> None:
    chunks = chunk_tree(KB)
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_a_document_digest_changes_with_its_content_and_only_its_own() -> None:
    other = DOC.replace("product-demo", "product-other").replace("Demo Watch", "Other Watch")
    before = document_digests(
        [
            *chunk_document(parse_document(DOC, "a.md")),
            *chunk_document(parse_document(other, "b.md")),
        ]
    )
    edited = DOC.replace("₹1,234", "₹1,299")
    after = document_digests(
        [
            *chunk_document(parse_document(edited, "a.md")),
            *chunk_document(parse_document(other, "b.md")),
        ]
    )

    assert before.keys() == after.keys() == {"product-demo", "product-other"}
    assert before["product-demo"] != after["product-demo"]
    assert before["product-other"] == after["product-other"]
    assert document_digests(reversed(chunk_document(parse_document(DOC, "a.md")))) == {
        "product-demo": before["product-demo"]
    }
