from __future__ import annotations

from schemas import Category
from streams.classifier import LabelledExample
from streams.embeddings import OnnxEmbedder
from streams.tuning import cross_validate, render

_IN_SCOPE = [
    "how do I return my earbuds",
    "return policy for phones",
    "can I send back the laptop",
    "I want to return this watch",
    "how many days to return a product",
    "return pickup for my speaker",
    "refund for the returned charger",
    "returning a damaged keyboard",
    "send back the power bank I bought",
    "exchange or return my headphones",
]
_OUT_OF_SCOPE = [
    "will it rain tomorrow",
    "recipe for lemon rice",
    "book a flight to Goa",
    "what is my bank balance",
    "tell me a joke",
    "set an alarm for 6",
    "who wrote the Ramayana",
    "convert miles to kilometres",
    "play some music",
    "how to change a car tyre",
]


def test_scores_every_candidate_on_held_out_folds_best_first(embedder: OnnxEmbedder) -> None:
    examples = [LabelledExample(t, Category.RETURNS_REFUNDS) for t in _IN_SCOPE] + [
        LabelledExample(t, Category.OUT_OF_SCOPE) for t in _OUT_OF_SCOPE
    ]
    vectors = embedder.embed([example.text for example in examples])

    results = cross_validate(
        examples,
        vectors,
        regularizations=(1.0,),
        out_of_scope_weights=(1.0, 2.0),
        out_of_scope_similarities=(0.0, 0.99),
    )

    assert len(results) == 4
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
    # A threshold no question reaches rejects every held-out question.
    refusing = [r for r in results if r.hyperparameters.out_of_scope_similarity == 0.99]
    assert all(r.in_scope_accuracy == 0.0 and r.out_of_scope_rejection == 1.0 for r in refusing)
    assert results[0].hyperparameters.out_of_scope_similarity == 0.0
    assert "rejection" in render(results)
