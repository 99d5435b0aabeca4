from __future__ import annotations

from pathlib import Path

from streams.embeddings import OnnxEmbedder
from streams.evaluation import evaluate

DATA = Path(__file__).resolve().parents[3] / "data" / "classifier"


def test_classifier_meets_its_targets_on_the_held_out_file(embedder: OnnxEmbedder) -> None:
    report = evaluate(DATA, DATA / "eval.jsonl", embedder)

    assert report.examples == 260
    assert report.accuracy >= 0.90
    assert report.out_of_scope_rejection >= 0.95
    assert sum(map(sum, report.confusion)) == report.examples
    assert "confusion matrix" in report.render()
