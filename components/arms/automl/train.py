"""Train with AutoML: PyCaret's default model list, then tuning, on the dense features under a *hard* time budget.

What a PyCaret user does with ``compare_models()`` and ``tune_model()``, within a budget that holds. By default the
candidates are PyCaret's own default list for classification (``models=("default",)``): every model that
``compare_models()`` tries, i.e. ``experiment.models()`` less those PyCaret leaves out unless ``turbo=False``, read
from the installed PyCaret at run time (14 with PyCaret 3.3: linear models, naive Bayes, k-NN, discriminant
analysis, a decision tree, forests, boosting and a dummy baseline). They are tried cheapest first by an estimate
of their cost (:class:`CostModel`: rows × columns × classes × model kind, refined by each candidate that ran)
until the list is done or the budget spent; a candidate whose estimate exceeds what is left is ``skipped`` with
that reason. With budget left, the best candidates are tuned (``tune_model``), each with as many iterations as
fit. ``models`` may also name PyCaret ids (``lr,ridge``) to narrow the list, ``default`` among them to extend it.

PyCaret's own ``compare_models(budget_time=...)`` only stops *starting* models: a running one (Gradient Boosting
on 16,000 rows, minutes a fold) overruns the budget without limit. Here every candidate runs PyCaret's
``create_model`` in its own forked process with a timeout computed from the remaining budget, and is killed
(with its process group) when it runs over; it then appears on the leaderboard with status ``timeout``.
Finalising the best model on all rows and ``tune_model`` run the same way; if finalising cannot finish in time,
the model fitted on PyCaret's training split is kept and the metadata says so (``finalised: false``). PyCaret's
import and ``setup`` spend the budget too but fit no model: they are the leaderboard's first row (``setup``),
with a time and no scores; finalising is its last (``finalise``). The model's metadata and the Markdown
leaderboard say what AutoML was given and used (:func:`budget_verdict`): candidates tried, skipped and killed,
tuning runs, seconds and share of the budget, and whether it ran out of time or out of candidates.

Scores: PyCaret's leaderboard ``F1`` is the *weighted* F1 (and a macro metric added with ``add_metric``
returns 0 with ``preprocess=False``), so accuracy and macro-F1 are computed here with scikit-learn on PyCaret's
own hold-out split of the training rows (``train_size``); PyCaret's cross-validated accuracy is kept as
``cv_accuracy``. The best model (untuned or tuned) is the one with the best hold-out ``sort`` metric (default
macro-F1).

Rows: PyCaret's setup grows with rows × columns and its copies of the dense features take about 20 bytes of memory
a feature byte, so the rows are sampled (stratified, seeded) when all of them would take the setup past a quarter
of the budget or the copies past :data:`AUTOML_MEMORY_MB`, or past three quarters of the step's memory (its container's
limit) when that is less (:func:`sample_for_budget`, :func:`memory_cap_mb`); the leaderboard's ``setup`` row and the
model's metadata (``rows``, ``rows_note``) say so. A budget too small for PyCaret's setup and one candidate is
refused before PyCaret is imported.

PyCaret's ``setup`` writes ``logs.log`` into the working directory unless ``system_log=False`` and caches
fitted transformers on disk unless ``memory=False``; both are off here. Importing PyCaret also opens ``logs.log``:
see :func:`quiet_pycaret_logs`.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from components.arms.automl.features import densify_rows, to_feature_frame
from components.checks.errors import ParameterError
from components.checks.options import check_choice, check_number
from components.models.sizing import BudgetTooSmallError
from components.models.trained import TrainedModel, score
from components.runtime.processes import TIMEOUT, run_with_timeout

LABEL = "label"
SORT_METRICS = ("macro_f1", "accuracy")
#: In ``models``: PyCaret's default list for classification (what ``compare_models()`` tries), read at run time.
DEFAULT_MODELS = "default"
#: PyCaret 3.3's classification model ids with this stack (``experiment.models().index``; xgboost and catboost are
#: not installed): checked before a run starts; tests/unit/test_train_automl.py compares it with PyCaret's catalogue.
PYCARET_MODEL_IDS = (
    "ada",
    "dt",
    "dummy",
    "et",
    "gbc",
    "gpc",
    "knn",
    "lda",
    "lightgbm",
    "lr",
    "mlp",
    "nb",
    "qda",
    "rbfsvm",
    "rf",
    "ridge",
    "svm",
)
#: Kept back from the budget for saving the model and writing the artifacts after training.
MIN_RESERVE_SECONDS = 2.0
RESERVE_FRACTION = 0.02
#: A candidate is not started with less than this many seconds left.
MIN_CANDIDATE_SECONDS = 1.0
#: A candidate is started only when its estimate times this fits in the time left: a candidate killed at its limit
#: is time lost, and on a busy machine estimates are often 25 % out (tuning runs are sized to fit, no margin).
START_MARGIN = 1.25
#: The leaderboard's first row: PyCaret's import and ``setup``, which count against the budget.
SETUP_ID = "setup"
SETUP_NAME = "PyCaret import + setup"
#: The leaderboard's last row: refitting the best model on all training rows.
FINALISE_ID = "finalise"
#: A tuned model's id is its candidate's id with this suffix.
TUNED_SUFFIX = "_tuned"
#: How many candidates are tuned, the best first, as a PyCaret user tunes the best of ``compare_models(n_select=3)``.
TUNE_TOP = 3
#: A tuning run is not started with fewer iterations than this (unless ``tune_iterations`` is smaller).
MIN_TUNE_ITERATIONS = 2
#: PyCaret metric that ``tune_model`` optimises for each ``sort``: its F1 is weighted, the nearest it has to macro-F1.
TUNE_OPTIMIZE = {"macro_f1": "F1", "accuracy": "Accuracy"}
#: A candidate's fixed cost (fork, PyCaret's bookkeeping, hold-out scoring), added to every estimate, until a
#: baseline candidate (``dummy``, which fits nothing) has measured it.
CANDIDATE_OVERHEAD_SECONDS = 1.5
#: Rows are sampled so that PyCaret's import and setup take at most this share of the budget: its setup grows with
#: rows × columns, and on 48k rows it alone once ate a 30 s budget.
SETUP_SHARE = 0.25
#: PyCaret's import (seconds) and its setup's seconds per feature cell, as measured on 2 cores (16k and 48k rows of
#: 2,000 columns: 16.5 s and 31–70 s, the latter at load 4), the loaded figure kept.
IMPORT_SECONDS = 6.0
SETUP_SECONDS_PER_CELL = 6.5e-7
#: Memory PyCaret may use for its copies of the dense features: on 53,076 rows × 2,000 float32 columns (425 MB)
#: the step's process tree peaked at 8,103 MB by the RSS sum (benchmarks/scale.py, 64k rows), about 19 bytes of
#: memory a feature byte, hence the row cap ``AUTOML_MEMORY_MB / (20 × columns × 4 bytes)`` (39k rows of 2,000
#: columns at 6,000 MiB).
AUTOML_MEMORY_MB = 6000
MEMORY_PER_FEATURE_BYTE = 20
#: Share of the step's memory (its container's limit, else the machine's) PyCaret's copies may take: the rest holds
#: the labels, the sparse features and the Python process itself.
STEP_MEMORY_SHARE = 0.75


def memory_cap_mb(step_memory_mb: float) -> float:
    """The memory PyCaret's copies may take in a step that may use ``step_memory_mb``: :data:`AUTOML_MEMORY_MB`, or
    :data:`STEP_MEMORY_SHARE` of the step's memory when that is less (a container with a 4 GiB limit: 3,072 MB)."""
    return min(AUTOML_MEMORY_MB, STEP_MEMORY_SHARE * step_memory_mb)


