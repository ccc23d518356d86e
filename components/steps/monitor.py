"""Monitor: does a batch of new texts still look like what the champion was trained and tested on?

The registered version's reference profile (``reference_profile.json`` in its model folder, written by
``register``; :mod:`components.registry.reference`) is compared with a batch of texts, labelled or not, read in
chunks as ``batch_predict`` reads them. Checks, each with its statistic, threshold, verdict and reason:

* ``oov_rate``: share of the batch's words not in the training vocabulary, against the same share on the
  held-out rows; drift when it rises by more than ``max_oov_increase`` (default 0.05: one word in 20 more that
  the model has never seen; the champion of ``emotion-pipeline run --train dair_ai_emotion/train.txt`` sees
  0.0345 on ``val.txt`` against 0.0333 on its held-out rows, and 0.1399 on the tweets of ``emotions_test.csv``).
* ``length_psi``: PSI of text length (words) over the training lengths' deciles; drift at ``psi_threshold``
  (0.2). A two-sample KS test is reported beside it.
* ``prediction_psi``: PSI of the predicted labels against those on the held-out rows; drift at ``psi_threshold``.
* ``prediction_chi2``: chi-squared test of homogeneity of the same counts; drift when its p-value is below
  ``chi2_alpha`` (0.01) **and** the PSI shows at least a moderate change (``chi2_min_psi``, 0.1): with large
  batches a test alone flags shifts too small to matter.
* ``confidence_psi``: PSI of the champion's confidence (largest score, 10 bins of 0.1) against the held-out rows.
* With labels: ``accuracy`` and ``macro_f1`` with bootstrap intervals (``components/stats/bootstrap.py``)
  against the registered figures: a drop when the interval lies wholly below the registered figure **and** the
  point estimate is more than ``max_metric_drop`` (0.02) below it; ``unseen_labels``: share of labelled rows whose
  label the champion cannot predict, drift above ``max_unseen_label_rate`` (0.01).

PSI's 0.2 is the usual alert level of the rule of thumb (< 0.1 stable, 0.1–0.25 moderate, > 0.25 major; see
:mod:`components.stats.drift`); its sampling noise is about ``(bins − 1)·(1/n₁ + 1/n₂)``, 0.01 for 10 bins and
1,000 rows, so the defaults hold from a few hundred rows (``min_rows``, 200). ``drift`` is true when any check
says so; ``reason`` lists those that did.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from components.checks.errors import DataError
from components.checks.options import check_number
from components.io.batch_input import read_chunks
from components.registry.reference import PredictionStats, TextStats
from components.stats import drift as stats
from components.stats.bootstrap import metric_interval
from components.stats.prediction_drift import (
    CHI2_ALPHA,
    CHI2_MIN_PSI,
    PSI_THRESHOLD,
    prediction_checks,
)
from components.stats.prediction_drift import check as _check

SKIPPED = "skipped"


@dataclass(frozen=True)
class MonitorOptions:
    """How the batch is read and what counts as drift (defaults justified in the module docstring).

    Attributes:
        text_column: Text column (CSV) or field (JSON lines); guessed when empty.
        label_column: Label column or field; guessed when empty.
        use_labels: Use the batch's labels (accuracy, macro-F1); False: treat the batch as unlabelled.
        chunk_rows: Rows read and predicted at a time.
        encoding: Text encoding of the input.
        psi_threshold: PSI at or above which a distribution has drifted (lengths, predictions, confidence).
        chi2_alpha: Significance level of the chi-squared test of the predicted labels.
        chi2_min_psi: Smallest PSI of the predicted labels for a significant chi-squared test to count.
        max_oov_increase: Largest allowed rise of the out-of-vocabulary rate over the held-out rows'.
        max_metric_drop: Largest allowed drop of accuracy or macro-F1 below the registered figure.
        max_unseen_label_rate: Largest allowed share of labelled rows with a label the model cannot predict.
        min_rows: Fewest rows a batch must have to be judged.
        bootstrap_resamples: Resamples of the metrics' bootstrap intervals.
        confidence: Coverage of those intervals.
        seed: Seed of the resampling.
    """

    text_column: str = ""
    label_column: str = ""
    use_labels: bool = True
    chunk_rows: int = 10000
    encoding: str = "utf-8"
    psi_threshold: float = PSI_THRESHOLD
    chi2_alpha: float = CHI2_ALPHA
    chi2_min_psi: float = CHI2_MIN_PSI
    max_oov_increase: float = 0.05
    max_metric_drop: float = 0.02
    max_unseen_label_rate: float = 0.01
    min_rows: int = 200
    bootstrap_resamples: int = 1000
    confidence: float = 0.95
    seed: int = 42

    def __post_init__(self) -> None:
        check_number("chunk_rows", self.chunk_rows, low=1, integer=True)
        for name in ("psi_threshold", "chi2_min_psi"):
            check_number(name, getattr(self, name), low=0, low_open=True)
        check_number("chi2_alpha", self.chi2_alpha, low=0, high=1, low_open=True, high_open=True)
        for name in ("max_oov_increase", "max_metric_drop", "max_unseen_label_rate"):
            check_number(name, getattr(self, name), low=0, high=1)
        check_number("min_rows", self.min_rows, low=1, integer=True)
        check_number("bootstrap_resamples", self.bootstrap_resamples, low=10, integer=True)
        check_number("confidence", self.confidence, low=0, high=1, low_open=True, high_open=True)
        check_number("seed", self.seed, low=0, integer=True)


@dataclass
class BatchSummary:
    """The batch's counts: texts (lengths, unknown words) and predictions (labels, confidence, labelled pairs)."""

    texts: TextStats
    predictions: PredictionStats
    score_kind: str = ""


