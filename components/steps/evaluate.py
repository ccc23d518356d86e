"""Evaluate: every model on the same held-out texts with the same metrics, and the uncertainty of the comparison.

Per model: accuracy, macro-F1, weighted-F1, per-class precision/recall/F1, the confusion matrix, prediction
latency (p50/p95 ms for one text, throughput for a batch) and, when given, the model's size on disk.

Uncertainty: a paired, seeded bootstrap over the test rows (the same resampled rows for every model) gives
95 % percentile intervals for each model's accuracy and macro-F1 and for the difference between the two best
models. The winner (by ``winner_metric``) is called ``"tie"`` when the interval of that difference contains 0.
The same seed gives the same metrics and intervals, run after run (latencies are measurements and vary).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import cycle, islice
from typing import Any, Protocol

import numpy as np
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from components.shared.models import score
from components.shared.options import check_choice, check_number

METRICS = ("accuracy", "macro_f1", "weighted_f1")
BOOTSTRAP_METRICS = ("accuracy", "macro_f1")
TIE = "tie"


class TextClassifier(Protocol):
    def predict(self, texts: Sequence[str]) -> Sequence[str]: ...


def score_predictions(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro- and weighted-F1, per-class precision/recall/F1 and the confusion matrix (rows: truth)."""
    classes = sorted(set(truth) | set(predicted))
    per_class = classification_report(truth, predicted, labels=classes, output_dict=True, zero_division=0)
    return {
        **score(truth, predicted),
        "weighted_f1": round(float(f1_score(truth, predicted, average="weighted", zero_division=0)), 4),
        "test_rows": len(truth),
        "labels": classes,
        "per_class": {
            label: {
                "precision": round(float(per_class[label]["precision"]), 4),
                "recall": round(float(per_class[label]["recall"]), 4),
                "f1": round(float(per_class[label]["f1-score"]), 4),
                "support": int(per_class[label]["support"]),
            }
            for label in classes
        },
        "confusion_matrix": confusion_matrix(truth, predicted, labels=classes).tolist(),
    }


