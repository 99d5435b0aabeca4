"""``techgear eval``: the classifier, retrieval and the whole answering workflow measured on
labelled files kept apart from everything they are measured against.

The questions are read as the worker reads them (language, Hinglish gloss, spelling), on
the knowledge base as ingested (``techgear ingest`` first), with the offline responder and
no cache.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from streams.components import build_workflow, load_local_models
from streams.context import ConversationContext
from streams.evaluation import evaluate as evaluate_classifier
from streams.retrieval_eval import evaluate_retrieval
from streams.settings import WorkerSettings
from streams.understanding import understand
from streams.understanding_eval import evaluate_understanding


@dataclass(frozen=True, slots=True)
class EvaluationFiles:
    train_dir: Path
    classifier: Path
    retrieval: Path
    cases: Path
    conversations: Path
    out_of_scope: Path | None = None
    out_of_scope_key: str | None = None


def evaluate_all(settings: WorkerSettings, files: EvaluationFiles, *, verbose: bool) -> str:
    settings = settings.model_copy(update={"responder": "offline", "redis_url": None})
    models = load_local_models(settings)
    workflow = build_workflow(settings, models)

    def as_read(question: str) -> str:
        return understand(question, ConversationContext(), models.snapshots.current()).english

    classifier = evaluate_classifier(
        files.train_dir,
        files.classifier,
        models.embedder,
        normalize=as_read,
        out_of_scope_path=files.out_of_scope,
        out_of_scope_key=files.out_of_scope_key,
    )
    retrieval = evaluate_retrieval(
        models.retriever,
        models.embedder,
        files.retrieval,
        normalize=as_read,
        relevance_threshold=settings.relevance_threshold,
    )
    understanding = asyncio.run(
        evaluate_understanding(
            workflow, files.cases, files.conversations, fresh_context=ConversationContext()
        )
    )
    return "\n\n".join(
        [
            f"# Classifier ({files.classifier})\n{classifier.render()}",
            f"# Retrieval ({files.retrieval})\n{retrieval.render()}",
            f"# Whole workflow ({files.cases}, {files.conversations})\n"
            + understanding.render(verbose=verbose),
        ]
    )