def summarise_batch(model: Any, input_uri: str, vocabulary: Mapping[str, int], options: MonitorOptions) -> BatchSummary:
    """Reads the batch in chunks and counts what the checks need (memory: the labelled pairs only).

    Args:
        model: A loaded registered model (``normaliser`` and ``predict_texts``).
        input_uri: The batch (CSV, ``text;label`` lines, plain lines or JSON lines; local, ``gs://``, ``https://``).
        vocabulary: The reference vocabulary.
        options: Columns, chunks, labels.

    Raises:
        DataError: The input cannot be read.
    """
    summary = BatchSummary(TextStats(vocabulary), PredictionStats())
    normalise = getattr(model, "normaliser", lambda text: text)
    for texts, labels in read_chunks(input_uri, options):
        summary.texts.add(normalise(str(text)) for text in texts)
        predicted = model.predict_texts(texts)
        summary.score_kind = predicted.score_kind
        summary.predictions.add(predicted.labels, predicted.scores, labels if options.use_labels else ())
    return summary


def text_checks(profile: Mapping[str, Any], batch: TextStats, options: MonitorOptions) -> list[dict[str, Any]]:
    """``oov_rate`` and ``length_psi`` (with the KS test) of the batch against the reference."""
    held = profile["heldout"]
    rise = batch.oov_rate - held["oov_rate"]
    oov = _check(
        "oov_rate",
        "share of words not in the training vocabulary",
        batch.oov_rate,
        options.max_oov_increase,
        rise > options.max_oov_increase,
        f"{batch.oov_rate:.4f} of the batch's words are unknown, {held['oov_rate']:.4f} on the held-out rows "
        f"(rise {rise:+.4f}; drift above +{options.max_oov_increase:g})",
        reference=held["oov_rate"],
        rise=rise,
        tokens=batch.tokens,
    )
    train_lengths = profile["training"]["length_counts"]
    edges = stats.quantile_edges(train_lengths)
    ref_bins, new_bins = stats.binned(train_lengths, edges), stats.binned(batch.lengths, edges)
    value = stats.psi(ref_bins, new_bins)
    ks = stats.ks_from_counts(train_lengths, batch.lengths)
    ref_mean = _mean(train_lengths)
    new_mean = _mean(batch.lengths)
    length = _check(
        "length_psi",
        "PSI of text length (words) over the training deciles",
        value,
        options.psi_threshold,
        value >= options.psi_threshold,
        f"PSI {value:.4f} (drift at {options.psi_threshold:g}); mean length {new_mean:.1f} words against "
        f"{ref_mean:.1f} in training; KS {ks.statistic:.4f}, p={ks.p_value:.3g}",
        edges=edges,
        reference_bins=ref_bins,
        batch_bins=new_bins,
        ks_statistic=ks.statistic,
        ks_p_value=ks.p_value,
        mean_words=new_mean,
        reference_mean_words=ref_mean,
    )
    return [oov, length]


def _mean(counts: Mapping[Any, int]) -> float:
    total = sum(counts.values())
    return sum(float(k) * v for k, v in counts.items()) / total if total else 0.0


def accuracy_checks(
    profile: Mapping[str, Any], batch: PredictionStats, options: MonitorOptions
) -> list[dict[str, Any]]:
    """With labels: ``unseen_labels``, then ``accuracy`` and ``macro_f1`` with intervals against the registered
    figures (the held-out rows' scores). Without labels: nothing."""
    if not batch.truth:
        return []
    known = set(profile["classes"])
    unseen = sum(label not in known for label in batch.truth) / len(batch.truth)
    names = sorted(set(batch.truth) - known)[:10]
    out = [
        _check(
            "unseen_labels",
            "share of labelled rows with a label the model cannot predict",
            unseen,
            options.max_unseen_label_rate,
            unseen > options.max_unseen_label_rate,
            f"{unseen:.4f} of {len(batch.truth)} labelled rows" + (f" (e.g. {names})" if names else ""),
        )
    ]
    for metric in ("accuracy", "macro_f1"):
        found = metric_interval(
            batch.truth,
            batch.paired,
            metric=metric,
            resamples=options.bootstrap_resamples,
            confidence=options.confidence,
            seed=options.seed,
        )
        registered, (low, high) = float(profile["heldout"][metric]), found.interval
        drop = registered - found.score
        dropped = high < registered and drop > options.max_metric_drop
        out.append(
            _check(
                metric,
                f"{metric} on the labelled rows",
                found.score,
                options.max_metric_drop,
                dropped,
                f"{found.score:.4f} [{low:.4f}, {high:.4f}] against {registered:.4f} registered (drop {drop:+.4f}; a "
                f"drop when the {options.confidence * 100:g} % interval is below it and the drop exceeds "
                f"{options.max_metric_drop:g})",
                registered=registered,
                interval=[low, high],
                drop=drop,
            )
        )
    return out