def evaluate_model(model: TextClassifier, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Scores one text → label model (see :func:`score_predictions`); ``predictions`` holds its labels."""
    if len(texts) != len(labels):
        raise ValueError(f"texts ({len(texts)}) and labels ({len(labels)}) differ in length")
    if not len(texts):
        raise ValueError("evaluate_model: the held-out set is empty")
    predicted = [str(p) for p in model.predict(list(texts))]
    return {**score_predictions([str(t) for t in labels], predicted), "predictions": predicted}


def measure_latency(
    model: TextClassifier, texts: Sequence[str], single_calls: int = 100, batch_size: int = 1000
) -> dict[str, float]:
    """Times ``predict`` on one text at a time and on one batch.

    Args:
        model: The model.
        texts: Texts to predict (cycled when fewer than needed).
        single_calls: Timed one-text calls (after 3 untimed warm-up calls).
        batch_size: Texts in the timed batch.

    Returns:
        ``latency_p50_ms``, ``latency_p95_ms`` (one text), ``batch_size``, ``batch_seconds`` and
        ``throughput_per_second`` (batch).
    """
    if not texts or single_calls < 1 or batch_size < 1:
        raise ValueError("measure_latency: need texts, single_calls >= 1 and batch_size >= 1")
    singles = list(islice(cycle(texts), single_calls + 3))
    for text in singles[:3]:
        model.predict([text])
    timings = []
    for text in singles[3:]:
        began = time.perf_counter()
        model.predict([text])
        timings.append((time.perf_counter() - began) * 1000)
    batch = list(islice(cycle(texts), batch_size))
    began = time.perf_counter()
    model.predict(batch)
    batch_seconds = time.perf_counter() - began
    return {
        "latency_p50_ms": round(float(np.percentile(timings, 50)), 3),
        "latency_p95_ms": round(float(np.percentile(timings, 95)), 3),
        "batch_size": batch_size,
        "batch_seconds": round(batch_seconds, 4),
        "throughput_per_second": round(batch_size / max(batch_seconds, 1e-9), 1),  # finite: JSON has no inf
    }


def _bootstrap_metrics(truth: np.ndarray, predicted: np.ndarray, rows: np.ndarray, classes: int) -> dict[str, Any]:
    """Accuracy and macro-F1 of every resample (``rows``: resamples × test rows of indices), vectorised.

    Macro-F1 averages over the classes present in the resample's truth or predictions, as scikit-learn does.
    """
    resamples = rows.shape[0]
    offsets = (np.arange(resamples) * classes)[:, None]
    t, p = truth[rows], predicted[rows]
    correct = (t == p).astype(np.float64)
    size = resamples * classes
    true_counts = np.bincount((offsets + t).ravel(), minlength=size).reshape(resamples, classes)
    pred_counts = np.bincount((offsets + p).ravel(), minlength=size).reshape(resamples, classes)
    hits = np.bincount((offsets + t).ravel(), weights=correct.ravel(), minlength=size).reshape(resamples, classes)
    present = (true_counts + pred_counts) > 0
    f1 = np.divide(2 * hits, true_counts + pred_counts, out=np.zeros_like(hits), where=present)
    return {"accuracy": correct.mean(axis=1), "macro_f1": f1.sum(axis=1) / present.sum(axis=1)}


def _interval(values: np.ndarray, confidence: float) -> list[float]:
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [round(float(low), 4), round(float(high), 4)]


def bootstrap_intervals(
    truth: Sequence[str],
    predictions: Mapping[str, Sequence[str]],
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 42,
) -> tuple[dict[str, dict[str, list[float]]], dict[str, np.ndarray]]:
    """Paired bootstrap: the same resampled test rows for every model.

    Args:
        truth: True labels of the test rows.
        predictions: Model name → its predicted labels for the same rows.
        resamples: Bootstrap resamples.
        confidence: Interval coverage (percentile method).
        seed: Seed of the resampling.

    Returns:
        ``(intervals, samples)``: model → metric → ``[low, high]``, and ``"<model>/<metric>"`` → the per-resample
        values (for intervals of differences).
    """
    if resamples < 10 or not 0 < confidence < 1:
        raise ValueError(f"need resamples >= 10 and 0 < confidence < 1, got {resamples}, {confidence}")
    classes = sorted(set(truth).union(*(set(p) for p in predictions.values())))
    code = {label: i for i, label in enumerate(classes)}
    truth_codes = np.array([code[t] for t in truth])
    rows = np.random.default_rng(seed).integers(0, len(truth), size=(resamples, len(truth)))
    intervals: dict[str, dict[str, list[float]]] = {}
    samples: dict[str, np.ndarray] = {}
    for name, predicted in predictions.items():
        values = _bootstrap_metrics(truth_codes, np.array([code[p] for p in predicted]), rows, len(classes))
        intervals[name] = {metric: _interval(values[metric], confidence) for metric in BOOTSTRAP_METRICS}
        samples.update({f"{name}/{metric}": values[metric] for metric in BOOTSTRAP_METRICS})
    return intervals, samples


@dataclass(frozen=True)
class EvaluateOptions:
    """How the models are compared: the winner's metric, the bootstrap and the latency measurement.

    Attributes:
        winner_metric: ``accuracy``, ``macro_f1`` or ``weighted_f1``.
        seed: Seed of the bootstrap.
        bootstrap_resamples: Bootstrap resamples of the test rows.
        confidence: Coverage of the intervals.
        latency_calls: One-text calls timed per model; 0 skips the latency measurement.
        batch_size: Texts in the timed batch.
    """

    winner_metric: str = "macro_f1"
    seed: int = 42
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    latency_calls: int = 100
    batch_size: int = 1000

    def __post_init__(self) -> None:
        check_choice("winner_metric", self.winner_metric, METRICS)
        check_number("seed", self.seed, low=0, integer=True)
        check_number("bootstrap_resamples", self.bootstrap_resamples, low=10, integer=True)
        check_number("confidence", self.confidence, low=0, high=1, low_open=True, high_open=True)
        check_number("latency_calls", self.latency_calls, low=0, integer=True)
        check_number("batch_size", self.batch_size, low=1, integer=True)


def evaluate_models(
    models: Mapping[str, TextClassifier],
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    options: EvaluateOptions | None = None,
    model_sizes: Mapping[str, int] | None = None,
    training: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Scores several models on the same held-out set, with bootstrap intervals, and names the winner.

    Args:
        models: Model name → text → label model.
        texts: Held-out texts.
        labels: Their true labels.
        options: Winner's metric, bootstrap and latency settings (:class:`EvaluateOptions`); defaults if ``None``.
        model_sizes: Model name → size on disk in bytes (reported in MB).
        training: Model name → what its training reported (chosen parameters, validation scores), copied in.

    Returns:
        ``models`` (name → scores, intervals, latency, size, training), ``comparison`` (the two best by
        ``winner_metric``: difference and its interval for accuracy and macro-F1), ``winner``, ``winner_metric``,
        ``bootstrap`` (resamples, confidence, seed).
    """
    options = options or EvaluateOptions()
    winner_metric, seed, bootstrap_resamples = options.winner_metric, options.seed, options.bootstrap_resamples
    confidence, latency_calls, batch_size = options.confidence, options.latency_calls, options.batch_size
    if not models:
        raise ValueError("evaluate_models: no models given")
    texts, truth = [str(t) for t in texts], [str(label) for label in labels]
    results = {name: evaluate_model(model, texts, truth) for name, model in models.items()}
    intervals, samples = bootstrap_intervals(
        truth, {n: r.pop("predictions") for n, r in results.items()}, bootstrap_resamples, confidence, seed
    )
    for name, result in results.items():
        result.update({f"{metric}_ci": intervals[name][metric] for metric in BOOTSTRAP_METRICS})
        if latency_calls:
            result.update(measure_latency(models[name], texts, latency_calls, batch_size))
        if model_sizes and name in model_sizes:
            result["model_size_mb"] = round(model_sizes[name] / 2**20, 3)
        if training and name in training:
            result["training"] = dict(training[name])
    ranked = sorted(results, key=lambda name: (-results[name][winner_metric], list(results).index(name)))
    winner, comparison = ranked[0], None
    if len(ranked) > 1:
        first, second = ranked[0], ranked[1]
        comparison = {"models": [first, second], "confidence": confidence}
        for metric in BOOTSTRAP_METRICS:
            difference = samples[f"{first}/{metric}"] - samples[f"{second}/{metric}"]
            comparison[metric] = {
                "difference": round(results[first][metric] - results[second][metric], 4),
                "ci": _interval(difference, confidence),
            }
        # The bootstrap covers accuracy and macro-F1; weighted-F1 is judged on its macro-F1 interval.
        low, high = comparison["accuracy" if winner_metric == "accuracy" else "macro_f1"]["ci"]
        if low <= 0 <= high:
            winner = TIE
    return {
        "models": results,
        "comparison": comparison,
        "winner": winner,
        "winner_metric": winner_metric,
        "bootstrap": {"resamples": bootstrap_resamples, "confidence": confidence, "seed": seed},
    }


def _fmt_ci(ci: Sequence[float]) -> str:
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def render_evaluation_report(result: Mapping[str, Any]) -> str:
    """The evaluation as Markdown: headline table, comparison, winner, per-class scores, confusion matrices."""
    boot = result["bootstrap"]
    level = f"{boot['confidence'] * 100:g} %"
    lines = [
        "# Evaluation",
        "",
        f"Same held-out rows for every model; {level} intervals from {boot['resamples']} paired bootstrap "
        f"resamples of the test rows (seed {boot['seed']}).",
        "",
        f"| model | accuracy | {level} CI | macro-F1 | {level} CI | weighted-F1 | p50 ms | p95 ms | texts/s | MB |",
        "|---|---:|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in result["models"].items():
        lines.append(
            f"| {name} | {m['accuracy']:.4f} | {_fmt_ci(m['accuracy_ci'])} | {m['macro_f1']:.4f} | "
            f"{_fmt_ci(m['macro_f1_ci'])} | {m['weighted_f1']:.4f} | {m.get('latency_p50_ms', float('nan')):.2f} | "
            f"{m.get('latency_p95_ms', float('nan')):.2f} | {m.get('throughput_per_second', float('nan')):.0f} | "
            f"{m.get('model_size_mb', float('nan')):.2f} |"
        )
    comparison = result.get("comparison")
    lines.append("")
    if comparison:
        first, second = comparison["models"]
        for metric in BOOTSTRAP_METRICS:
            c = comparison[metric]
            lines.append(f"- {metric} {first} − {second}: {c['difference']:+.4f}, {level} CI {_fmt_ci(c['ci'])}")
    verdict = "a tie: the interval of the difference contains 0" if result["winner"] == TIE else result["winner"]
    lines += ["", f"**Winner by {result['winner_metric']}: {verdict}**", ""]
    for name, m in result["models"].items():
        lines += [f"## {name}", ""]
        training = m.get("training")
        if training:
            shown = ", ".join(
                f"{key}={value}"
                for key, value in sorted(training.items())
                if not isinstance(value, (list, dict)) or key in ("ensemble_members", "models")
            )
            lines += [f"Training: {shown}", ""]
        lines += ["| label | precision | recall | F1 | support |", "|---|---:|---:|---:|---:|"]
        for label, s in m["per_class"].items():
            lines.append(f"| {label} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | {s['support']} |")
        lines += ["", "Confusion matrix (rows: truth, columns: predicted)", ""]
        lines.append("| | " + " | ".join(m["labels"]) + " |")
        lines.append("|---|" + "---:|" * len(m["labels"]))
        for label, counts in zip(m["labels"], m["confusion_matrix"], strict=True):
            lines.append(f"| {label} | " + " | ".join(str(c) for c in counts) + " |")
        lines.append("")
    return "\n".join(lines)
