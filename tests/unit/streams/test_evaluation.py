from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.embeddings import OnnxEmbedder
from streams.evaluation import evaluate, load_questions

DATA = Path(__file__).resolve().parents[3] / "data" / "classifier"


def test_classifier_meets_its_targets_on_the_held_out_file(
    embedder: OnnxEmbedder, tmp_path: Path
) -> None:
    declined = tmp_path / "declined.jsonl"
    declined.write_text('"will it rain in Indore tomorrow"\n{"text": "how do I poach an egg"}\n')

    report = evaluate(DATA, DATA / "eval.jsonl", embedder, out_of_scope_path=declined)

    assert report.examples == 367
    assert report.accuracy >= 0.88
    assert report.out_of_scope_rejection >= 0.95
    assert sum(map(sum, report.confusion)) == report.examples
    assert {kind.kind for kind in report.by_kind} == {
        "plain",
        "misspelt",
        "hinglish",
        "exact_fact",
        "unknown_product",
        "out_of_scope",
    }
    assert sum(kind.examples for kind in report.by_kind) == report.examples
    assert report.out_of_scope_check is not None
    assert report.out_of_scope_check.questions == 2
    rendered = report.render()
    assert "confusion matrix" in rendered
    assert "hinglish" in rendered
    assert "declined.jsonl: 2 questions" in rendered


def _write_jsonl(path: Path, rows: list[dict[str, str]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return path


def test_normalize_rewrites_evaluated_texts_but_not_training_examples(
    embedder: OnnxEmbedder, tmp_path: Path
) -> None:
    train = tmp_path / "train"
    train.mkdir()
    greetings = ["hi", "hello", "good morning", "thanks", "hey there", "namaste"]
    returns = [
        "how do I return my earbuds",
        "return policy for phones",
        "can I send back the laptop",
        "I want to return this watch",
        "how many days to return a product",
        "return pickup for my speaker",
    ]
    _write_jsonl(
        train / "train.jsonl",
        [{"text": t, "label": "greeting"} for t in greetings]
        + [{"text": t, "label": "returns_refunds"} for t in returns],
    )
    misspelt = _write_jsonl(
        tmp_path / "eval.jsonl",
        [{"text": "zzqx", "label": "returns_refunds", "kind": "misspelt"}],
    )

    def normalize(text: str) -> str:
        return "how do I return my headphones" if text == "zzqx" else text

    report = evaluate(train, misspelt, embedder, normalize=normalize)

    assert [(kind.kind, kind.accuracy) for kind in report.by_kind] == [("misspelt", 1.0)]


def test_loads_questions_from_clinc_style_json_under_a_key(tmp_path: Path) -> None:
    path = tmp_path / "data_full.json"
    path.write_bytes(orjson.dumps({"oos_test": [["a question", "oos"], ["another", "oos"]]}))

    assert load_questions(path, "oos_test") == ["a question", "another"]


def test_loads_questions_from_a_json_list_of_strings_or_objects(tmp_path: Path) -> None:
    path = tmp_path / "questions.json"
    path.write_bytes(orjson.dumps(["one", {"text": "two"}]))

    assert load_questions(path) == ["one", "two"]


@pytest.mark.parametrize(
    ("content", "key"),
    [({"oos_test": []}, "oos_val"), ({"oos_test": []}, None), ([1, 2], None)],
)
def test_rejects_files_that_hold_no_question_list(
    tmp_path: Path, content: object, key: str | None
) -> None:
    path = tmp_path / "questions.json"
    path.write_bytes(orjson.dumps(content))

    with pytest.raises(ValueError):
        load_questions(path, key)