#: Fewest rows a sampled run keeps.
MIN_SAMPLE_ROWS = 500
#: Most of the budget PyCaret's import and its setup on the smallest sample may take; past it no candidate would fit,
#: so the step refuses before importing PyCaret (:func:`sample_for_budget`).
MAX_SETUP_SHARE = 0.5
#: The smallest budget accepted at all: the import alone within :data:`MAX_SETUP_SHARE` of it (0.2 minutes).
MIN_BUDGET_MINUTES = IMPORT_SECONDS / MAX_SETUP_SHARE / 60.0


@dataclass
class LeaderboardRow:
    """One row of the AutoML leaderboard: PyCaret's setup, a candidate, a tuning run, or finalising the best.

    Attributes:
        model_id: PyCaret model id (``lr``, ``rf`` …; ``<id>_tuned`` for a tuned model); ``setup`` for the import
            and setup and ``finalise`` for refitting the best model on all rows: they spend the budget too but
            are not candidates (no scores).
        model: The estimator's name (PyCaret's display name when known).
        stage: ``setup``, ``candidate``, ``tune`` or ``finalise``.
        accuracy: Accuracy on PyCaret's hold-out split of the training rows (scikit-learn).
        macro_f1: Macro-F1 on the same rows (scikit-learn).
        cv_accuracy: PyCaret's mean cross-validated accuracy.
        fit_seconds: Wall time of the row (cross-validation, fit and hold-out scoring; the setup; finalising).
        estimate_seconds: What it was expected to take (:class:`CostModel`; ``None`` when unknown).
        timeout_seconds: The time it was allowed (``None`` for the setup, which is not killed, and when skipped).
        status: ``ok``, ``timeout`` (killed at its timeout), ``skipped`` (not enough budget left) or ``error: …``.
        note: Why it was skipped, or what was run (tuning iterations).
    """

    model_id: str
    model: str
    stage: str = "candidate"
    accuracy: float | None = None
    macro_f1: float | None = None
    cv_accuracy: float | None = None
    fit_seconds: float = 0.0
    estimate_seconds: float | None = None
    timeout_seconds: float | None = None
    status: str = "skipped"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelCost:
    """What one PyCaret model costs in ``create_model`` and how that grows with the data.

    Attributes:
        kind: Models whose times move together (``linear``, ``neighbours``, ``trees``, ``boosting`` …): a measured
            time refines the estimates of its own kind first (:class:`CostModel`).
        seconds: ``create_model`` wall time on the reference problem (:data:`REFERENCE`), overhead excluded.
        rows: Exponent of the time in the training rows (2 for k-NN: every row is compared with every row).
        columns: Exponent in the columns (2 for models that build a columns × columns matrix).
        classes: Exponent in the classes (1 for one-vs-rest and per-class boosting).
    """

    kind: str
    seconds: float
    rows: float = 1.0
    columns: float = 1.0
    classes: float = 0.0


#: The problem :data:`MODEL_COSTS` were measured on: emotion6's PyCaret training split (70 % of 15,934 rows),
#: the 2,000 dense columns, 6 classes, 3 folds; 2 cores, n_jobs=1.
REFERENCE = {"rows": 11_153, "columns": 2_000, "classes": 6, "folds": 3}
#: ``create_model`` seconds on :data:`REFERENCE` (less :data:`CANDIDATE_OVERHEAD_SECONDS`) and how they scale, by
#: PyCaret id. Measured on 2026-12-01 (docs/RESULTS.md): on a lightly loaded machine for ridge, nb, svm, lr, lda,
#: et, lightgbm and gbc; the others measured at load 9–11 and scaled by the slow-down of those eight (3–9×).
#: Only their order and ratios matter much: a run scales them by what it measures (:class:`CostModel`).
MODEL_COSTS: dict[str, ModelCost] = {
    "dummy": ModelCost("baseline", 0.0, rows=0, columns=0),
    "ridge": ModelCost("linear", 2.0, columns=2),
    "nb": ModelCost("linear", 2.5, classes=1),
    "dt": ModelCost("trees", 6.0, rows=1.1),
    "lightgbm": ModelCost("boosting", 7.0, classes=1),
    "lr": ModelCost("linear", 9.0, classes=1),
    "svm": ModelCost("linear", 10.0, classes=1),
    "knn": ModelCost("neighbours", 11.0, rows=2),
    "lda": ModelCost("linear", 15.0, columns=2),
    "ada": ModelCost("trees", 15.0, rows=1.1),
    "rf": ModelCost("trees", 38.0, rows=1.1, columns=0.5),
    "et": ModelCost("trees", 58.0, rows=1.1, columns=0.5),
    "qda": ModelCost("linear", 70.0, columns=2, classes=1),
    "gbc": ModelCost("boosting", 250.0, rows=1.1, classes=1),
    # Not in PyCaret's default list (turbo), or only when installed: rough figures, to order them.
    "xgboost": ModelCost("boosting", 60.0, classes=1),
    "catboost": ModelCost("boosting", 300.0, classes=1),
    "rbfsvm": ModelCost("kernel", 300.0, rows=2),
    "mlp": ModelCost("neural", 300.0),
    "gpc": ModelCost("kernel", 3600.0, rows=3, columns=0, classes=1),
}
#: Measured/estimated ratios are kept within these bounds (a run on a very busy machine, a model that stops early).
RATIO_BOUNDS = (0.05, 50.0)


