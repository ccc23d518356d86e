"""Evaluate: every model on the same held-out texts with the same metrics, and the uncertainty of the comparison.

Per model: accuracy, macro-F1, weighted-F1, per-class precision/recall/F1, the confusion matrix, prediction
latency (p50/p95 ms for one text, throughput for a batch) and, when given, the model's size on disk.

Uncertainty: a paired, seeded bootstrap over the test rows (the same resampled rows for every model) gives
95 % percentile intervals for each model's accuracy, macro-F1 and weighted-F1, and for the difference of each
between the two best models by ``winner_metric``. Macro-F1 averages over a fixed label set in every resample
(the test labels and the model's predicted labels, as its point estimate does), so a class with a single test row
does not drop out of the resamples that miss it. The winner is decided on ``winner_metric``'s own difference
interval: the first model when the interval lies above 0, the second when it lies below, ``"tie"`` when it
contains 0. The same seed gives the same metrics and intervals, run after run.

Latency: one untimed batch per model first, then ``latency_rounds`` rounds, each timing every model in turn
(round-robin, the first model rotated each round); reported as the median over rounds with its range (min, max).
Latencies are measurements and vary with the machine's load: measure them outside any profiler's sampling window.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import cycle, islice
from typing import Any, Protocol

import joblib
import numpy as np
import pandas as pd
from sklearn.metrics import classification_report, confusion_matrix, f1_score

from components.checks.options import check_choice, check_number
from components.io import atomic
from components.models.trained import score
from components.reporting.markdown import cell
from components.stats.bootstrap import bootstrap_values
from components.stats.slices import render_slices, slice_groups, slice_scores

METRICS = ("accuracy", "macro_f1", "weighted_f1")
BOOTSTRAP_METRICS = METRICS
LATENCY_KEYS = ("latency_p50_ms", "latency_p95_ms", "throughput_per_second")
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


def _time_round(model: TextClassifier, singles: Sequence[str], batch: Sequence[str]) -> dict[str, float]:
    """One timed round: ``predict`` on each text of ``singles`` alone, then on ``batch`` at once."""
    timings = []
    for text in singles:
        began = time.perf_counter()
        model.predict([text])
        timings.append((time.perf_counter() - began) * 1000)
    began = time.perf_counter()
    model.predict(list(batch))
    batch_seconds = time.perf_counter() - began
    return {
        "latency_p50_ms": round(float(np.percentile(timings, 50)), 3),
        "latency_p95_ms": round(float(np.percentile(timings, 95)), 3),
        "batch_seconds": round(batch_seconds, 4),
        "throughput_per_second": round(len(batch) / max(batch_seconds, 1e-9), 1),  # finite: JSON has no inf
    }


def _check_latency_arguments(texts: Sequence[str], single_calls: int, batch_size: int) -> None:
    if not texts or single_calls < 1 or batch_size < 1:
        raise ValueError("measure_latency: need texts, single_calls >= 1 and batch_size >= 1")


def measure_latency(
    model: TextClassifier, texts: Sequence[str], single_calls: int = 100, batch_size: int = 1000
) -> dict[str, float]:
    """Times ``predict`` on one text at a time and on one batch, once (see :func:`measure_latencies`).

    Args:
        model: The model.
        texts: Texts to predict (cycled when fewer than needed).
        single_calls: Timed one-text calls (after 3 untimed warm-up calls).
        batch_size: Texts in the timed batch.

    Returns:
        ``latency_p50_ms``, ``latency_p95_ms`` (one text), ``batch_size``, ``batch_seconds`` and
        ``throughput_per_second`` (batch).
    """
    _check_latency_arguments(texts, single_calls, batch_size)
    singles = list(islice(cycle(texts), single_calls + 3))
    for text in singles[:3]:
        model.predict([text])
    return {"batch_size": batch_size, **_time_round(model, singles[3:], list(islice(cycle(texts), batch_size)))}


def measure_latencies(
    models: Mapping[str, TextClassifier],
    texts: Sequence[str],
    *,
    rounds: int = 5,
    single_calls: int = 100,
    batch_size: int = 1000,
) -> dict[str, dict[str, Any]]:
    """Times every model's ``predict`` warm, in rounds interleaved between the models.

    Each model first predicts one untimed batch (warm-up). Then, ``rounds`` times, every model in turn (the first
    one rotated each round, so none is always first) predicts ``single_calls`` texts one at a time and one batch.
    A burst of load on the machine then hits every model alike instead of one model's whole measurement.

    Args:
        models: Model name → model.
        texts: Texts to predict (cycled when fewer than needed).
        rounds: Timed rounds per model.
        single_calls: Timed one-text calls per round.
        batch_size: Texts in each timed batch.

    Returns:
        Model name → the median over rounds of ``latency_p50_ms``, ``latency_p95_ms`` (one text),
        ``throughput_per_second`` and ``batch_seconds``; their ``<key>_range`` (``[min, max]`` over rounds);
        ``latency_rounds`` and ``batch_size``.
    """
    _check_latency_arguments(texts, single_calls, batch_size)
    if rounds < 1:
        raise ValueError(f"measure_latencies: need rounds >= 1, got {rounds}")
    singles, batch = list(islice(cycle(texts), single_calls)), list(islice(cycle(texts), batch_size))
    for model in models.values():
        model.predict(batch)
    names = list(models)
    timed: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for i in range(rounds):
        start = i % len(names)
        for name in names[start:] + names[:start]:
            timed[name].append(_time_round(models[name], singles, batch))
    return {name: _summarise_rounds(timed[name], batch_size) for name in names}


def _summarise_rounds(rounds: Sequence[Mapping[str, float]], batch_size: int) -> dict[str, Any]:
    """Median and ``[min, max]`` over rounds of each figure of :func:`_time_round`."""
    out: dict[str, Any] = {}
    for key in (*LATENCY_KEYS, "batch_seconds"):
        values = [r[key] for r in rounds]
        out[key] = round(float(np.median(values)), 4 if key == "batch_seconds" else 3)
        if key in LATENCY_KEYS:
            out[f"{key}_range"] = [min(values), max(values)]
    return {**out, "batch_size": batch_size, "latency_rounds": len(rounds)}


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
    models = {}
    for name, predicted in predictions.items():
        predicted_codes = np.array([code[p] for p in predicted])
        # the model's own label set, as its point estimate has it: fixed once, the same in every resample
        models[name] = (predicted_codes, np.union1d(truth_codes, predicted_codes))
    values = bootstrap_values(truth_codes, models, len(classes), resamples=resamples, seed=seed)
    intervals = {name: {m: _interval(v[m], confidence) for m in BOOTSTRAP_METRICS} for name, v in values.items()}
    samples = {f"{name}/{m}": v[m] for name, v in values.items() for m in BOOTSTRAP_METRICS}
    return intervals, samples


@dataclass(frozen=True)
class EvaluateOptions:
    """How the models are compared: the winner's metric, the bootstrap and the latency measurement.

    Attributes:
        winner_metric: ``accuracy``, ``macro_f1`` or ``weighted_f1``.
        seed: Seed of the bootstrap.
        bootstrap_resamples: Bootstrap resamples of the test rows.
        confidence: Coverage of the intervals.
        latency_calls: One-text calls timed per model and round; 0 skips the latency measurement.
        batch_size: Texts in the timed batch.
        latency_rounds: Timed rounds per model, interleaved between models (see :func:`measure_latencies`).
    """

    winner_metric: str = "macro_f1"
    seed: int = 42
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    latency_calls: int = 100
    batch_size: int = 1000
    latency_rounds: int = 5

    def __post_init__(self) -> None:
        check_choice("winner_metric", self.winner_metric, METRICS)
        check_number("seed", self.seed, low=0, integer=True)
        check_number("bootstrap_resamples", self.bootstrap_resamples, low=10, integer=True)
        check_number("confidence", self.confidence, low=0, high=1, low_open=True, high_open=True)
        check_number("latency_calls", self.latency_calls, low=0, integer=True)
        check_number("batch_size", self.batch_size, low=1, integer=True)
        check_number("latency_rounds", self.latency_rounds, low=1, integer=True)


def evaluate_models(
    models: Mapping[str, TextClassifier],
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    options: EvaluateOptions | None = None,
    model_sizes: Mapping[str, int] | None = None,
    training: Mapping[str, Mapping[str, Any]] | None = None,
    sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Scores several models on the same held-out set, with bootstrap intervals, and names the winner.

    Args:
        models: Model name → text → label model.
        texts: Held-out texts.
        labels: Their true labels.
        options: Winner's metric, bootstrap and latency settings (:class:`EvaluateOptions`); defaults if ``None``.
        model_sizes: Model name → size on disk in bytes (reported in MB).
        training: Model name → what its training reported (chosen parameters, validation scores), copied in.
        sources: Each test row's source file: with more than one, every model is also scored per file
            (``slices``, :mod:`components.stats.slices`), as it is per text-length band.

    Returns:
        ``models`` (name → scores, intervals, latency, size, training, slices), ``comparison`` (the two best by
        ``winner_metric``: for accuracy, macro-F1 and weighted-F1 the difference and its interval; ``decided_on``
        names the metric the winner was decided on), ``winner``, ``winner_metric``, ``bootstrap`` (resamples,
        confidence, seed).
    """
    options = options or EvaluateOptions()
    if not models:
        raise ValueError("evaluate_models: no models given")
    texts, truth = [str(t) for t in texts], [str(label) for label in labels]
    results = {name: evaluate_model(model, texts, truth) for name, model in models.items()}
    predictions = {n: r.pop("predictions") for n, r in results.items()}
    intervals, samples = bootstrap_intervals(
        truth, predictions, options.bootstrap_resamples, options.confidence, options.seed
    )
    groups = slice_groups(texts, None if sources is None else [str(s) for s in sources])
    for name, result in results.items():
        result["slices"] = slice_scores(truth, predictions[name], groups)
        result.update({f"{metric}_ci": intervals[name][metric] for metric in BOOTSTRAP_METRICS})
        if model_sizes and name in model_sizes:
            result["model_size_mb"] = round(model_sizes[name] / 2**20, 3)
        if training and name in training:
            result["training"] = dict(training[name])
    winner, comparison = compare_best(results, samples, options.winner_metric, options.confidence)
    evaluation = {
        "models": results,
        "comparison": comparison,
        "winner": winner,
        "winner_metric": options.winner_metric,
        "bootstrap": {"resamples": options.bootstrap_resamples, "confidence": options.confidence, "seed": options.seed},
    }
    return add_latency(evaluation, models, texts, options)


