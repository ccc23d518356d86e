"""Shadow report: what a shadow (or canary) log says about the challenger against the champion.

The log is JSON Lines written by ``serve`` with a challenger, one record per instance (``mode`` ``shadow``: both
versions answered, the champion's answer was returned; ``canary``: one of them answered)::

    {"time": ISO-8601 UTC, "request_id": "<hex>", "instance": <index in request>, "mode": "shadow"|"canary",
     "model": "<registered name>", "text_sha256": "<sha256 hex of the text as received, UTF-8>",
     "text": "<only with --log-texts>", "answered_by": "champion"|"challenger",
     "champion": {"ref", "version", "label", "scores": {class: p}} or null,
     "challenger": {"ref", "version", "label", "scores"} or {"ref", "version", "error": "<one line>"} or null}

In a shadow both sides are present (the challenger may carry ``error``); in a canary only the side that answered
is read. The log is read as a stream; a line that is not such a record is skipped and counted, with its line number
and why. One report covers one model, one mode and one version on each side: a log mixing them is refused, naming
what is mixed.

Reported:

* records, requests, instances (a request's instance seen twice is counted once, the first kept);
* each version's answers, label counts and shares, and errors (the challenger's, with examples);
* shadow: the agreement rate on the instances both answered and the disagreement matrix (champion label ×
  challenger label); canary: no agreement, as no instance was answered by both (each side reported alone);
* each version's prediction drift against its registered reference profile: the prediction checks ``monitor``
  runs (:mod:`components.stats.prediction_drift`) on the labels and scores in the log; a registry that cannot be
  reached or a version without a profile is said, and the rest of the report stands;
* with labels (texts and labels, as ``predict`` reads them, joined to the log by the SHA-256 of the text's UTF-8,
  as ``serve`` hashes it): shadow: both versions' accuracy and macro-F1 on the labelled instances both answered,
  the paired bootstrap interval of challenger − champion on each, and the verdict of the champion rule
  (:mod:`components.stats.promotion`, the one ``register`` applies) on ``metric``; canary: each side's accuracy
  and macro-F1 on its own instances with a bootstrap interval, and no verdict: the rule needs both versions on the
  same instances (a paired comparison), which only a shadow gives. An unpaired comparison of two different sets of
  instances would also measure how the sets differ, so it is not offered.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from components.checks.errors import DataError
from components.checks.options import check_choice, check_number
from components.registry.reference import PredictionStats
from components.stats.bootstrap import BOOTSTRAP_METRICS, PairedDifference, metric_interval, paired_difference
from components.stats.prediction_drift import CHI2_ALPHA, CHI2_MIN_PSI, PSI_THRESHOLD, prediction_checks
from components.stats.promotion import (
    BOOTSTRAP_RESAMPLES,
    CONFIDENCE,
    SEED,
    describe_difference,
    promotion_verdict,
)

SIDES = ("champion", "challenger")
MODES = ("shadow", "canary")
#: ``evaluate``'s default ``winner_metric``: the metric ``register`` applies the champion rule to by default.
PROMOTION_METRIC = "macro_f1"


@dataclass(frozen=True)
class ShadowReportOptions:
    """How the log and the labels are read and compared.

    Attributes:
        metric: The metric the champion rule decides on (``accuracy``, ``macro_f1`` or ``weighted_f1``).
        bootstrap_resamples: Resamples of the bootstrap intervals.
        confidence: Coverage of those intervals.
        seed: Seed of the resampling.
        psi_threshold: PSI at or above which the predicted labels or the confidence have drifted.
        chi2_alpha: Significance level of the chi-squared test of the predicted labels.
        chi2_min_psi: Smallest PSI of the predicted labels for a significant chi-squared test to count.
        text_column: Text column or field of the labels file; guessed when empty.
        label_column: Label column or field of the labels file; guessed when empty.
        encoding: Text encoding of the labels file.
        chunk_rows: Rows of the labels file read at a time.
        listed_lines: Malformed lines listed by number (all are counted).
    """

    metric: str = PROMOTION_METRIC
    bootstrap_resamples: int = BOOTSTRAP_RESAMPLES
    confidence: float = CONFIDENCE
    seed: int = SEED
    psi_threshold: float = PSI_THRESHOLD
    chi2_alpha: float = CHI2_ALPHA
    chi2_min_psi: float = CHI2_MIN_PSI
    text_column: str = ""
    label_column: str = ""
    encoding: str = "utf-8"
    chunk_rows: int = 10000
    listed_lines: int = 20

    def __post_init__(self) -> None:
        check_choice("metric", self.metric, BOOTSTRAP_METRICS)
        check_number("bootstrap_resamples", self.bootstrap_resamples, low=10, integer=True)
        check_number("confidence", self.confidence, low=0, high=1, low_open=True, high_open=True)
        check_number("seed", self.seed, low=0, integer=True)
        for name in ("psi_threshold", "chi2_min_psi"):
            check_number(name, getattr(self, name), low=0, low_open=True)
        check_number("chi2_alpha", self.chi2_alpha, low=0, high=1, low_open=True, high_open=True)
        check_number("chunk_rows", self.chunk_rows, low=1, integer=True)
        check_number("listed_lines", self.listed_lines, low=0, integer=True)


@dataclass(frozen=True)
class Answer:
    """One side of a record: the version's reference and number, and its label and scores, or its error."""

    ref: str
    version: str
    label: str | None = None
    scores: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class LogRecord:
    """One valid line of the log."""

    line: int
    request_id: str
    instance: int
    mode: str
    model: str
    text_sha256: str
    answered_by: str
    answers: Mapping[str, Answer | None]