class DecodedClassifier(BaseEstimator, ClassifierMixin):
    """A fitted classifier trained on encoded labels, predicting the original labels.

    PyCaret trains candidates on label-encoded targets; its finalised pipeline decodes them, a bare candidate
    does not. This wraps a bare candidate when finalising could not finish within the budget.

    Args:
        estimator: Fitted classifier predicting integer codes.
        classes: The labels, indexed by code.
    """

    def __init__(self, estimator: Any, classes: Sequence[str]) -> None:
        self.estimator = estimator
        self.classes = classes

    def fit(self, features: Any, labels: Any) -> DecodedClassifier:  # already fitted: a no-op for Pipeline
        return self

    def predict(self, features: Any) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[np.asarray(self.estimator.predict(features), dtype=int)]


def quiet_pycaret_logs() -> None:
    """Stops PyCaret writing ``logs.log`` into the working directory.

    PyCaret opens ``logs.log`` in the current directory when it is *imported* (also when a saved PyCaret model is
    unpickled), whatever ``setup(system_log=False)`` says later. Its documented knob is the environment variable
    ``PYCARET_CUSTOM_LOGGING_PATH``: this points it at the null device unless the caller set it. Call it before
    importing PyCaret or loading an AutoML model.
    """
    os.environ.setdefault("PYCARET_CUSTOM_LOGGING_PATH", os.devnull)


@dataclass(frozen=True)
class AutomlOptions:
    """The AutoML run: candidates, hard budget, folds and tuning, with every default.

    Attributes:
        models: ``default`` (PyCaret's default list for classification, what ``compare_models()`` tries), and/or
            PyCaret model ids (``lr``, ``ridge``, ``rf`` …: only these, to narrow it; ``default,rbfsvm`` extends
            it), or scikit-learn estimator objects (named by their class on the leaderboard). Tried cheapest first
            by :class:`CostModel` (estimator objects, of unknown cost, last), until the budget is spent.
        budget_minutes: Hard budget of the whole call (setup, candidates, tuning, finalising).
        folds: Cross-validation folds of each candidate.
        seed: PyCaret ``session_id``.
        sort: ``macro_f1`` or ``accuracy`` on PyCaret's hold-out split: how the best model is chosen.
        tune_iterations: ``tune_model`` iterations (PyCaret's default, 10) of each of the :data:`TUNE_TOP` best
            candidates, with the budget left after the candidates (fewer when only fewer fit); 0 = no tuning.
        train_size: PyCaret's training fraction (the rest is its hold-out split for scoring).
        memory_limit_mb: Memory PyCaret's copies of the features may take (MB), which caps the rows it is given:
            :data:`AUTOML_MEMORY_MB`, or less where the step has less (:func:`memory_cap_mb`).
    """

    models: Sequence[str | Any] = (DEFAULT_MODELS,)
    budget_minutes: float = 5.0
    folds: int = 3
    seed: int = 42
    sort: str = "macro_f1"
    tune_iterations: int = 10
    train_size: float = 0.7
    memory_limit_mb: float = AUTOML_MEMORY_MB

    def __post_init__(self) -> None:
        if not self.models:
            raise ParameterError(f"models: give {DEFAULT_MODELS!r} or at least one PyCaret model id (e.g. lr,ridge)")
        unknown = [m for m in self.models if isinstance(m, str) and m not in (DEFAULT_MODELS, *PYCARET_MODEL_IDS)]
        if unknown:
            raise ParameterError(
                f"models: unknown PyCaret model ids {unknown}; known ids are {DEFAULT_MODELS!r} and "
                f"{list(PYCARET_MODEL_IDS)}"
            )
        check_number("budget_minutes", self.budget_minutes, low=MIN_BUDGET_MINUTES)
        check_number("folds", self.folds, low=2, integer=True)
        check_number("tune_iterations", self.tune_iterations, low=0, integer=True)
        check_number("seed", self.seed, low=0, integer=True)
        check_number("train_size", self.train_size, low=0, high=1, low_open=True, high_open=True)
        check_number("memory_limit_mb", self.memory_limit_mb, low=0, low_open=True)
        check_choice("sort", self.sort, SORT_METRICS)


