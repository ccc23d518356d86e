"""Evaluate: every arm's model on the same held-out texts with the same metrics, and the uncertainty of the comparison.

Per arm: accuracy, macro-F1, weighted-F1, per-class precision/recall/F1, the confusion matrix, and as its predict
step measured them, prediction latency (p50/p95 ms for one text, throughput for a batch) and the model's size.
In the pipeline the arms' predictions come from the *bundle* their predict steps wrote
(:func:`evaluate_bundle`, no model is loaded here); :func:`evaluate_models` predicts in-process (tests, benchmarks).

Uncertainty: a paired, seeded bootstrap over the test rows (the same resampled rows for every arm) gives 95 %
percentile intervals for each arm's accuracy, macro-F1 and weighted-F1, and for the difference of each between
the best arm by ``winner_metric`` and every other arm. Macro-F1 averages over a fixed label set in every resample
(the test labels and the arm's predicted labels, as its point estimate does), so a class with a single test row
does not drop out of the resamples that miss it. The best arm wins only when ``winner_metric``'s difference
interval against *every* other arm lies above 0; otherwise the verdict is ``"tie"`` and ``tied`` lists the arms
that cannot be told apart from the best (the best included). The same seed gives the same metrics and intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from components.checks.options import check_choice, check_number
from components.io import atomic
from components.models.latency import LatencySettings, TextClassifier, measure_latencies
from components.models.metrics import score_predictions
from components.reporting.markdown import cell, table
from components.stats.bootstrap import bootstrap_values
from components.stats.slices import render_slices, slice_groups, slice_scores

METRICS = ("accuracy", "macro_f1", "weighted_f1")
BOOTSTRAP_METRICS = METRICS
TIE = "tie"


def evaluate_model(model: TextClassifier, texts: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Scores one text → label model (see :func:`score_predictions`); ``predictions`` holds its labels."""
    if len(texts) != len(labels):
        raise ValueError(f"texts ({len(texts)}) and labels ({len(labels)}) differ in length")
    if not len(texts):
        raise ValueError("evaluate_model: the held-out set is empty")
    predicted = [str(p) for p in model.predict(list(texts))]
    return {**score_predictions([str(t) for t in labels], predicted), "predictions": predicted}


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
    """How the arms are compared: the winner's metric and the bootstrap (latency is measured by the predict steps).

    Attributes:
        winner_metric: ``accuracy``, ``macro_f1`` or ``weighted_f1``.
        seed: Seed of the bootstrap.
        bootstrap_resamples: Bootstrap resamples of the test rows.
        confidence: Coverage of the intervals.
    """

    winner_metric: str = "macro_f1"
    seed: int = 42
    bootstrap_resamples: int = 1000
    confidence: float = 0.95

    def __post_init__(self) -> None:
        check_choice("winner_metric", self.winner_metric, METRICS)
        check_number("seed", self.seed, low=0, integer=True)
        check_number("bootstrap_resamples", self.bootstrap_resamples, low=10, integer=True)
        check_number("confidence", self.confidence, low=0, high=1, low_open=True, high_open=True)


@dataclass(frozen=True)
class ArmFacts:
    """What the evaluation copies into an arm's entry beside its scores (all optional).

    Attributes:
        display_name: How reports name the arm.
        model_size_mb: Size of its model file.
        training: What its training reported (chosen parameters, validation scores).
        latency: Its latency figures (``latency_p50_ms`` … as :func:`measure_latencies` gives them).
        top_words: Each class's words of largest weight, or why the arm has none
            (:func:`components.models.explain.top_words_record`).
    """

    display_name: str = ""
    model_size_mb: float | None = None
    training: Mapping[str, Any] | None = None
    latency: Mapping[str, Any] | None = None
    top_words: Mapping[str, Any] | None = None