def _answer(value: Any, side: str) -> Answer | None:
    """A side's object (or null) as an :class:`Answer`; ValueError naming the field when it is not one."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("version"), str | int):
        raise ValueError(f"{side}: expected null or an object with a version")
    version, ref = str(value["version"]), str(value.get("ref", ""))
    if isinstance(value.get("error"), str):
        lines = value["error"].strip().splitlines()
        return Answer(ref, version, error=lines[0][:300] if lines else "(an empty error)")
    label, scores = value.get("label"), value.get("scores") or {}
    if not isinstance(label, str) or not isinstance(scores, dict):
        raise ValueError(f"{side}: expected a label (string) and scores (object), or an error")
    try:
        floats = {str(k): float(v) for k, v in scores.items()}
    except (TypeError, ValueError):
        raise ValueError(f"{side}.scores: values must be numbers") from None
    return Answer(ref, version, label, floats)


def parse_record(text: str, line: int) -> LogRecord:
    """One log line as a record (the schema in the module docstring).

    Raises:
        ValueError: Not JSON, or a field missing or of the wrong kind (named).
    """
    try:
        row = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise ValueError("not a JSON object")
    for name, kind in (("request_id", str), ("model", str), ("text_sha256", str), ("instance", int)):
        if not isinstance(row.get(name), kind) or isinstance(row.get(name), bool):
            raise ValueError(f"{name}: missing or not a {kind.__name__}")
    if row.get("mode") not in MODES:
        raise ValueError(f"mode: expected one of {MODES}, got {row.get('mode')!r}")
    if row.get("answered_by") not in SIDES:
        raise ValueError(f"answered_by: expected one of {SIDES}, got {row.get('answered_by')!r}")
    answers = {side: _answer(row.get(side), side) for side in SIDES}
    if answers[row["answered_by"]] is None:
        raise ValueError(f"answered_by is {row['answered_by']} but {row['answered_by']} is null")
    if row["mode"] == "shadow" and None in answers.values():
        raise ValueError("shadow: both champion and challenger must be present")
    fields = [row[name] for name in ("request_id", "instance", "mode", "model", "text_sha256", "answered_by")]
    return LogRecord(line, *fields, answers)


class LogSummary:
    """Running counts of a log: records, malformed lines, requests, versions, labels, errors, the paired labels.

    Args:
        listed_lines: Malformed lines listed by number (all are counted).
    """

    def __init__(self, listed_lines: int = ShadowReportOptions.listed_lines) -> None:
        self.listed_lines = listed_lines
        self.records = 0
        self.malformed = 0
        self.malformed_lines: list[dict[str, Any]] = []
        self.duplicates = 0
        self.requests: set[str] = set()
        self.instances: set[tuple[str, int]] = set()
        #: A field that must hold one value in the whole log → value → [records, first line].
        self.values: dict[str, dict[str, list[int]]] = {
            key: {} for key in ("model", "mode", "champion version", "challenger version")
        }
        self.refs: dict[str, str] = {}
        self.answered: Counter = Counter()
        self.predictions = {side: PredictionStats() for side in SIDES}
        self.unscored: Counter = Counter()
        self.errors: dict[str, Counter] = {side: Counter() for side in SIDES}
        self.matrix: Counter = Counter()
        #: One row an instance: (text SHA-256, champion label, challenger label); None where that side gave none.
        self.rows: list[tuple[str, str | None, str | None]] = []

    def skip(self, line: int, reason: str) -> None:
        """Counts a malformed line (listed while fewer than ``listed_lines`` are)."""
        self.malformed += 1
        if len(self.malformed_lines) < self.listed_lines:
            self.malformed_lines.append({"line": line, "reason": reason})

    def _see(self, key: str, value: str, line: int) -> None:
        seen = self.values[key].setdefault(value, [0, line])
        seen[0] += 1

    def add(self, record: LogRecord) -> None:
        """Counts a record; a request's instance seen before is counted as a duplicate and otherwise ignored."""
        key = (record.request_id, record.instance)
        if key in self.instances:
            self.duplicates += 1
            return
        self.instances.add(key)
        self.requests.add(record.request_id)
        self.records += 1
        self._see("model", record.model, record.line)
        self._see("mode", record.mode, record.line)
        sides = SIDES if record.mode == "shadow" else (record.answered_by,)
        labels: dict[str, str | None] = {side: None for side in SIDES}
        for side in sides:
            labels[side] = self._answer(side, record.answers[side], record.line)
        if labels["champion"] is not None and labels["challenger"] is not None:
            self.matrix[(labels["champion"], labels["challenger"])] += 1
        self.rows.append((record.text_sha256, labels["champion"], labels["challenger"]))

    def _answer(self, side: str, answer: Answer | None, line: int) -> str | None:
        """Counts one side's answer; returns its label (None for an error)."""
        assert answer is not None  # parse_record checked it
        self._see(f"{side} version", answer.version, line)
        self.refs.setdefault(side, answer.ref)
        self.answered[side] += 1
        if answer.error is not None:
            self.errors[side][answer.error] += 1
            return None
        if answer.scores:
            top = np.array([[max(answer.scores.values())]])
            self.predictions[side].add([answer.label], top)
        else:
            self.predictions[side].predicted[answer.label] += 1
            self.unscored[side] += 1
        return answer.label


