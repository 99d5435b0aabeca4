"""Ingestion speed and retrieval latency of the knowledge base.

    .venv/bin/python -m bench.knowledge [--queries 1000]

Ingests ``data/knowledge`` into a fresh embedded Chroma store (every chunk embedded),
re-ingests it unchanged, then runs the queries (the classifier's evaluation questions,
cycled) through embedding + vector search, and through search alone. The embedding
model is the worker's (``EMBEDDING_MODEL``, ``MODELS_DIR``).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from streams.classifier import load_examples
from streams.components import build_embedder
from streams.knowledge import chunk_tree
from streams.settings import WorkerSettings
from streams.store import KnowledgeStore, open_client

REPO = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=1000)
    args = parser.parse_args()

    settings = WorkerSettings()
    embedder = build_embedder(settings, threads=0)  # every core: ingestion is batch work
    chunks = chunk_tree(REPO / "data" / "knowledge")
    questions = [e.text for e in load_examples(REPO / "data" / "classifier" / "eval.jsonl")]
    with tempfile.TemporaryDirectory() as tmp:
        store = KnowledgeStore(open_client(path=Path(tmp)), "bench-kb", embedder)
        started = time.perf_counter()
        report = store.ingest(chunks)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        unchanged = store.ingest(chunks)
        reingest_s = time.perf_counter() - started

        end_to_end: list[float] = []
        search_only: list[float] = []
        for i in range(args.queries):
            question = questions[i % len(questions)]
            started = time.perf_counter()
            vector = embedder.embed_one(question)
            searched = time.perf_counter()
            store.search(vector, limit=5)
            done = time.perf_counter()
            end_to_end.append((done - started) * 1000)
            search_only.append((done - searched) * 1000)

    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; embedding model {embedder.model_name}"
    )
    rate = report.added / ingest_s
    print(f"ingestion: {report.added} chunks in {ingest_s:.2f}s = {rate:.0f} chunks/s")
    print(f"re-ingestion unchanged: {unchanged.added} embedded in {reingest_s:.3f}s")
    for name, values in (("embed + search", end_to_end), ("search only", search_only)):
        print(
            f"{name} ({len(values)} queries): p50 {percentile(values, 50):.2f} ms, "
            f"p99 {percentile(values, 99):.2f} ms, mean {statistics.fmean(values):.2f} ms"
        )


if __name__ == "__main__":
    main()