def evaluate_saved_models(
    test_path: str,
    model_paths: Mapping[str, str],
    *,
    training: Mapping[str, Mapping[str, Any]] | None = None,
    options: EvaluateOptions | None = None,
) -> tuple[dict[str, Any], dict[str, TextClassifier], list[str]]:
    """Loads the held-out rows and the saved models and scores them (:func:`evaluate_models`), latency left out.

    Args:
        test_path: Held-out rows (Parquet with ``text``, ``label`` and, from ingest, ``source``: slices per file).
        model_paths: Model name → its joblib file (its size is reported).
        training: Model name → what its training reported, copied in.
        options: Winner's metric and bootstrap settings; latency is measured apart (:func:`add_latency`).

    Returns:
        ``(evaluation, models, texts)``: the evaluation without latency, the loaded models and the held-out texts,
        for :func:`add_latency` outside the profiled block.
    """
    options = options or EvaluateOptions()
    rows = pd.read_parquet(test_path)
    models = {name: joblib.load(path) for name, path in model_paths.items()}
    texts = rows["text"].astype(str).tolist()
    evaluation = evaluate_models(
        models,
        texts,
        rows["label"].tolist(),
        options=replace(options, latency_calls=0),
        model_sizes={name: os.path.getsize(path) for name, path in model_paths.items()},
        training=training,
        sources=rows["source"].tolist() if "source" in rows else None,
    )
    return evaluation, models, texts