def _lines(uri: str) -> Iterator[tuple[int, str | None]]:
    """The log's lines, numbered from 1, decoded as UTF-8 (None for a line that is not UTF-8); blank ones skipped.

    Raises:
        DataError: The file does not exist.
    """
    import fsspec

    try:
        with fsspec.open(uri, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError:
                    yield number, None
    except FileNotFoundError:
        raise DataError(f"{uri}: file not found") from None


def read_log(uri: str, listed_lines: int = ShadowReportOptions.listed_lines) -> LogSummary:
    """Reads a shadow or canary log as a stream (module docstring).

    Raises:
        DataError: No such file, no valid record in it, or a log mixing models, modes or versions (named).
    """
    summary = LogSummary(listed_lines)
    for number, text in _lines(uri):
        try:
            if text is None:
                raise ValueError("not UTF-8")
            summary.add(parse_record(text, number))
        except ValueError as err:
            summary.skip(number, str(err))
    if not summary.records:
        found = f"; {summary.malformed} malformed lines, e.g. {summary.malformed_lines[0]}" if summary.malformed else ""
        raise DataError(f"{uri}: no shadow or canary record in the log{found}")
    for key, values in summary.values.items():
        if len(values) > 1:
            shown = ", ".join(f"{v!r} ({n} records from line {first})" for v, (n, first) in values.items())
            raise DataError(
                f"{uri}: the log mixes several {key}s: {shown}; one report covers one model, one mode and one "
                "version on each side: split the log and report each part"
            )
    return summary


def _only(summary: LogSummary, key: str) -> str | None:
    values = list(summary.values[key])
    return values[0] if values else None


def version_section(summary: LogSummary, side: str) -> dict[str, Any]:
    """One side's version, reference, answers, labels (counts and shares) and errors (the 5 most frequent)."""
    counts = summary.predictions[side].predicted
    labelled = sum(counts.values())
    errors = summary.errors[side]
    return {
        "version": _only(summary, f"{side} version"),
        "ref": summary.refs.get(side),
        "answered": summary.answered[side],
        "labels": labelled,
        "label_counts": dict(sorted(counts.items())),
        "label_shares": {k: round(v / labelled, 4) for k, v in sorted(counts.items())} if labelled else {},
        "unscored": summary.unscored[side],
        "errors": sum(errors.values()),
        "error_examples": [{"error": text, "count": n} for text, n in errors.most_common(5)],
    }


def agreement_section(summary: LogSummary, mode: str) -> dict[str, Any]:
    """Shadow: the agreement rate on the instances both versions labelled, and the disagreement matrix (champion
    label × challenger label, the agreements on its diagonal). Canary: none, and why."""
    if mode == "canary":
        return {
            "paired": 0,
            "agree": 0,
            "rate": None,
            "note": "canary: each instance was answered by one version only, so there is no agreement rate or "
            "disagreement matrix; each version is reported on its own instances",
        }
    paired = sum(summary.matrix.values())
    agree = sum(n for (a, b), n in summary.matrix.items() if a == b)
    labels = sorted({label for pair in summary.matrix for label in pair})
    rows = [[summary.matrix.get((a, b), 0) for b in labels] for a in labels]
    out: dict[str, Any] = {"paired": paired, "agree": agree, "rate": round(agree / paired, 4) if paired else None}
    out["matrix"] = {"labels": labels, "rows": rows, "rows_are": "champion", "columns_are": "challenger"}
    out["disagreements"] = [
        {"champion": a, "challenger": b, "count": n} for (a, b), n in summary.matrix.most_common() if a != b
    ]
    return out


def drift_section(
    registry: Any,
    model: str,
    version: str | None,
    stats: PredictionStats,
    options: ShadowReportOptions,
    workdir: Path | None = None,
    unavailable: str = "",
) -> dict[str, Any]:
    """One version's prediction drift against its registered reference profile (``monitor``'s prediction checks),
    or why there is none: no registry, an unreachable one, a version without a profile, no labels in the log."""
    from components.registry.reference import read_profile
    from components.registry.store import ModelRef, download_version, redact_text

    rows = sum(stats.predicted.values())
    if unavailable or registry is None or version is None or not rows:
        why = unavailable or ("no --registry given" if registry is None else "no labels from this version in the log")
        return {"available": False, "reason": why}
    try:
        folder, _ = download_version(registry, ModelRef(model, "", version), workdir)
        profile = read_profile(folder)
    except FileNotFoundError:
        why = f"{model}/{version} has no reference profile (registered before monitoring existed)"
        return {"available": False, "reason": why}
    except Exception as err:  # an unreachable registry, a missing version: said, and the report goes on
        reason = redact_text(str(err)).strip().splitlines()
        return {"available": False, "reason": f"{type(err).__name__}: {reason[0] if reason else ''}"[:300]}
    checks = prediction_checks(profile, stats, options)
    return {"available": True, "rows": rows, "drift": any(c["drift"] for c in checks), "checks": checks}


def text_sha256(text: str) -> str:
    """The SHA-256 of a text's UTF-8, hex: how ``serve`` hashes an instance's text as received."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_labels(uri: str, options: ShadowReportOptions) -> tuple[dict[str, str], dict[str, int]]:
    """Text → label of a labels file (CSV, ``text;label`` lines or JSON lines, as ``predict`` reads them), keyed
    by :func:`text_sha256`; a text given twice with two labels keeps its first.

    Returns:
        The labels by hash, and counts: ``rows``, ``labelled``, ``unlabelled``, ``conflicting``.

    Raises:
        DataError: The file cannot be read, or has no labelled row.
    """
    from components.io.batch_input import read_chunks

    found: dict[str, str] = {}
    counts = Counter(rows=0, unlabelled=0, conflicting=0)
    for texts, labels in read_chunks(uri, options):
        for text, label in zip(texts, labels, strict=True):
            counts["rows"] += 1
            if label is None or not str(label).strip():
                counts["unlabelled"] += 1
                continue
            if found.setdefault(text_sha256(str(text)), str(label)) != str(label):
                counts["conflicting"] += 1
    if not found:
        raise DataError(f"{uri}: no labelled row ({counts['rows']} rows; no label column or field found)")
    return found, {**counts, "labelled": len(found)}


def _intervals(truth: list[str], predicted: list[str], options: ShadowReportOptions) -> dict[str, Any]:
    """Accuracy and macro-F1 of one version with their bootstrap intervals."""
    out: dict[str, Any] = {"instances": len(truth)}
    for metric in ("accuracy", "macro_f1"):
        found = metric_interval(
            truth,
            predicted,
            metric=metric,
            resamples=options.bootstrap_resamples,
            confidence=options.confidence,
            seed=options.seed,
        )
        out[metric] = found.score
        out[f"{metric}_interval"] = list(found.interval)
    return out


def canary_labelled(
    rows: list[tuple[str, str | None, str | None]], truth: Mapping[str, str], options: ShadowReportOptions
) -> dict[str, Any]:
    """Canary with labels: each version's scores on its own labelled instances; no verdict (module docstring)."""
    out: dict[str, Any] = {"paired": False}
    for index, side in enumerate(SIDES, start=1):
        pairs = [(truth[row[0]], row[index]) for row in rows if row[0] in truth and row[index] is not None]
        out[side] = _intervals(*map(list, zip(*pairs, strict=True)), options) if pairs else {"instances": 0}
    out["verdict"] = None
    out["reason"] = (
        "no verdict: the champion rule compares both versions on the same instances (a paired bootstrap), and in a "
        "canary each instance was answered by one version only; log a shadow (both versions answer every "
        "instance) to decide"
    )
    return out


def _as_dict(diff: PairedDifference) -> dict[str, Any]:
    """A paired difference as the report shows it (challenger as ``a``, champion as ``b``)."""
    return {
        "metric": diff.metric,
        "challenger": diff.score_a,
        "champion": diff.score_b,
        "difference": diff.difference,
        "interval": list(diff.interval),
        "confidence": diff.confidence,
        "resamples": diff.resamples,
    }


def shadow_labelled(
    rows: list[tuple[str, str | None, str | None]],
    truth: Mapping[str, str],
    champion_version: str | None,
    options: ShadowReportOptions,
) -> dict[str, Any]:
    """Shadow with labels: both versions on the labelled instances both answered, the paired bootstrap of
    ``challenger − champion`` on accuracy, macro-F1 (and ``metric``), and the champion rule's verdict on ``metric``."""
    joined = [(truth[sha], a, b) for sha, a, b in rows if sha in truth and a is not None and b is not None]
    failed = sum(1 for sha, a, b in rows if sha in truth and (a is None or b is None))
    out: dict[str, Any] = {"paired": True, "instances": len(joined), "labelled_unanswered": failed}
    if not joined:
        out |= {"verdict": None, "reason": "no verdict: no labelled instance was answered by both versions"}
        return out
    truth_labels, champion, challenger = (list(column) for column in zip(*joined, strict=True))
    differences = {
        metric: paired_difference(
            truth_labels,
            challenger,
            champion,
            metric=metric,
            resamples=options.bootstrap_resamples,
            confidence=options.confidence,
            seed=options.seed,
        )
        for metric in dict.fromkeys(("accuracy", "macro_f1", options.metric))
    }
    chosen = differences[options.metric]
    compared = describe_difference(chosen, f"champion v{champion_version}", f"{len(joined)} labelled shadow instances")
    verdict = promotion_verdict(chosen, compared)
    reason = verdict.reason
    if failed:
        reason += f"; caution: {failed} labelled instances had an error on one side and are not compared"
    out["differences"] = {metric: _as_dict(diff) for metric, diff in differences.items()}
    return out | {"metric": options.metric, "verdict": verdict.verdict, "promoted": verdict.promoted, "reason": reason}


def labelled_section(
    summary: LogSummary, mode: str, labels_uri: str, champion_version: str | None, options: ShadowReportOptions
) -> dict[str, Any]:
    """The labels file joined to the log: shadow (paired, with the verdict) or canary (each side alone)."""
    truth, counts = read_labels(labels_uri, options)
    matched = sum(1 for row in summary.rows if row[0] in truth)
    if mode == "shadow":
        found = shadow_labelled(summary.rows, truth, champion_version, options)
    else:
        found = canary_labelled(summary.rows, truth, options)
    return {"labels": labels_uri, "label_rows": counts, "matched_instances": matched, **found}


def notes(report: Mapping[str, Any]) -> list[str]:
    """What a reader should know: skipped lines, duplicates, drift not computed, errors, labels matching nothing."""
    said = []
    malformed = report["malformed"]
    if malformed["count"]:
        lines = ", ".join(str(item["line"]) for item in malformed["lines"])
        more = " …" if malformed["count"] > len(malformed["lines"]) else ""
        said.append(f"malformed lines skipped: {malformed['count']} (line numbers {lines}{more})")
    if report["duplicates"]:
        said.append(f"{report['duplicates']} records repeated a request's instance: the first of each was kept")
    for side, drift in report["drift"].items():
        if not drift["available"]:
            said.append(f"{side} drift not computed: {drift['reason']}")
    errors = report["versions"]["challenger"]["errors"]
    if errors:
        said.append(f"the challenger failed on {errors} instances (see its errors)")
    labelled = report.get("labelled")
    if labelled and labelled["matched_instances"] == 0:
        said.append(f"no instance of the log has its text in {labelled['labels']} (joined by the text's SHA-256)")
    return said


def shadow_report(
    log_uri: str,
    *,
    labels_uri: str = "",
    registry: Any = None,
    registry_problem: str = "",
    options: ShadowReportOptions | None = None,
    workdir: Path | None = None,
) -> dict[str, Any]:
    """Reads a shadow or canary log (and a labels file) and reports (module docstring).

    Args:
        log_uri: The log (JSON Lines; local or any fsspec URI).
        labels_uri: Texts with labels (CSV, ``text;label`` lines or JSON lines); empty: none.
        registry: The open registry the versions' reference profiles are read from; None: drift not computed.
        registry_problem: Why there is no registry (it could not be opened), said instead of the drift.
        options: Reading, bootstrap and drift thresholds.
        workdir: Folder for the downloaded versions (a temporary one when None).

    Returns:
        The report (JSON-ready): ``mode``, ``model``, ``records``, ``requests``, ``versions``, ``agreement``,
        ``drift``, ``labelled`` (None without labels), ``verdict``, ``reason``, ``notes`` …

    Raises:
        DataError: The log or the labels file cannot be used (named), or the log mixes models, modes or versions.
    """
    options = options or ShadowReportOptions()
    summary = read_log(log_uri, options.listed_lines)
    mode, model = _only(summary, "mode"), _only(summary, "model")
    versions = {side: version_section(summary, side) for side in SIDES}
    report: dict[str, Any] = {
        "log": log_uri,
        "mode": mode,
        "model": model,
        "records": summary.records,
        "requests": len(summary.requests),
        "duplicates": summary.duplicates,
        "malformed": {"count": summary.malformed, "lines": summary.malformed_lines},
        "versions": versions,
        "agreement": agreement_section(summary, mode),
    }
    report["drift"] = {
        side: drift_section(
            registry, model, versions[side]["version"], summary.predictions[side], options, workdir, registry_problem
        )
        for side in SIDES
    }
    champion = versions["champion"]["version"]
    report["labelled"] = labelled_section(summary, mode, labels_uri, champion, options) if labels_uri else None
    decided = report["labelled"] or {"verdict": None, "reason": "no verdict without labels (--labels FILE)"}
    report["verdict"], report["reason"] = decided["verdict"], decided["reason"]
    report["notes"] = notes(report)
    report["options"] = {k: v for k, v in vars(options).items() if k not in ("text_column", "label_column")}
    return report