def evaluate_predictions(
    predictions: Mapping[str, Sequence[str]],
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    options: EvaluateOptions | None = None,
    facts: Mapping[str, ArmFacts] | None = None,
    sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Scores every arm's held-out labels, with paired bootstrap intervals, and names the winner or the tied arms.

    Args:
        predictions: Arm name → its predicted labels for the held-out rows, in pipeline order (it breaks ties).
        texts: Held-out texts (for the per-length slices).
        labels: Their true labels.
        options: Winner's metric and bootstrap settings (:class:`EvaluateOptions`); defaults if ``None``.
        facts: Arm name → display name, model size, training facts and latency, copied in.
        sources: Each test row's source file: with more than one, every arm is also scored per file
            (``slices``, :mod:`components.stats.slices`), as it is per text-length band.

    Returns:
        ``models`` (arm → scores, intervals, latency, size, training, slices, display_name), ``comparisons`` (the
        best arm by ``winner_metric`` against each other arm: for accuracy, macro-F1 and weighted-F1 the difference
        and its interval), ``comparison`` (the first of them: best against second; None for one arm),
        ``winner`` (an arm or :data:`TIE`), ``tied`` (on a tie, the arms not told apart from the best, the best
        first; else ``[]``), ``winner_metric``, ``bootstrap`` (resamples, confidence, seed).
    """
    options, facts = options or EvaluateOptions(), facts or {}
    if not predictions:
        raise ValueError("evaluate: no arms to evaluate")
    texts, truth = [str(t) for t in texts], [str(label) for label in labels]
    predicted = {name: [str(p) for p in labels_of] for name, labels_of in predictions.items()}
    for name, found in predicted.items():
        if len(found) != len(truth) or len(texts) != len(truth):
            raise ValueError(f"arm {name!r}: {len(found)} predictions, {len(truth)} labels: they differ in length")
    results = {name: score_predictions(truth, found) for name, found in predicted.items()}
    intervals, samples = bootstrap_intervals(
        truth, predicted, options.bootstrap_resamples, options.confidence, options.seed
    )
    groups = slice_groups(texts, None if sources is None else [str(s) for s in sources])
    for name, result in results.items():
        result["slices"] = slice_scores(truth, predicted[name], groups)
        result.update({f"{metric}_ci": intervals[name][metric] for metric in BOOTSTRAP_METRICS})
        _add_facts(result, facts.get(name))
    verdict = compare_arms(results, samples, options.winner_metric, options.confidence)
    return {
        "models": results,
        "comparison": verdict["comparisons"][0] if verdict["comparisons"] else None,
        "comparisons": verdict["comparisons"],
        "winner": verdict["winner"],
        "tied": verdict["tied"],
        "winner_metric": options.winner_metric,
        "bootstrap": {"resamples": options.bootstrap_resamples, "confidence": options.confidence, "seed": options.seed},
    }


def _add_facts(result: dict[str, Any], facts: ArmFacts | None) -> None:
    if facts is None:
        return
    if facts.display_name:
        result["display_name"] = facts.display_name
    if facts.model_size_mb is not None:
        result["model_size_mb"] = facts.model_size_mb
    if facts.training is not None:
        result["training"] = dict(facts.training)
    if facts.top_words:
        result["top_words"] = dict(facts.top_words)
    result.update(dict(facts.latency or {}))


def evaluate_models(
    models: Mapping[str, TextClassifier],
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    options: EvaluateOptions | None = None,
    latency: LatencySettings | None = None,
    model_sizes: Mapping[str, int] | None = None,
    training: Mapping[str, Mapping[str, Any]] | None = None,
    sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Predicts the held-out texts with every model in this process and evaluates them (:func:`evaluate_predictions`).

    Args:
        models: Model name → text → label model.
        texts: Held-out texts.
        labels: Their true labels.
        options: Winner's metric and bootstrap settings; defaults if ``None``.
        latency: How to time the models (interleaved rounds, :func:`measure_latencies`); None: not timed.
        model_sizes: Model name → size on disk in bytes (reported in MB).
        training: Model name → what its training reported, copied in.
        sources: Each test row's source file (per-file slices).

    Returns:
        The evaluation (:func:`evaluate_predictions`), with the latency figures when measured.
    """
    if not models:
        raise ValueError("evaluate_models: no models given")
    texts = [str(t) for t in texts]
    if len(texts) != len(labels):
        raise ValueError(f"texts ({len(texts)}) and labels ({len(labels)}) differ in length")
    if not texts:
        raise ValueError("evaluate_models: the held-out set is empty")
    predictions = {name: [str(p) for p in model.predict(texts)] for name, model in models.items()}
    facts = {
        name: ArmFacts(
            model_size_mb=round(model_sizes[name] / 2**20, 3) if model_sizes and name in model_sizes else None,
            training=training.get(name) if training else None,
        )
        for name in models
    }
    evaluation = evaluate_predictions(predictions, texts, labels, options=options, facts=facts, sources=sources)
    return add_latency(evaluation, models, texts, latency) if latency else evaluation


def evaluate_bundle(test_path: str, bundle_path: str, options: EvaluateOptions) -> dict[str, Any]:
    """The evaluate step's work: every arm of the bundle on the held-out rows, as its predict step predicted them.

    No model is loaded: labels, latency, size and training facts come from the bundle
    (:func:`components.models.bundle.read_bundle`), so this runs in the slim image whatever the arms' stacks.

    Args:
        test_path: Held-out rows (Parquet with ``text``, ``label`` and, from ingest, ``source``: slices per file).
        bundle_path: The last predict step's bundle (every arm, in pipeline order).
        options: Winner's metric and bootstrap settings.

    Returns:
        The evaluation (:func:`evaluate_predictions`).

    Raises:
        BundleError: The bundle cannot be read.
        ValueError: An arm has not one prediction per held-out row.
    """
    import pandas as pd

    from components.models.bundle import read_bundle

    rows = pd.read_parquet(test_path)
    arms = read_bundle(bundle_path)
    predictions = {arm.arm: arm.predictions.labels for arm in arms if arm.predictions is not None}
    facts = {
        arm.arm: ArmFacts(arm.display_name, arm.model_size_mb, arm.training, dict(arm.latency), arm.top_words)
        for arm in arms
    }
    return evaluate_predictions(
        predictions,
        rows["text"].astype(str).tolist(),
        rows["label"].astype(str).tolist(),
        options=options,
        facts=facts,
        sources=rows["source"].tolist() if "source" in rows else None,
    )


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


def compare_arms(
    results: Mapping[str, Mapping[str, Any]], samples: Mapping[str, np.ndarray], metric: str, confidence: float
) -> dict[str, Any]:
    """Ranks the arms by ``metric``; the best wins when its difference interval against every other lies above 0.

    Args:
        results: Arm name → its scores (``metric`` among them), in pipeline order (it breaks ties of the ranking).
        samples: ``"<arm>/<metric>"`` → per-resample values of the paired bootstrap.
        metric: The metric that ranks and decides.
        confidence: Interval coverage.

    Returns:
        ``winner`` (the best arm, or :data:`TIE`), ``tied`` (on a tie: the best and every arm whose interval
        against it does not lie below 0, in rank order; else ``[]``) and ``comparisons``: for every other arm in
        rank order, ``models`` (best, other), ``confidence``, ``decided_on``, ``verdict`` (that pair's
        :func:`decide_winner`) and per metric the ``difference`` (best − other) with its ``ci``.
    """
    order = list(results)
    ranked = sorted(order, key=lambda name: (-results[name][metric], order.index(name)))
    best, comparisons = ranked[0], []
    for other in ranked[1:]:
        comparison: dict[str, Any] = {"models": [best, other], "confidence": confidence, "decided_on": metric}
        for name in BOOTSTRAP_METRICS:
            difference = samples[f"{best}/{name}"] - samples[f"{other}/{name}"]
            comparison[name] = {
                "difference": round(results[best][name] - results[other][name], 4),
                "ci": _interval(difference, confidence),
            }
        comparison["verdict"] = decide_winner(best, other, comparison[metric]["ci"])
        comparisons.append(comparison)
    not_beaten = [c["models"][1] for c in comparisons if c["verdict"] != best]
    if not not_beaten:
        return {"winner": best, "tied": [], "comparisons": comparisons}
    return {"winner": TIE, "tied": [best, *not_beaten], "comparisons": comparisons}


def add_latency(
    evaluation: dict[str, Any], models: Mapping[str, TextClassifier], texts: Sequence[str], latency: LatencySettings
) -> dict[str, Any]:
    """Adds every model's latency figures (:func:`measure_latencies`, interleaved) to ``evaluation["models"]``.

    Run it outside a profiled block, so that the profiler's sampler does not compete with the timed calls.

    Args:
        evaluation: Output of :func:`evaluate_predictions` (changed in place).
        models: The same models.
        texts: Texts to predict.
        latency: ``latency_calls`` (0: nothing is measured), ``latency_rounds`` and ``batch_size``.

    Returns:
        ``evaluation``, with the latency figures in each model's entry.
    """
    if latency.latency_calls:
        figures = measure_latencies(
            models,
            [str(t) for t in texts],
            rounds=latency.latency_rounds,
            single_calls=latency.latency_calls,
            batch_size=latency.batch_size,
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


def _verdict_line(result: Mapping[str, Any], level: str) -> str:
    """The winner, or the tied arms, and how it was decided."""
    metric, verdict = result["winner_metric"], result["winner"]
    if verdict == TIE:
        tied = result.get("tied") or list(result.get("comparison", {}).get("models", []))
        between = f" between {', '.join(tied)}" if tied else ""
        verdict = f"a tie{between}: the {level} interval of the {metric} difference against the best contains 0"
    elif result.get("comparison"):
        verdict += f" (the {level} intervals of the {metric} differences against every other arm exclude 0)"
    return f"**Winner by {metric}: {verdict}**"


def _headline(result: Mapping[str, Any]) -> list[str]:
    """The report's table of every arm, the best arm's differences with each other, the winner and how it was
    decided."""
    boot = result["bootstrap"]
    level = f"{boot['confidence'] * 100:g} %"
    lines = [
        "# Evaluation",
        "",
        f"Same held-out rows for every arm; {level} intervals from {boot['resamples']} paired bootstrap "
        f"resamples of the test rows (seed {boot['seed']}).",
        "",
        f"| model | accuracy | {level} CI | macro-F1 | {level} CI | weighted-F1 | p50 ms | p95 ms | texts/s | MB |",
        "|---|---:|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in result["models"].items():
        lines.append(
            f"| {cell(_shown_name(name, m))} | {m['accuracy']:.4f} | {_fmt_ci(m['accuracy_ci'])} | "
            f"{m['macro_f1']:.4f} | {_fmt_ci(m['macro_f1_ci'])} | {m['weighted_f1']:.4f} | "
            f"{_fmt_latency(m, 'latency_p50_ms', 2)} | {_fmt_latency(m, 'latency_p95_ms', 2)} | "
            f"{_fmt_latency(m, 'throughput_per_second', 0)} | "
            f"{m.get('model_size_mb') or float('nan'):.2f} |"
        )
    rounds = max((m.get("latency_rounds", 0) for m in result["models"].values()), default=0)
    if rounds:
        lines += [
            "",
            f"Latency and throughput: median (min–max) over {rounds} warm rounds, in each arm's predict step.",
        ]
    lines.append("")
    comparisons = result.get("comparisons") or ([result["comparison"]] if result.get("comparison") else [])
    for comparison in comparisons:
        first, second = comparison["models"]
        for metric in BOOTSTRAP_METRICS:
            if metric in comparison:  # older evaluations have no weighted-F1 interval
                c = comparison[metric]
                lines.append(f"- {metric} {first} − {second}: {c['difference']:+.4f}, {level} CI {_fmt_ci(c['ci'])}")
    return [*lines, "", _verdict_line(result, level), ""]


def _shown_name(name: str, model: Mapping[str, Any]) -> str:
    shown = model.get("display_name")
    return f"{name} ({shown})" if shown and shown != name else name


def render_evaluation_report(result: Mapping[str, Any]) -> str:
    """The evaluation as Markdown: headline table, comparison, winner, per-class scores, confusion matrices."""
    lines = _headline(result)
    for name, m in result["models"].items():
        lines += [f"## {cell(_shown_name(name, m))}", ""]
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
        lines += ["", *_top_words_lines(m.get("top_words"))]
    return "\n".join(lines + render_slices(result["models"]))


def _top_words_lines(record: Mapping[str, Any] | None) -> list[str]:
    """An arm's words of largest weight per class (a table), or why it has none; nothing when not recorded."""
    if not record:
        return []
    if "unavailable" in record:
        return [f"Words per class: not available for this arm: {cell(record['unavailable'])}", ""]
    rows = [
        [label, ", ".join(f"{term} {weight:.2f}" for term, weight in words)]
        for label, words in record.get("classes", {}).items()
    ]
    return [
        f"Words per class (top {record.get('top', '')}, weight toward the class):",
        "",
        *table(["label", "words"], rows),
    ]