def write_evaluation(evaluation: Mapping[str, Any], json_path: str, report_path: str) -> None:
    """Writes the evaluation as JSON and as the Markdown report (:func:`render_evaluation_report`)."""
    atomic.write_json(json_path, evaluation)
    atomic.write_text(report_path, render_evaluation_report(evaluation))


def decide_winner(first: str, second: str, ci: Sequence[float]) -> str:
    """The winner from the interval of ``first − second``: ``first`` above 0, ``second`` below 0, else a tie."""
    low, high = ci
    if low > 0:
        return first
    if high < 0:
        return second
    return TIE


def compare_best(
    results: Mapping[str, Mapping[str, Any]], samples: Mapping[str, np.ndarray], metric: str, confidence: float
) -> tuple[str, dict[str, Any] | None]:
    """Ranks the models by ``metric`` and decides between the two best on that metric's own difference interval.

    Args:
        results: Model name → its scores (``metric`` among them), in the models' order (it breaks ties).
        samples: ``"<model>/<metric>"`` → per-resample values of the paired bootstrap.
        metric: The metric that ranks and decides.
        confidence: Interval coverage.

    Returns:
        ``(winner, comparison)``: the winner's name or :data:`TIE`, and ``models`` (first, second),
        ``confidence``, ``decided_on`` and per metric the ``difference`` (first − second) with its ``ci``
        (``None`` for a single model).
    """
    order = list(results)
    ranked = sorted(order, key=lambda name: (-results[name][metric], order.index(name)))
    if len(ranked) < 2:
        return ranked[0], None
    first, second = ranked[:2]
    comparison: dict[str, Any] = {"models": [first, second], "confidence": confidence, "decided_on": metric}
    for name in BOOTSTRAP_METRICS:
        difference = samples[f"{first}/{name}"] - samples[f"{second}/{name}"]
        comparison[name] = {
            "difference": round(results[first][name] - results[second][name], 4),
            "ci": _interval(difference, confidence),
        }
    return decide_winner(first, second, comparison[metric]["ci"]), comparison


