"""CPU cost of each stage of answering one uncached question, in the worker's own parts.

    .venv/bin/python -m bench.stages [--questions 300]

Builds the worker's workflow from the environment's settings (offline responder, no
cache), warms it, then times each stage over unique questions (the classifier's
evaluation questions with a suffix): reading the message (language, Hinglish gloss,
spelling, catalogue, context), the question's embedding alone and in a batch, the
classifier, the hybrid search (vector and BM25), Chroma's own vector search for
comparison, composing the answer, and the whole LangGraph workflow run one question at a
time and all at once. Process CPU time per question is what bounds
throughput on a small machine; Kafka, Faust and the gateway come on top.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bench.load import questions
from streams.components import build_workflow, load_local_models
from streams.context import ConversationContext
from streams.responder import OfflineResponder
from streams.sentences import SentenceCache
from streams.settings import WorkerSettings
from streams.understanding import understand

T = TypeVar("T")


def measure(name: str, items: list[str], stage: Callable[[str], T]) -> list[T]:
    wall, cpu = time.perf_counter(), time.process_time()
    results = [stage(item) for item in items]
    report(name, len(items), time.perf_counter() - wall, time.process_time() - cpu)
    return results


def report(name: str, count: int, wall_s: float, cpu_s: float) -> None:
    print(f"{name:34s} wall {wall_s / count * 1000:6.2f} ms   cpu {cpu_s / count * 1000:6.2f} ms")


async def whole_runs(
    name: str, run: Callable[[str], Awaitable[object]], items: list[str], *, at_once: bool
) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    if at_once:
        await asyncio.gather(*(run(item) for item in items))
    else:
        for item in items:
            await run(item)
    report(name, len(items), time.perf_counter() - wall, time.process_time() - cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=300)
    args = parser.parse_args()
    settings = WorkerSettings(responder="offline", redis_url=None)
    models = load_local_models(settings)
    workflow = build_workflow(settings, models)
    embedder, classifier, store = models.embedder, models.classifier, models.store
    retriever, snapshot = models.retriever, models.snapshots.current()
    responder = OfflineResponder(SentenceCache(embedder))
    source = questions(0.0)
    asked = [next(source) for _ in range(args.questions)]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; EMBEDDING_THREADS={settings.embedding_threads}, "
        f"EMBEDDING_MODEL={settings.embedding_model}"
    )
    for question in asked:  # warm: the responder caches each passage's sentence vectors
        vector = embedder.embed_one(question)
        passages = retriever.search(question, vector, limit=settings.retrieval_limit)
        responder.compose(question, vector, passages)
    measure(
        "read (language, spelling, catalogue)",
        asked,
        lambda q: understand(q, ConversationContext(), snapshot),
    )
    vectors = dict(
        zip(
            asked, measure("embed question (one call each)", asked, embedder.embed_one), strict=True
        )
    )
    wall, cpu = time.perf_counter(), time.process_time()
    embedder.embed(asked)
    report(
        "embed question (one batch)",
        len(asked),
        time.perf_counter() - wall,
        time.process_time() - cpu,
    )
    measure(
        "classify (TF-IDF + embedding, LR)", asked, lambda q: classifier.classify(q, vectors[q])
    )
    measure("vector search (Chroma, top 5)", asked, lambda q: store.search(vectors[q], limit=5))
    found = dict(
        zip(
            asked,
            measure(
                "hybrid search (vector + BM25, top 5)",
                asked,
                lambda q: retriever.search(q, vectors[q], limit=5),
            ),
            strict=True,
        )
    )
    measure("compose answer (offline)", asked, lambda q: responder.compose(q, vectors[q], found[q]))

    async def run(question: str) -> object:
        return await workflow.run(request_id="bench", question=question)

    fresh = [next(source) for _ in range(args.questions)]
    asyncio.run(whole_runs("workflow, one at a time", run, fresh, at_once=False))
    fresh = [next(source) for _ in range(args.questions)]
    asyncio.run(whole_runs("workflow, all at once", run, fresh, at_once=True))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{'peak RSS of this process':34s} {peak_mib:6.0f} MiB")


if __name__ == "__main__":
    main()
