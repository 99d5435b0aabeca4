import copy
from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import csr_matrix, hstack
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion

from streams.classifier import load_training_examples
from streams.linear_scorer import LinearScorer

REPO = Path(__file__).resolve().parents[3]
_SCALE = 2.0


def _fitted(texts: list[str], labels: list[str], vectors: np.ndarray) -> tuple:
    ngrams = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True)),
        ]
    ).fit(texts)
    model = CalibratedClassifierCV(
        LogisticRegression(C=1.0, max_iter=500), method="sigmoid", cv=3, ensemble=False
    )
    model.fit(_features(ngrams, texts, vectors), labels)
    return model, ngrams


def _features(ngrams: FeatureUnion, texts: list[str], vectors: np.ndarray) -> csr_matrix:
    return hstack([csr_matrix(vectors * _SCALE), ngrams.transform(texts)]).tocsr()


@pytest.fixture(scope="module")
def training() -> tuple[list[str], list[str], np.ndarray]:
    examples = load_training_examples(REPO / "data" / "classifier")[::6]
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(len(examples), 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [e.text for e in examples], [e.label.value for e in examples], vectors


@pytest.fixture(scope="module")
def fitted(training: tuple) -> tuple:
    return _fitted(*training)


def test_gives_scikit_learns_probabilities(training: tuple, fitted: tuple) -> None:
    model, ngrams = fitted
    texts = training[0]
    scorer = LinearScorer.of(model, ngrams, dense_scale=_SCALE)
    unseen = [
        "wher is my ordr, it was due monday!!",
        "SmartWatch Pro X battery drains overnight",
        "",  # no n-gram at all: the embedding alone decides
        "qwxz zzkj",  # n-grams unknown to the vocabulary
        texts[0],
    ]
    rng = np.random.default_rng(11)
    queries = rng.normal(size=(len(unseen), 16)).astype(np.float32)
    expected = model.predict_proba(_features(ngrams, unseen, queries))
    actual = scorer.probabilities(unseen, queries)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(actual.sum(axis=1), 1.0, atol=1e-12)


def test_gives_scikit_learns_probabilities_of_two_classes(training: tuple) -> None:
    texts, labels, vectors = training
    two = [label if label == "greeting" else "other" for label in labels]
    model, ngrams = _fitted(texts, two, vectors)
    scorer = LinearScorer.of(model, ngrams, dense_scale=_SCALE)
    unseen = ["hello there!", "my refund never came", ""]
    queries = np.random.default_rng(5).normal(size=(len(unseen), 16)).astype(np.float32)
    expected = model.predict_proba(_features(ngrams, unseen, queries))
    np.testing.assert_allclose(scorer.probabilities(unseen, queries), expected, rtol=0, atol=1e-9)


def test_refuses_an_estimator_whose_classes_are_in_another_order(fitted: tuple) -> None:
    model, ngrams = copy.deepcopy(fitted)
    model.calibrated_classifiers_[0].estimator.classes_ = model.classes_[::-1]
    with pytest.raises(ValueError, match="order"):
        LinearScorer.of(model, ngrams, dense_scale=_SCALE)
