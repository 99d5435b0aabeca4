"""Knowledge-base documents (Markdown with YAML front matter) and their chunks.

A chunk keeps the heading path it sits under, so a passage read alone still says what it
is about, and its id is a hash of its content: an unchanged chunk keeps its id across
ingestions, which is what makes ingestion incremental.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import yaml
from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3")]
_MAX_CHUNK_CHARS = 1200
_REQUIRED_FIELDS = ("id", "title", "category")


class KnowledgeFormatError(ValueError):
    """A knowledge-base file lacks front matter or a required field."""


@dataclass(frozen=True, slots=True)
class Document:
    doc_id: str
    title: str
    category: str
    updated: str
    path: str
    body: str
    kind: str = ""
    """What a product is (``smartwatch``, ``laptop``); empty for documents that are no product."""
    aliases: tuple[str, ...] = ()
    """Other names customers use for the product."""


@dataclass(frozen=True, slots=True)
class Chunk:
    chunk_id: str
    doc_id: str
    title: str
    category: str
    heading: str
    text: str
    kind: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def embedding_text(self) -> str:
        """What is embedded: the text with its document title and heading for context."""
        return f"{self.heading}\n{self.text}" if self.heading else f"{self.title}\n{self.text}"


def load_documents(root: Path) -> list[Document]:
    paths = sorted(root.rglob("*.md"))
    documents = [
        parse_document(path.read_text(encoding="utf-8"), str(path.relative_to(root)))
        for path in paths
    ]
    seen: dict[str, str] = {}
    for doc in documents:
        if doc.doc_id in seen:
            raise KnowledgeFormatError(
                f"duplicate id {doc.doc_id!r} in {doc.path} and {seen[doc.doc_id]}"
            )
        seen[doc.doc_id] = doc.path
    return documents


def parse_document(text: str, path: str) -> Document:
    if not text.startswith("---"):
        raise KnowledgeFormatError(f"{path}: missing YAML front matter")
    try:
        _, header, body = text.split("---", 2)
        meta = yaml.safe_load(header) or {}
    except (ValueError, yaml.YAMLError) as exc:
        raise KnowledgeFormatError(f"{path}: unreadable front matter: {exc}") from exc
    missing = [name for name in _REQUIRED_FIELDS if not meta.get(name)]
    if missing:
        raise KnowledgeFormatError(f"{path}: front matter lacks {', '.join(missing)}")
    return Document(
        doc_id=str(meta["id"]),
        title=str(meta["title"]),
        category=str(meta["category"]),
        updated=str(meta.get("updated", "")),
        path=path,
        body=body.strip(),
        kind=_kind(meta.get("kind"), path),
        aliases=_aliases(meta.get("aliases"), path),
    )


def _kind(raw: object, path: str) -> str:
    if raw is None:
        return ""
    if not isinstance(raw, str) or raw != raw.strip().lower():
        raise KnowledgeFormatError(f"{path}: kind must be a lowercase string, not {raw!r}")
    return raw


def _aliases(raw: object, path: str) -> tuple[str, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(a, str) and a.strip() for a in raw):
        raise KnowledgeFormatError(f"{path}: aliases must be a list of names, not {raw!r}")
    return tuple(alias.strip() for alias in raw)


def chunk_document(doc: Document) -> list[Chunk]:
    sections = MarkdownHeaderTextSplitter(_HEADERS, strip_headers=True).split_text(doc.body)
    splitter = RecursiveCharacterTextSplitter(chunk_size=_MAX_CHUNK_CHARS, chunk_overlap=120)
    chunks: list[Chunk] = []
    for section in sections:
        heading = " > ".join(
            str(section.metadata[key]) for _, key in _HEADERS if key in section.metadata
        )
        for piece in splitter.split_text(section.page_content):
            text = piece.strip()
            if text:
                chunks.append(_make_chunk(doc, heading, text))
    return chunks


def _make_chunk(doc: Document, heading: str, text: str) -> Chunk:
    aliases = "|".join(doc.aliases)
    digest = hashlib.sha256(
        f"{doc.doc_id}\x1f{doc.title}\x1f{doc.kind}\x1f{aliases}\x1f{heading}\x1f{text}".encode()
    ).hexdigest()
    return Chunk(
        chunk_id=f"{doc.doc_id}:{digest[:16]}",
        doc_id=doc.doc_id,
        title=doc.title,
        category=doc.category,
        heading=heading,
        text=text,
        kind=doc.kind,
        aliases=doc.aliases,
    )


def chunk_tree(root: Path) -> list[Chunk]:
    return [chunk for doc in load_documents(root) for chunk in chunk_document(doc)]


class ChunkRef(Protocol):
    """A chunk as ingested (``Chunk``) or as stored (``store.StoredChunk``)."""

    @property
    def chunk_id(self) -> str: ...

    @property
    def doc_id(self) -> str: ...


def document_digests(chunks: Iterable[ChunkRef]) -> dict[str, str]:
    """Each document's content digest: SHA-256 over its sorted chunk ids. A chunk id is a
    hash of the chunk's content, so a document's digest changes with any edit of it (and
    of its title, kind or aliases) and with nothing else, whatever else is ingested."""
    ids: defaultdict[str, list[str]] = defaultdict(list)
    for chunk in chunks:
        ids[chunk.doc_id].append(chunk.chunk_id)
    return {
        doc_id: hashlib.sha256("\n".join(sorted(chunk_ids)).encode()).hexdigest()
        for doc_id, chunk_ids in ids.items()
    }