def train_automl_model(
    features: sparse.spmatrix | pd.DataFrame,
    labels: Sequence[str],
    dense_vectoriser: Pipeline,
    *,
    options: AutomlOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[TrainedModel, pd.DataFrame]:
    """Runs PyCaret's candidates cheapest first under a hard time budget, tunes the best, finalises the best.

    The phases: :func:`_setup` (PyCaret's experiment and the candidates), :func:`_run_candidates`, :func:`_tune`
    and :func:`_finalise`, each within what the budget has left.

    Args:
        features: Training features from ``dense_vectoriser`` before densifying (sparse, as ``vectorise`` writes
            them), or the dense ``f…`` table; only the rows PyCaret is given are densified.
        labels: Training labels.
        dense_vectoriser: Fitted text → dense features pipeline, joined to the model so it predicts texts.
        options: Candidates, budget, folds, seed, ranking and tuning (:class:`AutomlOptions`); defaults if ``None``.
        progress: Called with one line per candidate (e.g. :class:`components.runtime.progress.Progress`).

    Returns:
        The text → label model and the leaderboard: a first row for PyCaret's import and setup, one row a
        candidate in the order tried, one a tuning run, and a last row for finalising (see
        :class:`LeaderboardRow`); ``leaderboard.attrs["budget_used_seconds"]`` is the call's wall time.

    Raises:
        ValueError: Bad arguments or unknown model ids.
        BudgetTooSmallError: The budget cannot fit PyCaret's setup and a candidate (raised before PyCaret is
            imported, with the estimate; a ``ValueError``).
        TimeoutError: No candidate finished within the budget (the leaderboard is in the message).
    """
    options = options or AutomlOptions()
    start = time.perf_counter()
    if features.shape[0] != len(labels):
        raise ValueError(f"features have {features.shape[0]} rows but labels have {len(labels)}")
    report = progress or (lambda message: None)
    features, labels, sampling = sample_for_budget(features, labels, options)
    if sampling:
        report(f"rows: {sampling}")
    session = _setup(features, labels, options, start, report)
    session.setup_row.note = sampling
    rows, fitted = _run_candidates(session, report)
    _tune(session, rows, fitted, report)
    best_row = _best_row(rows, options.sort)
    best = Best(best_row, fitted[best_row.model_id])
    final = _finalise(session, rows, best, report)
    return _trained_model(session, rows, best, final, features, dense_vectoriser)


@dataclass(frozen=True)
class Candidate:
    """One model to try.

    Attributes:
        model_id: Its leaderboard id: the PyCaret id, or an estimator object's class name.
        name: PyCaret's display name, or the class name.
        estimator: What ``create_model`` is given: the PyCaret id or the estimator object.
    """

    model_id: str
    name: str
    estimator: Any


@dataclass
class CostModel:
    """Estimates of each candidate's seconds on this problem, refined by the candidates that ran.

    The base estimate of a PyCaret id in :data:`MODEL_COSTS` is its reference seconds scaled to this problem:
    ``seconds × (rows / rows₀)^a × (columns / columns₀)^b × (classes / classes₀)^c × folds / folds₀`` (a
    candidate is ``folds`` fits on ``(folds − 1) / folds`` of the rows plus one on all of them). The estimate is
    the overhead (:data:`CANDIDATE_OVERHEAD_SECONDS` until a baseline candidate such as ``dummy`` measured it) plus
    the base times a factor: the geometric mean of measured/base of the candidates of the same kind that ran (a
    killed one counts with its time limit, a lower bound), else of every candidate that ran (the machine's speed,
    its load), else 1. Ids without a cost (estimator objects) have none.

    Attributes:
        rows: PyCaret's training rows (the hold-out split excluded).
        columns: Feature columns.
        classes: Distinct labels.
        folds: Cross-validation folds.
        ratios: Kind → measured/base ratios of the candidates that ran.
        overhead: Seconds a candidate costs beyond its fits (process, PyCaret's bookkeeping, scoring).
    """

    rows: int
    columns: int
    classes: int
    folds: int
    ratios: dict[str, list[float]] = field(default_factory=dict)
    overhead: float = CANDIDATE_OVERHEAD_SECONDS

    def base(self, model_id: str) -> float | None:
        """Seconds on this problem by the reference figures alone; ``None`` for an id without a cost."""
        cost = MODEL_COSTS.get(model_id)
        if cost is None:
            return None
        scale = (
            (self.rows / REFERENCE["rows"]) ** cost.rows
            * (self.columns / REFERENCE["columns"]) ** cost.columns
            * (self.classes / REFERENCE["classes"]) ** cost.classes
        )
        return cost.seconds * scale * self.folds / REFERENCE["folds"]

    def factor(self, kind: str) -> float:
        """Measured/base of the candidates that ran: of this kind when any ran, else of all, else 1."""
        ratios = self.ratios.get(kind) or [ratio for values in self.ratios.values() for ratio in values]
        return math.exp(sum(map(math.log, ratios)) / len(ratios)) if ratios else 1.0

    def estimate(self, model_id: str) -> float | None:
        """Expected wall seconds of the candidate, or ``None`` when its cost is unknown."""
        base = self.base(model_id)
        if base is None:
            return None
        return self.overhead + base * self.factor(MODEL_COSTS[model_id].kind)

    def learn(self, model_id: str, row: LeaderboardRow) -> None:
        """Adds a finished (or killed) candidate's measured/base ratio to its kind's; a baseline's time (all
        overhead) becomes the overhead."""
        base = self.base(model_id)
        if base is None or row.status not in ("ok", TIMEOUT):
            return
        if base < 0.5:  # a baseline (dummy): nothing to fit, its time is the overhead of every candidate
            self.overhead = row.fit_seconds if row.status == "ok" else self.overhead
            return
        ratio = max(row.fit_seconds - self.overhead, 0.0) / base
        low, high = RATIO_BOUNDS
        self.ratios.setdefault(MODEL_COSTS[model_id].kind, []).append(min(max(ratio, low), high))


@dataclass(frozen=True)
class AutomlSession:
    """PyCaret's experiment, set up on the training rows, the candidates and the budget they run in.

    Attributes:
        options: The run's options.
        experiment: The set-up ``ClassificationExperiment``.
        candidates: The models to try (``options.models`` with ``default`` expanded), in the order given.
        costs: Their cost estimates, refined as they run.
        holdout_x: PyCaret's hold-out split of the training rows (features), on which candidates are scored.
        holdout_y: Its labels, as PyCaret encoded them.
        start: ``time.perf_counter()`` when the call began: the budget counts from here.
        deadline: ``time.perf_counter()`` by which training must end (the budget less the reserve for saving).
        setup_row: The leaderboard row of PyCaret's import and setup.
    """

    options: AutomlOptions
    experiment: Any
    candidates: tuple[Candidate, ...]
    costs: CostModel
    holdout_x: Any
    holdout_y: Any
    start: float
    deadline: float
    setup_row: LeaderboardRow

    def remaining(self) -> float:
        """Seconds left until :attr:`deadline`."""
        return self.deadline - time.perf_counter()

    def available(self, rows: Sequence[LeaderboardRow]) -> float:
        """Seconds a candidate or tuning run may take now: what is left less the time to finalise the best."""
        best = _best_row(rows, self.options.sort, required=False)
        if best is None:
            return self.remaining()
        return self.remaining() - self.finalise_estimate(best, rows)

    def finalise_estimate(self, best: LeaderboardRow, rows: Sequence[LeaderboardRow]) -> float:
        """Seconds to keep back for refitting ``best`` on all rows (:func:`_finalise_estimate`)."""
        return _finalise_estimate(_create_seconds(best, rows), self.options, self.costs.overhead)

    def scored(self, fit: Callable[[], Any]) -> Callable[[], dict[str, Any]]:
        """A unit of work for run_with_timeout: fit (create or tune a model), then its CV and hold-out scores."""

        def work() -> dict[str, Any]:
            model = fit()
            cv = self.experiment.pull()
            return {
                "model": model,
                "cv_accuracy": float(cv.loc["Mean", "Accuracy"]),
                **score(self.holdout_y, model.predict(self.holdout_x)),
            }

        return work


@dataclass(frozen=True)
class Best:
    """The model to finalise.

    Attributes:
        row: Its leaderboard row.
        model: It, fitted on PyCaret's training split.
    """

    row: LeaderboardRow
    model: Any


@dataclass(frozen=True)
class Finalised:
    """The final model.

    Attributes:
        model: The best model refitted on all rows, or when that could not finish in time, the model fitted on
            PyCaret's training split (decoding PyCaret's label codes).
        finalised: Whether it was refitted on all rows.
        seconds: Wall time of finalising.
    """

    model: Any
    finalised: bool
    seconds: float


def pycaret_default_models(catalogue: pd.DataFrame) -> list[str]:
    """PyCaret's default list: the ids ``compare_models()`` tries (``turbo=True``, no ``include``/``exclude``).

    Args:
        catalogue: ``experiment.models()`` of a set-up experiment (its ``Turbo`` column marks the default list).
    """
    return [str(model_id) for model_id, turbo in catalogue["Turbo"].items() if bool(turbo)]


def _candidates(models: Sequence[str | Any], catalogue: pd.DataFrame) -> tuple[Candidate, ...]:
    """``models`` with ``default`` expanded to PyCaret's default list, each once, as :class:`Candidate`.

    Raises:
        ValueError: Unknown model ids.
    """
    expanded: list[str | Any] = []
    for model in models:
        expanded += pycaret_default_models(catalogue) if model == DEFAULT_MODELS else [model]
    unknown = [m for m in expanded if isinstance(m, str) and m not in catalogue.index]
    if unknown:
        known = sorted(catalogue.index)
        raise ValueError(f"models: unknown PyCaret model ids {unknown}; known ids are {DEFAULT_MODELS!r} and {known}")
    candidates: dict[str, Candidate] = {}
    for model in expanded:
        if isinstance(model, str):
            candidates.setdefault(model, Candidate(model, str(catalogue.loc[model, "Name"]), model))
        else:  # a scikit-learn estimator object, which PyCaret's create_model also takes
            name = type(model).__name__
            model_id = name if name not in candidates else f"{name}_{len(candidates) + 1}"
            candidates[model_id] = Candidate(model_id, name, model)
    return tuple(candidates.values())


def sample_for_budget(
    features: sparse.spmatrix | pd.DataFrame, labels: Sequence[str], options: AutomlOptions
) -> tuple[pd.DataFrame, list[str], str]:
    """A stratified sample of the rows when all of them would not fit the budget's setup share or the memory cap.

    Only the kept rows are densified: a sparse matrix of a million rows never becomes an 8 GB table.

    Returns:
        The dense features and labels to set PyCaret up with, and why they were sampled (empty when all rows are
        kept).

    Raises:
        BudgetTooSmallError: The import and the setup of even the smallest sample would take more than
            :data:`MAX_SETUP_SHARE` of the budget (the message gives the estimate and the budget that would do).
    """
    rows, columns = features.shape
    smallest = min(rows, MIN_SAMPLE_ROWS)
    least = IMPORT_SECONDS + SETUP_SECONDS_PER_CELL * smallest * columns
    if least > MAX_SETUP_SHARE * options.budget_minutes * 60.0:
        raise BudgetTooSmallError(
            f"budget_minutes={options.budget_minutes:g} is too small for features of {columns} columns: PyCaret's "
            f"import and its setup on the smallest sample ({smallest} rows) take about {least:.1f}s, more than "
            f"{MAX_SETUP_SHARE:.0%} of the budget, leaving no time for a candidate; give at least "
            f"{math.ceil(least / MAX_SETUP_SHARE / 60 * 100) / 100:g} minutes, or fewer dense_features"
        )
    setup_seconds = SETUP_SHARE * options.budget_minutes * 60.0 - IMPORT_SECONDS
    by_time = max(0, math.floor(setup_seconds / (SETUP_SECONDS_PER_CELL * max(columns, 1))))
    by_memory = math.floor(options.memory_limit_mb * 2**20 / (MEMORY_PER_FEATURE_BYTE * 4 * max(columns, 1)))
    keep = max(min(rows, by_time, by_memory), min(rows, MIN_SAMPLE_ROWS))
    labels = [str(label) for label in labels]
    if keep >= rows:
        return densify_rows(features), labels, ""
    limit = "memory" if by_memory <= by_time else "time"
    kept, _, kept_labels, _ = train_test_split(
        np.arange(rows), labels, train_size=keep, stratify=labels, random_state=options.seed
    )
    reason = (
        f"sampled {keep} of {rows} rows (stratified) for {limit}: setup may take {SETUP_SHARE:.0%} of the budget, "
        f"about {by_time} rows of {columns} columns; PyCaret's copies may take {options.memory_limit_mb:.0f} MB, about "
        f"{by_memory} rows"
    )
    return densify_rows(features, kept), kept_labels, reason


def _setup(
    features: pd.DataFrame,
    labels: Sequence[str],
    options: AutomlOptions,
    start: float,
    report: Callable[[str], None],
) -> AutomlSession:
    """Imports PyCaret and sets up its experiment: no preprocessing, no ``logs.log``, no disk cache, one job.

    Raises:
        ValueError: Unknown model ids.
    """
    budget = options.budget_minutes * 60.0
    quiet_pycaret_logs()
    from pycaret.classification import ClassificationExperiment  # heavy import, only when training

    data = features.copy()
    data[LABEL] = [str(label) for label in labels]
    experiment = ClassificationExperiment()
    experiment.setup(
        data=data,
        target=LABEL,
        session_id=options.seed,
        fold=options.folds,
        train_size=options.train_size,
        preprocess=False,
        system_log=False,
        memory=False,
        verbose=False,
        html=False,
        n_jobs=1,
    )
    candidates = _candidates(options.models, experiment.models())
    costs = CostModel(len(experiment.X_train_transformed), features.shape[1], data[LABEL].nunique(), options.folds)
    # The import and setup spend the budget too: the leaderboard's first row says how much.
    seconds = round(time.perf_counter() - start, 3)
    setup_row = LeaderboardRow(
        SETUP_ID, SETUP_NAME, stage=SETUP_ID, fit_seconds=seconds, timeout_seconds=None, status="ok"
    )
    shape = f"{len(data)} rows, {features.shape[1]} features"
    report(f"setup done: {shape}, {len(candidates)} candidates, budget {budget:.0f}s")
    deadline = start + budget - max(MIN_RESERVE_SECONDS, RESERVE_FRACTION * budget)
    holdout = (experiment.X_test_transformed, experiment.y_test_transformed)
    return AutomlSession(options, experiment, candidates, costs, *holdout, start, deadline, setup_row)


def _run_candidates(
    session: AutomlSession, report: Callable[[str], None]
) -> tuple[list[LeaderboardRow], dict[str, Any]]:
    """Runs the candidates cheapest first (by the estimates as refined so far) within the budget.

    Each is killed at the time left less the time to finalise the best so far; one whose estimate (with
    :data:`START_MARGIN`) exceeds that is skipped, with the reason in its row's ``note``.

    Returns:
        One leaderboard row a candidate, in the order tried, and model id → the model of each finished one
        (fitted on PyCaret's training split).

    Raises:
        TimeoutError: No candidate finished.
    """
    options, costs = session.options, session.costs
    pending, rows, fitted = list(session.candidates), [], {}
    while pending:
        candidate = min(pending, key=lambda c: (costs.estimate(c.model_id) is None, costs.estimate(c.model_id) or 0))
        pending.remove(candidate)
        row = LeaderboardRow(model_id=candidate.model_id, model=candidate.name)
        rows.append(row)
        create = partial(session.experiment.create_model, candidate.estimator, fold=options.folds, verbose=False)
        label = f"candidate {len(rows)}/{len(session.candidates)} {candidate.model_id} ({candidate.name})"
        model = _attempt(session, rows, row, create, costs.estimate(candidate.model_id), label, report, START_MARGIN)
        costs.learn(candidate.model_id, row)
        if model is not None:
            fitted[row.model_id] = model
    if not fitted:
        table = "; ".join(f"{r.model_id}: {r.status} after {r.fit_seconds:.0f}s" for r in [session.setup_row, *rows])
        raise TimeoutError(f"train_automl_model: no candidate finished within {options.budget_minutes} min ({table})")
    return rows, fitted


def _attempt(
    session: AutomlSession,
    rows: list[LeaderboardRow],
    row: LeaderboardRow,
    fit: Callable[[], Any],
    estimate: float | None,
    label: str,
    report: Callable[[str], None],
    margin: float = 1.0,
) -> Any:
    """Runs ``fit`` (a candidate or a tuning run) when its estimate × ``margin`` fits in the time available; else
    skips it, with the reason in its row's note.

    Returns:
        The fitted model, or ``None`` when it was skipped or did not finish.
    """
    available = session.available(rows)
    row.estimate_seconds = None if estimate is None else round(estimate, 1)
    if available < MIN_CANDIDATE_SECONDS:
        reason = "no budget left"
    elif estimate is not None and estimate * margin > available:
        with_margin = f" + {margin - 1:.0%}" if margin != 1.0 else ""
        reason = f"estimated {estimate:.0f}s{with_margin} > {available:.0f}s left"
    else:
        expected = "" if estimate is None else f"estimate {estimate:.0f}s, "
        report(f"{label}: started, {expected}timeout {available:.0f}s")
        model = _run_scored(session, row, fit, available)
        scores = f", hold-out acc {row.accuracy:.4f} macro-F1 {row.macro_f1:.4f}" if row.status == "ok" else ""
        report(f"{label}: {row.status}{scores} ({row.fit_seconds:.1f}s)")
        return model
    row.note = f"{row.note}; {reason}" if row.note else reason
    report(f"{label}: skipped, {reason}")
    return None


def _run_scored(session: AutomlSession, row: LeaderboardRow, fit: Callable[[], Any], timeout: float) -> Any:
    """Runs ``fit`` and its scoring in a forked process killed at ``timeout``; records status, time and scores.

    Returns:
        The fitted model, or ``None`` when it did not finish.
    """
    row.status, result, row.fit_seconds = run_with_timeout(session.scored(fit), timeout)
    row.timeout_seconds = round(timeout, 1)
    if row.status != "ok":
        return None
    row.accuracy, row.macro_f1 = result["accuracy"], result["macro_f1"]
    row.cv_accuracy = round(result["cv_accuracy"], 4)
    return result["model"]


def _tune(
    session: AutomlSession, rows: list[LeaderboardRow], fitted: dict[str, Any], report: Callable[[str], None]
) -> None:
    """Tunes :data:`TUNE_TOP` candidates (not ``dummy``), the best first, each with as many iterations as fit.

    Each tuning run (``tune_model``: a random search of ``tune_iterations`` settings, then the best refitted with
    its cross-validation) joins the leaderboard as ``<id>_tuned``, skipped when not even
    :data:`MIN_TUNE_ITERATIONS` fit. When one of the best is skipped, the next best whose tuning fits takes its
    place, so that the time left is used. ``choose_better=False``: the tuned model is scored as it is, and the
    best model is chosen from tuned and untuned rows alike on the hold-out split. Adds the tuned models to
    ``fitted``.
    """
    options = session.options
    if not options.tune_iterations:
        return
    baselines = {model_id for model_id, cost in MODEL_COSTS.items() if cost.kind == "baseline"}  # nothing to tune
    finished = [row for row in rows if row.status == "ok" and row.model_id not in baselines]
    ranked = sorted(finished, key=lambda r: (-getattr(r, options.sort), rows.index(r)))
    tuned = 0
    for number, base in enumerate(ranked, 1):
        if tuned == TUNE_TOP:
            break
        iterations, estimate = _tune_plan(session, rows, base)
        if number > TUNE_TOP and estimate > session.available(rows):
            continue  # beyond the best few, tuned only to use the time that skipped ones left
        row = LeaderboardRow(model_id=base.model_id + TUNED_SUFFIX, model=f"{base.model} (tuned)", stage="tune")
        rows.append(row)
        row.note = f"tune_model: {iterations} iterations, optimize {TUNE_OPTIMIZE[options.sort]}"
        tune = partial(
            session.experiment.tune_model,
            fitted[base.model_id],
            n_iter=iterations,
            fold=options.folds,
            optimize=TUNE_OPTIMIZE[options.sort],
            choose_better=False,
            verbose=False,
        )
        label = f"tune {base.model_id} (candidate ranked {number}, {iterations} iterations)"
        model = _attempt(session, rows, row, tune, estimate, label, report)
        tuned += row.status != "skipped"
        if model is not None:
            fitted[row.model_id] = model


def _tune_plan(session: AutomlSession, rows: Sequence[LeaderboardRow], base: LeaderboardRow) -> tuple[int, float]:
    """How many iterations of tuning ``base`` fit in the time available, and the estimate of that run.

    An iteration is ``folds`` fits on ``(folds − 1) / folds`` of the rows: ``(folds − 1) / folds`` of the
    candidate's time less the overhead of a candidate (:attr:`CostModel.overhead`); then ``tune_model``
    cross-validates the best setting once more (the candidate's time). A best guess, without margin: a run that
    takes longer is killed at its limit, and the best model so far stands. At least :data:`MIN_TUNE_ITERATIONS`
    (the estimate then says whether it fits).
    """
    options = session.options
    fits = max(base.fit_seconds - session.costs.overhead, 0.1)
    iteration = fits * (options.folds - 1) / options.folds
    fitting = int((session.available(rows) - base.fit_seconds) / iteration)
    iterations = max(min(options.tune_iterations, fitting), min(MIN_TUNE_ITERATIONS, options.tune_iterations))
    return iterations, base.fit_seconds + iterations * iteration


def _best_row(rows: Sequence[LeaderboardRow], sort: str, *, required: bool = True) -> LeaderboardRow | None:
    """The finished candidate or tuning run with the best hold-out ``sort`` metric (the first of equals)."""
    finished = [row for row in rows if row.status == "ok" and row.stage in ("candidate", "tune")]
    if not finished:
        if required:
            raise ValueError("no finished candidate")
        return None
    return max(finished, key=lambda r: (getattr(r, sort), -rows.index(r)))


def _create_seconds(row: LeaderboardRow, rows: Sequence[LeaderboardRow]) -> float:
    """The candidate's ``create_model`` time behind a row (a tuned row's untuned candidate)."""
    if row.stage == "tune":
        base_id = row.model_id.removesuffix(TUNED_SUFFIX)
        row = next((r for r in rows if r.stage == "candidate" and r.model_id == base_id), row)
    return row.fit_seconds


def _finalise(
    session: AutomlSession, rows: list[LeaderboardRow], best: Best, report: Callable[[str], None]
) -> Finalised:
    """Refits the best model on all training rows in the time left; keeps it as fitted when that cannot finish.

    Its row (``finalise``) ends the leaderboard.
    """
    experiment, timeout = session.experiment, session.remaining()
    row = LeaderboardRow(
        FINALISE_ID, f"finalize_model({best.row.model_id}) on all training rows", stage=FINALISE_ID, status="skipped"
    )
    row.estimate_seconds = round(session.finalise_estimate(best.row, rows), 1)
    rows.append(row)
    if timeout >= MIN_CANDIDATE_SECONDS:
        row.status, final, row.fit_seconds = run_with_timeout(lambda: experiment.finalize_model(best.model), timeout)
        row.timeout_seconds = round(timeout, 1)
    if row.status != "ok":
        classes = list(experiment.pipeline.steps[-1][1].transformer.classes_) if _encodes_labels(experiment) else None
        final = DecodedClassifier(best.model, classes) if classes is not None else best.model
        row.note = (
            f"{'no budget left' if row.status == 'skipped' else row.status}: kept as fitted on PyCaret's training split"
        )
    report(f"finalise {best.row.model_id} on all rows: {row.status} ({row.fit_seconds:.1f}s)")
    return Finalised(model=final, finalised=row.status == "ok", seconds=row.fit_seconds)


def _trained_model(
    session: AutomlSession,
    rows: list[LeaderboardRow],
    best: Best,
    final: Finalised,
    features: pd.DataFrame,
    dense_vectoriser: Pipeline,
) -> tuple[TrainedModel, pd.DataFrame]:
    """The text → label model (vectoriser, feature frame, final model), its metadata and the leaderboard."""
    fit_seconds = round(time.perf_counter() - session.start, 3)
    options = session.options
    model = Pipeline(
        [
            ("features", dense_vectoriser),
            ("frame", FunctionTransformer(to_feature_frame).fit(features.to_numpy()[:1])),
            ("automl", final.model),
        ]
    )
    records = [row.to_dict() for row in [session.setup_row, *rows]]
    leaderboard = pd.DataFrame(records)
    leaderboard.attrs["budget_used_seconds"] = fit_seconds
    params = {
        "rows": len(features),
        "rows_note": session.setup_row.note,
        "best_model_id": best.row.model_id,
        "best_model": best.row.model,
        "models": [m if isinstance(m, str) else type(m).__name__ for m in options.models],
        "candidate_ids": [row.model_id for row in rows if row.stage == "candidate"],
        "budget_minutes": options.budget_minutes,
        "sort": options.sort,
        "tune_iterations": options.tune_iterations,
        "finalised": final.finalised,
        "finalise_seconds": final.seconds,
        **budget_verdict(records, options.budget_minutes * 60.0, fit_seconds),
    }
    scores = {"holdout_accuracy": best.row.accuracy, "holdout_macro_f1": best.row.macro_f1}
    if best.row.cv_accuracy is not None:
        scores["cv_accuracy"] = best.row.cv_accuracy
    return TrainedModel(model=model, fit_seconds=fit_seconds, params=params, scores=scores), leaderboard


def _finalise_estimate(create_seconds: float, options: AutomlOptions, overhead: float) -> float:
    """Seconds to keep back for refitting a candidate on all rows, from its ``create_model`` time.

    A candidate is its overhead (process, PyCaret's bookkeeping: finalising has it too) plus ``folds`` CV fits
    and one fit: the overhead, plus one fit scaled to all rows with 50 % margin, plus 1 s.
    """
    fit = max(create_seconds - overhead, 0.0) / (options.folds + 1) / options.train_size
    return 1.0 + min(overhead, create_seconds) + 1.5 * fit


def _encodes_labels(experiment: Any) -> bool:
    """Whether PyCaret's pipeline ends with its label encoder (it does for string targets)."""
    steps = getattr(experiment.pipeline, "steps", [])
    return bool(steps) and hasattr(getattr(steps[-1][1], "transformer", None), "classes_")


def budget_verdict(records: Sequence[Mapping[str, Any]], budget_seconds: float, used_seconds: float) -> dict[str, Any]:
    """What AutoML was given and used, from its leaderboard: did it run out of time or out of candidates?

    Args:
        records: Leaderboard rows (:meth:`LeaderboardRow.to_dict`, or the ``automl_leaderboard`` JSON).
        budget_seconds: The budget.
        used_seconds: Wall seconds of the whole call.

    Returns:
        ``candidates`` (how many in the list), ``candidates_{finished,killed,skipped,failed}``, the same four for
        ``tuning_`` runs, ``budget_seconds``, ``budget_used_seconds``, ``budget_used_percent``, ``ended`` (``out
        of time`` when a candidate or tuning run was skipped or killed for lack of budget, else ``out of
        candidates``) and ``verdict``, one sentence saying all that.
    """
    counts: dict[str, Any] = {}
    for stage, prefix in (("candidate", "candidates"), ("tune", "tuning")):
        statuses = [str(r.get("status")) for r in records if r.get("stage", "candidate") == stage]
        if stage == "candidate":
            counts["candidates"] = len(statuses)
        else:
            counts["tuning_runs"] = len(statuses)
        counts[f"{prefix}_finished"] = statuses.count("ok")
        counts[f"{prefix}_killed"] = statuses.count(TIMEOUT)
        counts[f"{prefix}_skipped"] = statuses.count("skipped")
        counts[f"{prefix}_failed"] = sum(s.startswith("error") for s in statuses)
    short = (
        counts["candidates_killed"] + counts["candidates_skipped"] + counts["tuning_killed"] + counts["tuning_skipped"]
    )
    percent = round(100.0 * used_seconds / budget_seconds, 1)
    ended = "out of time" if short else "out of candidates"
    tried = counts["candidates"] - counts["candidates_skipped"]
    sentence = (
        f"AutoML tried {tried} of {counts['candidates']} candidates ({counts['candidates_finished']} finished, "
        f"{counts['candidates_killed']} killed at their time limit, {counts['candidates_failed']} failed; "
        f"{counts['candidates_skipped']} skipped for lack of budget) and finished {counts['tuning_finished']} of "
        f"{counts['tuning_runs']} tuning runs; it used {used_seconds:.0f} s of its {budget_seconds:.0f} s budget "
        f"({percent:.0f} %) and ran {ended}."
    )
    return {
        **counts,
        "budget_seconds": round(budget_seconds, 1),
        "budget_used_seconds": round(used_seconds, 1),
        "budget_used_percent": percent,
        "ended": ended,
        "verdict": sentence,
    }


def render_leaderboard(leaderboard: pd.DataFrame, budget_minutes: float) -> str:
    """The leaderboard as Markdown for the pipeline UI, after the budget verdict (:func:`budget_verdict`); a
    missing value (the ``setup`` row's scores, a skipped candidate's) shows as ``–``."""
    records = leaderboard.to_dict(orient="records")
    used = leaderboard.attrs.get("budget_used_seconds", float(leaderboard["fit_seconds"].sum()))
    verdict = budget_verdict(records, budget_minutes * 60.0, used)["verdict"]
    header = (
        f"# AutoML leaderboard (PyCaret, hard budget {budget_minutes:g} min)\n\n"
        f"**{verdict}**\n\n"
        "Rows in the order run: candidates cheapest first by their estimate, then tuning of the best ones. "
        "accuracy and macro-F1 on PyCaret's hold-out split of the training rows (scikit-learn); "
        "cv_accuracy is PyCaret's cross-validated mean; status timeout = killed at its time limit, skipped = its "
        "estimate exceeded the time left (note). "
        "Both are a little optimistic: vectorise chose the chi² columns on all training rows, hold-out included; "
        "they rank the candidates, and evaluate scores the chosen model on the untouched test rows. "
        f"Rows `{SETUP_ID}` (PyCaret's import and setup) and `{FINALISE_ID}` (refitting the best on all rows) spend "
        "the budget but are not candidates.\n\n"
    )
    table = leaderboard.astype(object).where(leaderboard.notna(), None)  # NaN -> None, which tabulate shows as –
    return header + table.to_markdown(index=False, floatfmt=".4f", missingval="–") + "\n"