def judge(profile: Mapping[str, Any], summary: BatchSummary, options: MonitorOptions) -> dict[str, Any]:
    """Runs every check and the overall verdict.

    Returns:
        ``drift``, ``reason``, ``checks``, ``rows``, ``labelled``.

    Raises:
        DataError: Fewer rows than ``min_rows``.
    """
    rows = summary.texts.rows
    if rows < options.min_rows:
        raise DataError(f"the batch has {rows} rows; monitoring needs at least min_rows={options.min_rows}")
    checks = [
        *text_checks(profile, summary.texts, options),
        *prediction_checks(profile, summary.predictions, options),
        *accuracy_checks(profile, summary.predictions, options),
    ]
    drifted = [c for c in checks if c["drift"]]
    reason = (
        "drift: " + "; ".join(f"{c['name']}: {c['reason']}" for c in drifted)
        if drifted
        else f"no drift: all {len(checks)} checks within their thresholds"
    )
    return {
        "drift": bool(drifted),
        "reason": reason,
        "rows": rows,
        "labelled": len(summary.predictions.truth),
        "checks": checks,
    }


def monitor_model(
    model: Any, profile: Mapping[str, Any], input_uri: str, options: MonitorOptions | None = None
) -> dict[str, Any]:
    """Reads a batch, predicts it with the model and compares it with the model's reference profile.

    Args:
        model: The loaded registered model.
        profile: Its reference profile.
        input_uri: The batch.
        options: Reading and thresholds.

    Returns:
        The monitoring result (``drift``, ``reason``, ``checks`` … and ``thresholds``, ``seconds``).
    """
    options = options or MonitorOptions()
    began = time.perf_counter()
    summary = summarise_batch(model, input_uri, profile["vocabulary"]["terms"], options)
    result = judge(profile, summary, options)
    thresholds = {k: v for k, v in asdict(options).items() if k not in ("text_column", "label_column", "encoding")}
    return {
        **result,
        "input": input_uri,
        "score_kind": summary.score_kind,
        "thresholds": thresholds,
        "seconds": round(time.perf_counter() - began, 2),
    }


def monitor_registered(
    *,
    registry_uri: str,
    model: str,
    input_uri: str,
    registry_artifact_uri: str = "",
    options: MonitorOptions | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Monitors a batch against a registered version (``NAME@champion``, ``NAME@ALIAS`` or ``NAME/VERSION``).

    Returns:
        :func:`monitor_model`'s result with ``model`` (name, version, requested, registry) and ``training``
        (the version's task and training sources, for the retraining policy).

    Raises:
        RegistryError: No such registry or version; FileNotFoundError: the version has no reference profile;
        DataError: The batch cannot be read or is too small.
    """
    from components.registry.packaging import load_packaged_model
    from components.registry.reference import read_profile
    from components.registry.store import ModelRef, download_version, open_registry

    registry = open_registry(registry_uri, registry_artifact_uri)
    ref = ModelRef.parse(model)
    folder, version = download_version(registry, ref, workdir)
    profile = read_profile(folder)
    loaded, _ = load_packaged_model(folder)
    result = monitor_model(loaded, profile, input_uri, options)
    info = {"name": version.name, "version": version.version, "requested": str(ref), "registry": registry.uri}
    training = {key: profile.get(key) for key in ("task", "model_name")} | {
        "sources": profile["training"].get("sources", {}),
        "rows": profile["training"]["rows"],
    }
    return {"model": info, "training": training, **result}


def monitor_metrics(result: Mapping[str, Any]) -> dict[str, float]:
    """KFP Metrics: ``drift`` (0/1), ``rows``, ``labelled`` and each check's value and drift (0/1)."""
    out = {"drift": float(result["drift"]), "rows": float(result["rows"]), "labelled": float(result["labelled"])}
    for check in result["checks"]:
        if isinstance(check["value"], int | float) and math.isfinite(check["value"]):
            out[check["name"]] = float(check["value"])
        out[f"{check['name']}_drift"] = float(check["drift"])
    return out


def write_outputs(result: Mapping[str, Any], folder: str | Path, *, markdown: str, html: str) -> dict[str, Path]:
    """Writes ``monitor.json``, ``monitor.md`` and ``monitor.html`` into ``folder`` (each written whole, then renamed).

    Returns:
        Name → path.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        "monitor.json": json.dumps(result, indent=2, ensure_ascii=False),
        "monitor.md": markdown,
        "monitor.html": html,
    }
    out = {}
    for name, text in texts.items():
        partial = folder / f".{name}.partial"
        partial.write_text(text, encoding="utf-8")
        partial.replace(folder / name)
        out[name] = folder / name
    return out
