"""Unit tests of components.steps.evaluate: scores, paired bootstrap intervals, the winner or a tie, latency, report."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from components.steps.evaluate import (
    TIE,
    EvaluateOptions,
    _bootstrap_metrics,
    bootstrap_intervals,
    evaluate_models,
    measure_latency,
    render_evaluation_report,
    score_predictions,
)

LABELS = ["anger", "joy", "sadness"]


class LookupModel:
    """Predicts from a fixed text → label table (the default label otherwise)."""

    def __init__(self, table: dict[str, str], default: str = "joy") -> None:
        self.table, self.default = table, default

    def predict(self, texts):
        return [self.table.get(text, self.default) for text in texts]


def make_test_set(rows: int = 300, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    return [f"text {i}" for i in range(rows)], [str(rng.choice(LABELS)) for _ in range(rows)]


def noisy_model(texts, labels, error_rate: float, seed: int) -> LookupModel:
    rng = np.random.default_rng(seed)
    pairs = zip(texts, labels, strict=True)
    return LookupModel({t: (str(rng.choice(LABELS)) if rng.random() < error_rate else y) for t, y in pairs})


def test_score_predictions_per_class_and_confusion():
    truth = ["joy", "joy", "anger", "sadness"]
    predicted = ["joy", "anger", "anger", "sadness"]
    scores = score_predictions(truth, predicted)
    assert scores["accuracy"] == 0.75
    assert scores["per_class"]["joy"] == {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 2}
    assert scores["confusion_matrix"] == [[1, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert scores["macro_f1"] == round(f1_score(truth, predicted, average="macro"), 4)


def test_vectorised_bootstrap_matches_scikit_learn_on_each_resample():
    rng = np.random.default_rng(1)
    truth, predicted = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    rows = rng.integers(0, 50, size=(20, 50))
    values = _bootstrap_metrics(truth, predicted, rows, 4)
    for i, sample in enumerate(rows):
        assert values["accuracy"][i] == pytest.approx(accuracy_score(truth[sample], predicted[sample]))
        assert values["macro_f1"][i] == pytest.approx(f1_score(truth[sample], predicted[sample], average="macro"))


def test_bootstrap_is_deterministic_for_a_seed():
    texts, labels = make_test_set()
    predictions = {"a": noisy_model(texts, labels, 0.3, 1).predict(texts)}
    first, _ = bootstrap_intervals(labels, predictions, resamples=200, seed=5)
    again, _ = bootstrap_intervals(labels, predictions, resamples=200, seed=5)
    other, _ = bootstrap_intervals(labels, predictions, resamples=200, seed=6)
    assert first == again
    assert first != other


def test_same_seed_gives_the_same_evaluation():
    texts, labels = make_test_set()
    models = {"scratch": noisy_model(texts, labels, 0.2, 1), "automl": noisy_model(texts, labels, 0.4, 2)}
    runs = [
        evaluate_models(
            models, texts, labels, options=EvaluateOptions(seed=3, bootstrap_resamples=300, latency_calls=0)
        )
        for _ in "ab"
    ]
    assert runs[0] == runs[1]


def test_a_clear_difference_names_the_winner_with_intervals():
    texts, labels = make_test_set(400)
    models = {"scratch": noisy_model(texts, labels, 0.05, 1), "automl": noisy_model(texts, labels, 0.6, 2)}
    result = evaluate_models(
        models, texts, labels, options=EvaluateOptions(bootstrap_resamples=500, latency_calls=5, batch_size=50)
    )
    assert result["winner"] == "scratch"
    scratch = result["models"]["scratch"]
    low, high = scratch["accuracy_ci"]
    assert low <= scratch["accuracy"] <= high
    assert result["comparison"]["models"] == ["scratch", "automl"]
    assert result["comparison"]["macro_f1"]["ci"][0] > 0
    assert {"latency_p50_ms", "latency_p95_ms", "throughput_per_second"} <= set(scratch)


def test_identical_models_are_a_tie():
    texts, labels = make_test_set()
    model = noisy_model(texts, labels, 0.3, 1)
    result = evaluate_models(
        {"scratch": model, "automl": model}, texts, labels, options=EvaluateOptions(latency_calls=0)
    )
    assert result["winner"] == TIE
    assert result["comparison"]["accuracy"]["ci"] == [0.0, 0.0]


def test_sizes_and_training_facts_are_reported():
    texts, labels = make_test_set(30)
    model = noisy_model(texts, labels, 0.1, 1)
    result = evaluate_models(
        {"scratch": model},
        texts,
        labels,
        options=EvaluateOptions(latency_calls=0),
        model_sizes={"scratch": 3 * 2**20},
        training={"scratch": {"classifier": "linear_svc", "validation_macro_f1": 0.9}},
    )
    assert result["models"]["scratch"]["model_size_mb"] == 3.0
    assert result["models"]["scratch"]["training"]["classifier"] == "linear_svc"
    assert result["comparison"] is None and result["winner"] == "scratch"
    report = render_evaluation_report(result)
    assert "Winner by macro_f1: scratch" in report and "linear_svc" in report


def test_measure_latency_cycles_texts_to_the_batch_size():
    seen: list[int] = []

    class Counting(LookupModel):
        def predict(self, texts):
            seen.append(len(texts))
            return super().predict(texts)

    figures = measure_latency(Counting({}), ["a", "b"], single_calls=4, batch_size=10)
    assert seen == [1] * 7 + [10]
    assert figures["batch_size"] == 10 and figures["latency_p50_ms"] >= 0


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"winner_metric": "recall"}, "winner_metric"), ({"bootstrap_resamples": 5}, "resamples")]
)
def test_bad_arguments_are_named(kwargs, message):
    texts, labels = make_test_set(20)
    with pytest.raises(ValueError, match=message):
        evaluate_models({"m": LookupModel({})}, texts, labels, options=EvaluateOptions(latency_calls=0, **kwargs))


def test_length_mismatch_is_named():
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_models({"m": LookupModel({})}, ["a", "b"], ["joy"], options=EvaluateOptions(latency_calls=0))