def add_latency(
    evaluation: dict[str, Any], models: Mapping[str, TextClassifier], texts: Sequence[str], options: EvaluateOptions
) -> dict[str, Any]:
    """Adds every model's latency figures (:func:`measure_latencies`) to ``evaluation["models"]``.

    Run it outside a profiled block, so that the profiler's sampler does not compete with the timed calls.

    Args:
        evaluation: Output of :func:`evaluate_models` (changed in place).
        models: The same models.
        texts: Texts to predict.
        options: ``latency_calls`` (0: nothing is measured), ``latency_rounds`` and ``batch_size``.

    Returns:
        ``evaluation``, with the latency figures in each model's entry.
    """
    if options.latency_calls:
        figures = measure_latencies(
            models,
            [str(t) for t in texts],
            rounds=options.latency_rounds,
            single_calls=options.latency_calls,
            batch_size=options.batch_size,
        )
        for name, figure in figures.items():
            evaluation["models"][name].update(figure)
    return evaluation


def _fmt_ci(ci: Sequence[float]) -> str:
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"


def _fmt_latency(m: Mapping[str, Any], key: str, digits: int) -> str:
    """A latency figure as ``median (min–max)`` over rounds, or the median alone."""
    value = m.get(key)
    if value is None:
        return "–"
    spread = m.get(f"{key}_range")
    return f"{value:.{digits}f}" + (f" ({spread[0]:.{digits}f}–{spread[1]:.{digits}f})" if spread else "")


def _headline(result: Mapping[str, Any]) -> list[str]:
    """The report's table of every model, the differences between the two best, the winner and how it was decided."""
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
            f"{_fmt_ci(m['macro_f1_ci'])} | {m['weighted_f1']:.4f} | {_fmt_latency(m, 'latency_p50_ms', 2)} | "
            f"{_fmt_latency(m, 'latency_p95_ms', 2)} | {_fmt_latency(m, 'throughput_per_second', 0)} | "
            f"{m.get('model_size_mb', float('nan')):.2f} |"
        )
    rounds = max((m.get("latency_rounds", 0) for m in result["models"].values()), default=0)
    if rounds:
        lines += [
            "",
            f"Latency and throughput: median (min–max) over {rounds} warm rounds, interleaved between the models.",
        ]
    comparison = result.get("comparison")
    lines.append("")
    if comparison:
        first, second = comparison["models"]
        for metric in BOOTSTRAP_METRICS:
            if metric in comparison:  # older evaluations have no weighted-F1 interval
                c = comparison[metric]
                lines.append(f"- {metric} {first} − {second}: {c['difference']:+.4f}, {level} CI {_fmt_ci(c['ci'])}")
    metric = result["winner_metric"]
    verdict = result["winner"]
    if verdict == TIE:
        verdict = f"a tie: the {level} interval of the {metric} difference contains 0"
    elif comparison:
        verdict += f" (the {level} interval of the {metric} difference excludes 0)"
    return [*lines, "", f"**Winner by {metric}: {verdict}**", ""]


def render_evaluation_report(result: Mapping[str, Any]) -> str:
    """The evaluation as Markdown: headline table, comparison, winner, per-class scores, confusion matrices."""
    lines = _headline(result)
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
            lines.append(
                f"| {cell(label)} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | {s['support']} |"
            )
        lines += ["", "Confusion matrix (rows: truth, columns: predicted)", ""]
        lines.append("| | " + " | ".join(cell(label) for label in m["labels"]) + " |")
        lines.append("|---|" + "---:|" * len(m["labels"]))
        for label, counts in zip(m["labels"], m["confusion_matrix"], strict=True):
            lines.append(f"| {cell(label)} | " + " | ".join(str(c) for c in counts) + " |")
        lines.append("")
    return "\n".join(lines + render_slices(result["models"]))
