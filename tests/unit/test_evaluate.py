"""Unit tests of components.steps.evaluate: scores, paired bootstrap intervals, the winner or the tied arms among any
number of arms (in-process and from a bundle), latency, report."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from components.checks.errors import ParameterError
from components.models.latency import LatencySettings, measure_latencies, measure_latency
from components.models.metrics import score_predictions
from components.stats import bootstrap
from components.stats.bootstrap import metric_per_resample
from components.steps.evaluate import (
    TIE,
    EvaluateOptions,
    bootstrap_intervals,
    decide_winner,
    evaluate_models,
    render_evaluation_report,
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
    truth, predicted = rng.integers(0, 4, 30), rng.integers(0, 4, 30)
    truth[0] = 4  # a class with one test row: absent from many resamples, yet in every resample's label set
    rows = rng.integers(0, 30, size=(40, 30))
    values = metric_per_resample(truth, predicted, rows, 5)
    fixed = list(range(5))
    for i, sample in enumerate(rows):
        t, p = truth[sample], predicted[sample]
        assert values["accuracy"][i] == pytest.approx(accuracy_score(t, p))
        assert values["macro_f1"][i] == pytest.approx(f1_score(t, p, labels=fixed, average="macro", zero_division=0))
        assert values["weighted_f1"][i] == pytest.approx(
            f1_score(t, p, labels=fixed, average="weighted", zero_division=0)
        )
    assert any(4 not in truth[sample] for sample in rows)  # the case that used to change the label set


def test_bootstrap_draws_its_resamples_a_bounded_block_at_a_time_the_same_for_every_model(monkeypatch):
    rng = np.random.default_rng(2)
    truth, predicted = rng.integers(0, 3, 50), rng.integers(0, 3, 50)
    blocks, score = [], bootstrap.metric_per_resample

    def recorded(truth, predicted, rows, classes, label_set=None):
        blocks.append(rows)
        return score(truth, predicted, rows, classes, label_set)

    monkeypatch.setattr(bootstrap, "metric_per_resample", recorded)
    monkeypatch.setattr(bootstrap, "RESAMPLE_BLOCK_CELLS", 50 * 7)  # 7 resamples of 50 rows a block
    models = {"a": (predicted, None), "b": (truth, None)}
    values = bootstrap.bootstrap_values(truth, models, 3, resamples=64, seed=9)
    assert [rows.shape for rows in blocks[::2]] == [(7, 50)] * 9 + [(1, 50)]
    assert all(a is b for a, b in zip(blocks[::2], blocks[1::2], strict=True))  # both models, the same resamples
    assert all(len(v) == 64 for model in values.values() for v in model.values())
    assert (values["b"]["accuracy"] == 1).all() and 0.2 < values["a"]["accuracy"].mean() < 0.5
    again = bootstrap.bootstrap_values(truth, models, 3, resamples=64, seed=9)
    np.testing.assert_array_equal(values["a"]["macro_f1"], again["a"]["macro_f1"])  # the same seed, the same values


def test_macro_f1_interval_averages_over_a_fixed_label_set():
    # 150 + 150 rows of two classes, 80 % right, and one row of a third class the model never gets right:
    # macro-F1 is about (0.8 + 0.8 + 0) / 3. Resamples without that row used to average over two classes (0.8),
    # which stretched the interval up to 0.8; over the fixed label set they still count it as 0.
    truth = ["a"] * 150 + ["b"] * 150 + ["c"]
    predicted = [("b" if t == "a" else "a") if i % 5 == 0 else t for i, t in enumerate(truth[:300])] + ["a"]
    texts = [f"t{i}" for i in range(len(truth))]
    model = LookupModel(dict(zip(texts, predicted, strict=True)))
    result = evaluate_models({"m": model}, texts, truth, options=EvaluateOptions())
    scores = result["models"]["m"]
    low, high = scores["macro_f1_ci"]
    assert low <= scores["macro_f1"] <= high
    assert high < scores["macro_f1"] + 0.1, scores["macro_f1_ci"]


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
        evaluate_models(models, texts, labels, options=EvaluateOptions(seed=3, bootstrap_resamples=300)) for _ in "ab"
    ]
    assert runs[0] == runs[1]


def test_a_clear_difference_names_the_winner_with_intervals():
    texts, labels = make_test_set(400)
    models = {"scratch": noisy_model(texts, labels, 0.05, 1), "automl": noisy_model(texts, labels, 0.6, 2)}
    result = evaluate_models(
        models,
        texts,
        labels,
        options=EvaluateOptions(bootstrap_resamples=500),
        latency=LatencySettings(latency_calls=5, batch_size=50),
    )
    assert result["winner"] == "scratch" and result["tied"] == []
    scratch = result["models"]["scratch"]
    low, high = scratch["accuracy_ci"]
    assert low <= scratch["accuracy"] <= high
    assert result["comparison"]["models"] == ["scratch", "automl"]
    assert result["comparison"]["macro_f1"]["ci"][0] > 0
    assert {"latency_p50_ms", "latency_p95_ms", "throughput_per_second"} <= set(scratch)
    assert scratch["latency_rounds"] == LatencySettings().latency_rounds
    for key in ("latency_p50_ms", "latency_p95_ms", "throughput_per_second"):
        low, high = scratch[f"{key}_range"]
        assert low <= scratch[key] <= high
    report = render_evaluation_report(result)
    p50 = scratch["latency_p50_ms_range"]
    assert f"{scratch['latency_p50_ms']:.2f} ({p50[0]:.2f}–{p50[1]:.2f})" in report


def weighted_versus_macro_models() -> tuple[dict[str, LookupModel], list[str], list[str]]:
    """Model ``a`` is better by weighted-F1 (0.9125 vs 0.9036), clearly worse by macro-F1 (0.6285 vs 0.7370)."""
    truth = ["joy"] * 900 + ["anger"] * 50 + ["fear"] * 50
    texts = [f"t{i}" for i in range(len(truth))]
    a = [label if i < 900 or (i - 900) % 50 < 15 else "joy" for i, label in enumerate(truth)]  # misses small classes
    b = [
        ("anger" if (i // 8) % 2 == 0 else "fear") if i < 900 and i % 8 == 0 else label for i, label in enumerate(truth)
    ]
    models = {name: LookupModel(dict(zip(texts, p, strict=True))) for name, p in (("a", a), ("b", b))}
    return models, texts, truth


def test_weighted_f1_winner_is_judged_on_its_own_bootstrap_interval():
    models, texts, truth = weighted_versus_macro_models()
    result = evaluate_models(models, texts, truth, options=EvaluateOptions(winner_metric="weighted_f1"))
    comparison = result["comparison"]
    assert comparison["models"] == ["a", "b"]  # ranked by weighted-F1
    assert comparison["macro_f1"]["ci"][1] < 0  # b is clearly better by macro-F1 …
    low, high = comparison["weighted_f1"]["ci"]
    assert low < 0 < high  # … but by weighted-F1, the metric asked for, the two cannot be told apart
    assert result["winner"] == TIE
    for metric in ("accuracy", "macro_f1", "weighted_f1"):
        assert set(comparison[metric]) == {"difference", "ci"}
    assert "weighted_f1_ci" in result["models"]["a"]


def test_ranking_and_verdict_use_the_same_metric():
    models, texts, truth = weighted_versus_macro_models()
    result = evaluate_models(models, texts, truth, options=EvaluateOptions(winner_metric="macro_f1"))
    assert result["comparison"]["models"] == ["b", "a"]
    assert result["winner"] == "b"


@pytest.mark.parametrize(
    ("ci", "winner"), [([0.01, 0.03], "first"), ([-0.03, -0.01], "second"), ([-0.01, 0.02], TIE), ([0.0, 0.02], TIE)]
)
def test_a_winner_only_when_the_interval_lies_on_its_side_of_zero(ci, winner):
    assert decide_winner("first", "second", ci) == winner


def test_identical_models_are_a_tie():
    texts, labels = make_test_set()
    model = noisy_model(texts, labels, 0.3, 1)
    result = evaluate_models({"scratch": model, "automl": model}, texts, labels, options=EvaluateOptions())
    assert result["winner"] == TIE and result["tied"] == ["scratch", "automl"]
    assert result["comparison"]["accuracy"]["ci"] == [0.0, 0.0]
    assert "a tie between scratch, automl" in render_evaluation_report(result)


def test_sizes_and_training_facts_are_reported():
    texts, labels = make_test_set(30)
    model = noisy_model(texts, labels, 0.1, 1)
    result = evaluate_models(
        {"scratch": model},
        texts,
        labels,
        options=EvaluateOptions(),
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

    figures = measure_latency(
        Counting({}), ["a", "b"], LatencySettings(latency_calls=4, latency_rounds=2, batch_size=10)
    )
    # a probe of 8 texts and one alone (sizing), one untimed batch, then each round: 4 single texts and a batch
    assert seen == [8, 1, 10] + ([1] * 4 + [10]) * 2
    assert figures["batch_size"] == 10 and figures["latency_rounds"] == 2 and figures["latency_p50_ms"] >= 0
    assert figures["single_calls"] == 4
    assert measure_latency(Counting({}), ["a"], LatencySettings(latency_calls=0)) == {}  # 0: not measured


def test_a_slow_model_is_timed_on_fewer_texts_within_the_time_given():
    seen: list[int] = []

    class Slow(LookupModel):
        def predict(self, texts):
            seen.append(len(texts))
            time.sleep(0.01 * len(texts))  # 100 texts a second
            return super().predict(texts)

    settings = LatencySettings(latency_calls=100, latency_rounds=2, batch_size=1000, latency_seconds=2.0)
    figures = measure_latency(Slow({}), ["a", "b"], settings)
    # 2 s over 2 rounds, a quarter each for the singles and the batch: about 25 ms → 8 to 25 texts, 1 to 25 calls
    assert 8 <= figures["batch_size"] <= 25 and 1 <= figures["single_calls"] <= 25
    assert sum(seen) < 1000  # never the 1,000-text batch of the settings


@pytest.mark.parametrize("bad", [{"latency_calls": -1}, {"latency_rounds": 0}, {"batch_size": 0}])
def test_latency_settings_are_checked(bad):
    with pytest.raises(ParameterError, match=next(iter(bad))):
        LatencySettings(**bad)


def test_latency_is_measured_warm_in_interleaved_rounds():
    calls: list[tuple[str, int]] = []

    class Logging(LookupModel):
        def __init__(self, name: str) -> None:
            super().__init__({})
            self.name = name

        def predict(self, texts):
            calls.append((self.name, len(texts)))
            return super().predict(texts)

    figures = measure_latencies(
        {"a": Logging("a"), "b": Logging("b")}, ["x", "y"], rounds=3, single_calls=2, batch_size=4
    )
    assert calls[:2] == [("a", 4), ("b", 4)]  # one untimed batch each first
    rounds = calls[2:]
    per_round = [("a", 1), ("a", 1), ("a", 4), ("b", 1), ("b", 1), ("b", 4)]
    assert len(rounds) == 3 * len(per_round)
    order = [name for name, size in rounds if size == 4]
    assert order == ["a", "b", "b", "a", "a", "b"]  # round-robin, starting model rotated each round
    for name in ("a", "b"):
        f = figures[name]
        assert f["latency_rounds"] == 3
        for key in ("latency_p50_ms", "latency_p95_ms", "throughput_per_second"):
            assert f[f"{key}_range"][0] <= f[key] <= f[f"{key}_range"][1]


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"winner_metric": "recall"}, "winner_metric"), ({"bootstrap_resamples": 5}, "resamples")]
)
def test_bad_arguments_are_named(kwargs, message):
    texts, labels = make_test_set(20)
    with pytest.raises(ValueError, match=message):
        evaluate_models({"m": LookupModel({})}, texts, labels, options=EvaluateOptions(**kwargs))


def test_length_mismatch_is_named():
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_models({"m": LookupModel({})}, ["a", "b"], ["joy"], options=EvaluateOptions())


# --- any number of arms ---------------------------------------------------------------------------------------


def _flip(model: LookupModel, texts: list[str], rows: int) -> LookupModel:
    """``model`` with its label changed on the first ``rows`` texts: nearly the same model."""
    table = dict(model.table)
    for text in texts[:rows]:
        table[text] = next(label for label in LABELS if label != model.predict([text])[0])
    return LookupModel(table)


def test_three_arms_the_best_wins_only_when_it_beats_every_other_arm():
    texts, labels = make_test_set(400)
    models = {
        "scratch": noisy_model(texts, labels, 0.5, 1),
        "automl": noisy_model(texts, labels, 0.05, 2),
        "transformer": noisy_model(texts, labels, 0.3, 3),
    }
    result = evaluate_models(models, texts, labels, options=EvaluateOptions(bootstrap_resamples=300))
    assert result["winner"] == "automl" and result["tied"] == []
    assert [c["models"] for c in result["comparisons"]] == [["automl", "transformer"], ["automl", "scratch"]]
    assert all(c["macro_f1"]["ci"][0] > 0 and c["verdict"] == "automl" for c in result["comparisons"])
    assert result["comparison"] == result["comparisons"][0]  # best against second, as before
    assert list(result["models"]) == ["scratch", "automl", "transformer"]  # pipeline order kept
    report = render_evaluation_report(result)
    assert "Winner by macro_f1: automl" in report and "macro_f1 automl − scratch" in report


def test_three_arms_a_tie_names_the_arms_not_told_apart_from_the_best():
    texts, labels = make_test_set(400)
    good = noisy_model(texts, labels, 0.2, 1)
    models = {"scratch": good, "automl": noisy_model(texts, labels, 0.7, 2), "transformer": _flip(good, texts, 2)}
    result = evaluate_models(models, texts, labels, options=EvaluateOptions(bootstrap_resamples=300))
    assert result["winner"] == TIE
    assert sorted(result["tied"]) == ["scratch", "transformer"]  # the clearly worse automl is not tied
    best = result["tied"][0]
    assert best == result["comparisons"][0]["models"][0]
    by_other = {c["models"][1]: c for c in result["comparisons"]}
    assert by_other["automl"]["verdict"] == best and by_other["automl"]["macro_f1"]["ci"][0] > 0
    (other,) = set(result["tied"]) - {best}
    low, high = by_other[other]["macro_f1"]["ci"]
    assert low <= 0 <= high
    report = render_evaluation_report(result)
    assert f"a tie between {best}, {other}" in report


def test_one_arm_is_the_winner_with_nothing_to_compare():
    texts, labels = make_test_set(50)
    result = evaluate_models({"transformer": noisy_model(texts, labels, 0.1, 1)}, texts, labels)
    assert (result["winner"], result["tied"], result["comparisons"], result["comparison"]) == (
        "transformer",
        [],
        [],
        None,
    )
    assert "Winner by macro_f1: transformer" in render_evaluation_report(result)


def test_predictions_of_another_length_are_refused():
    from components.steps.evaluate import evaluate_predictions

    with pytest.raises(ValueError, match=r"arm 'b'.*differ in length"):
        evaluate_predictions({"a": ["joy", "joy"], "b": ["joy"]}, ["x", "y"], ["joy", "joy"])
