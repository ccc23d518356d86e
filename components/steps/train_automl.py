"""Train with AutoML: PyCaret candidates on the dense features under a *hard* time budget.

PyCaret's own ``compare_models(budget_time=...)`` only stops *starting* models: a running one (Gradient Boosting
on 16,000 rows, minutes a fold) overruns the budget without limit. Here every candidate runs PyCaret's
``create_model`` in its own forked process with a timeout computed from the remaining budget, and is killed
(with its process group) when it runs over; it then appears on the leaderboard with status ``timeout``.
Candidates that no time was left for appear with status ``skipped``. Finalising the best model on all rows (and
the optional ``tune_model``) run the same way; if finalising cannot finish in time, the model fitted on
PyCaret's training split is kept and the metadata says so (``finalised: false``). PyCaret's import and ``setup``
spend the budget too but fit no model: they are the leaderboard's first row (``setup``), with a time and no
scores.

Scores: PyCaret's leaderboard ``F1`` is the *weighted* F1 (and a macro metric added with ``add_metric``
returns 0 with ``preprocess=False``), so accuracy and macro-F1 are computed here with scikit-learn on PyCaret's
own hold-out split of the training rows (``train_size``); PyCaret's cross-validated accuracy is kept as
``cv_accuracy``. The best candidate is the one with the best hold-out ``sort`` metric (default macro-F1).

PyCaret's ``setup`` writes ``logs.log`` into the working directory unless ``system_log=False`` and caches
fitted transformers on disk unless ``memory=False``; both are off here. Importing PyCaret also opens ``logs.log``:
see :func:`quiet_pycaret_logs`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from components.runtime.processes import run_with_timeout
from components.shared.errors import ParameterError
from components.shared.features import to_feature_frame
from components.shared.models import TrainedModel, score
from components.shared.options import check_choice, check_number

LABEL = "label"
SORT_METRICS = ("macro_f1", "accuracy")
#: Kept back from the budget for saving the model and writing the artifacts after training.
MIN_RESERVE_SECONDS = 2.0
RESERVE_FRACTION = 0.02
#: A candidate is not started with less than this many seconds left.
MIN_CANDIDATE_SECONDS = 1.0
#: The leaderboard's first row: PyCaret's import and ``setup``, which count against the budget.
SETUP_ID = "setup"
SETUP_NAME = "PyCaret import + setup"


@dataclass
class LeaderboardRow:
    """One row of the AutoML leaderboard: a candidate, or PyCaret's import and setup (the first row).

    Attributes:
        model_id: PyCaret model id (``lr``, ``rf`` …; ``<id>_tuned`` for a tuned model); ``setup`` for the import
            and setup, which spend the budget too but fit no model (no scores, no timeout).
        model: The estimator's name (PyCaret's display name when known).
        accuracy: Accuracy on PyCaret's hold-out split of the training rows (scikit-learn).
        macro_f1: Macro-F1 on the same rows (scikit-learn).
        cv_accuracy: PyCaret's mean cross-validated accuracy.
        fit_seconds: Wall time of the candidate (cross-validation, fit and hold-out scoring), or of the setup.
        timeout_seconds: The time it was allowed (``None`` for the setup, which is not killed).
        status: ``ok``, ``timeout`` (killed at its timeout), ``skipped`` (no budget left) or ``error: …``.
    """

    model_id: str
    model: str
    accuracy: float | None = None
    macro_f1: float | None = None
    cv_accuracy: float | None = None
    fit_seconds: float = 0.0
    timeout_seconds: float | None = 0.0
    status: str = "skipped"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        models: PyCaret model ids, tried in this order (e.g. ``lr``, ``ridge``, ``nb``, ``svm``, ``rf``), or
            scikit-learn estimator objects (named by their class on the leaderboard).
        budget_minutes: Hard budget of the whole call (setup, candidates, tuning, finalising).
        folds: Cross-validation folds of each candidate.
        seed: PyCaret ``session_id``.
        sort: ``macro_f1`` or ``accuracy`` on PyCaret's hold-out split: how the best candidate is chosen.
        tune_iterations: ``tune_model`` iterations on the best candidate, within the remaining budget; 0 = off.
        train_size: PyCaret's training fraction (the rest is its hold-out split for scoring).
    """

    models: Sequence[str | Any] = ("ridge", "nb", "svm", "lr")
    budget_minutes: float = 5.0
    folds: int = 3
    seed: int = 42
    sort: str = "macro_f1"
    tune_iterations: int = 0
    train_size: float = 0.7

    def __post_init__(self) -> None:
        if not self.models:
            raise ParameterError("models: give at least one PyCaret model id (e.g. lr,ridge,nb)")
        check_number("budget_minutes", self.budget_minutes, low=0, low_open=True)
        check_number("folds", self.folds, low=2, integer=True)
        check_number("tune_iterations", self.tune_iterations, low=0, integer=True)
        check_number("seed", self.seed, low=0, integer=True)
        check_number("train_size", self.train_size, low=0, high=1, low_open=True, high_open=True)
        check_choice("sort", self.sort, SORT_METRICS)


def train_automl_model(
    features: pd.DataFrame,
    labels: Sequence[str],
    dense_vectoriser: Pipeline,
    *,
    options: AutomlOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[TrainedModel, pd.DataFrame]:
    """Runs PyCaret candidates under a hard time budget and finalises the best on all training rows.

    The phases: :func:`_setup` (PyCaret's experiment), :func:`_run_candidates`, :func:`_tune` (optional) and
    :func:`_finalise`, each within what the budget has left.

    Args:
        features: Dense training features (``f…`` columns), from ``dense_vectoriser``.
        labels: Training labels.
        dense_vectoriser: Fitted text → dense features pipeline, joined to the model so it predicts texts.
        options: Candidates, budget, folds, seed, ranking and tuning (:class:`AutomlOptions`); defaults if ``None``.
        progress: Called with one line per candidate (e.g. :class:`components.runtime.progress.Progress`).

    Returns:
        The text → label model and the leaderboard: a first row for PyCaret's import and setup, then one row a
        candidate (see :class:`LeaderboardRow`).

    Raises:
        ValueError: Bad arguments or unknown model ids.
        TimeoutError: No candidate finished within the budget (the leaderboard is in the message).
    """
    options = options or AutomlOptions()
    start = time.perf_counter()
    if len(features) != len(labels):
        raise ValueError(f"features have {len(features)} rows but labels have {len(labels)}")
    report = progress or (lambda message: None)
    session = _setup(features, labels, options, start, report)
    rows, best = _run_candidates(session, report)
    best = _tune(session, rows, best, report)
    final = _finalise(session, best, report)
    return _trained_model(session, rows, best, final, features, dense_vectoriser)


@dataclass(frozen=True)
class AutomlSession:
    """PyCaret's experiment, set up on the training rows, and the budget it runs in.

    Attributes:
        options: The run's options.
        experiment: The set-up ``ClassificationExperiment``.
        catalogue: Its model catalogue (``experiment.models()``), indexed by model id.
        holdout_x: PyCaret's hold-out split of the training rows (features), on which candidates are scored.
        holdout_y: Its labels, as PyCaret encoded them.
        start: ``time.perf_counter()`` when the call began: the budget counts from here.
        deadline: ``time.perf_counter()`` by which training must end (the budget less the reserve for saving).
        setup_row: The leaderboard row of PyCaret's import and setup.
    """

    options: AutomlOptions
    experiment: Any
    catalogue: pd.DataFrame
    holdout_x: Any
    holdout_y: Any
    start: float
    deadline: float
    setup_row: LeaderboardRow

    def remaining(self) -> float:
        """Seconds left until :attr:`deadline`."""
        return self.deadline - time.perf_counter()

    def finalise_estimate(self, rows: Sequence[LeaderboardRow]) -> float:
        """Seconds to keep back for finalising the best candidate (:func:`_finalise_estimate`)."""
        return _finalise_estimate(rows, self.options.folds, self.options.train_size)

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
    catalogue = experiment.models()
    unknown = [m for m in options.models if isinstance(m, str) and m not in catalogue.index]
    if unknown:
        raise ValueError(f"models: unknown PyCaret model ids {unknown}; known ids are {sorted(catalogue.index)}")
    # The import and setup spend the budget too: the leaderboard's first row says how much.
    seconds = round(time.perf_counter() - start, 3)
    setup_row = LeaderboardRow(SETUP_ID, SETUP_NAME, fit_seconds=seconds, timeout_seconds=None, status="ok")
    report(f"setup done: {len(data)} rows, {features.shape[1]} features, budget {budget:.0f}s")
    deadline = start + budget - max(MIN_RESERVE_SECONDS, RESERVE_FRACTION * budget)
    holdout_x, holdout_y = experiment.X_test_transformed, experiment.y_test_transformed
    return AutomlSession(options, experiment, catalogue, holdout_x, holdout_y, start, deadline, setup_row)


def _run_candidates(session: AutomlSession, report: Callable[[str], None]) -> tuple[list[LeaderboardRow], Best]:
    """Runs each candidate in order, each killed at the time left less the time to finalise the best so far.

    Returns:
        One leaderboard row a candidate, and the best finished one (by ``sort``; the first of equals).

    Raises:
        TimeoutError: No candidate finished.
    """
    options = session.options
    rows: list[LeaderboardRow] = []
    fitted: dict[int, Any] = {}  # candidate number -> its model, fitted on PyCaret's training split
    for number, estimator in enumerate(options.models, 1):
        if isinstance(estimator, str):
            model_id, name = estimator, str(session.catalogue.loc[estimator, "Name"])
        else:  # a scikit-learn estimator object, which PyCaret's create_model also takes
            model_id = name = type(estimator).__name__
        row = LeaderboardRow(model_id=model_id, model=name)
        rows.append(row)
        # Keep back the estimated time to finalise the best model so far: a slow candidate must not starve it.
        timeout = session.remaining() - session.finalise_estimate(rows)
        if timeout < MIN_CANDIDATE_SECONDS:
            report(f"candidate {number}/{len(options.models)} {model_id}: skipped, no budget left")
            continue
        report(f"candidate {number}/{len(options.models)} {model_id} ({row.model}): started, timeout {timeout:.0f}s")
        create = partial(session.experiment.create_model, estimator, fold=options.folds, verbose=False)
        fitted[number] = _run_scored(session, row, create, timeout)
        report(
            f"candidate {number}/{len(options.models)} {model_id}: {row.status}"
            + (f", hold-out acc {row.accuracy:.4f} macro-F1 {row.macro_f1:.4f}" if row.status == "ok" else "")
            + f" ({row.fit_seconds:.1f}s)"
        )
    finished = [row for row in rows if row.status == "ok"]
    if not finished:
        table = "; ".join(f"{r.model_id}: {r.status} after {r.fit_seconds:.0f}s" for r in [session.setup_row, *rows])
        raise TimeoutError(f"train_automl_model: no candidate finished within {options.budget_minutes} min ({table})")
    best_row = max(finished, key=lambda r: (getattr(r, options.sort), -rows.index(r)))
    return rows, Best(best_row, fitted[rows.index(best_row) + 1])


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


def _tune(session: AutomlSession, rows: list[LeaderboardRow], best: Best, report: Callable[[str], None]) -> Best:
    """Tunes the best candidate (``tune_iterations``) when the budget allows; its row joins the leaderboard.

    Returns:
        The tuned model when it beats the best candidate by ``sort``, else ``best``.
    """
    options = session.options
    # Tuning, like a candidate, keeps back the time to finalise: a tuned model fit on 70 % of the rows is no gain.
    timeout = session.remaining() - session.finalise_estimate(rows)
    if not options.tune_iterations or timeout < MIN_CANDIDATE_SECONDS:
        return best
    row = LeaderboardRow(model_id=f"{best.row.model_id}_tuned", model=f"{best.row.model} (tuned)")
    rows.append(row)
    report(f"tune_model {best.row.model_id}: {options.tune_iterations} iterations, timeout {timeout:.0f}s")
    tune = partial(
        session.experiment.tune_model,
        best.model,
        n_iter=options.tune_iterations,
        fold=options.folds,
        optimize="Accuracy",
        verbose=False,
    )
    tuned = _run_scored(session, row, tune, timeout)
    if row.status == "ok" and getattr(row, options.sort) > getattr(best.row, options.sort):
        best = Best(row, tuned)
    report(f"tune_model {best.row.model_id}: {row.status} ({row.fit_seconds:.1f}s)")
    return best


def _finalise(session: AutomlSession, best: Best, report: Callable[[str], None]) -> Finalised:
    """Refits the best model on all training rows in the time left; keeps it as fitted when that cannot finish."""
    experiment, timeout = session.experiment, session.remaining()
    status, final, seconds = (
        run_with_timeout(lambda: experiment.finalize_model(best.model), timeout)
        if timeout >= MIN_CANDIDATE_SECONDS
        else ("skipped", None, 0.0)
    )
    if status != "ok":
        classes = list(experiment.pipeline.steps[-1][1].transformer.classes_) if _encodes_labels(experiment) else None
        final = DecodedClassifier(best.model, classes) if classes is not None else best.model
    report(f"finalise {best.row.model_id} on all rows: {status} ({seconds:.1f}s)")
    return Finalised(model=final, finalised=status == "ok", seconds=seconds)


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
    leaderboard = pd.DataFrame([row.to_dict() for row in [session.setup_row, *rows]])
    params = {
        "best_model_id": best.row.model_id,
        "best_model": best.row.model,
        "models": [m if isinstance(m, str) else type(m).__name__ for m in options.models],
        "budget_minutes": options.budget_minutes,
        "sort": options.sort,
        "finalised": final.finalised,
        "finalise_seconds": final.seconds,
    }
    scores = {"holdout_accuracy": best.row.accuracy, "holdout_macro_f1": best.row.macro_f1}
    if best.row.cv_accuracy is not None:
        scores["cv_accuracy"] = best.row.cv_accuracy
    return TrainedModel(model=model, fit_seconds=fit_seconds, params=params, scores=scores), leaderboard


def _finalise_estimate(rows: Sequence[LeaderboardRow], folds: int, train_size: float) -> float:
    """Seconds to keep back for refitting the best candidate on all rows, whichever it turns out to be.

    The slowest finished candidate's one-fit time (a candidate is ``folds`` CV fits plus one fit) scaled to all
    rows, with 50 % margin and 1 s for the process; 0 before any candidate finished. The slowest, not the best so
    far: a later, slower candidate may become the best, and finalising it must still fit in the budget.
    """
    finished = [row.fit_seconds for row in rows if row.status == "ok"]
    if not finished:
        return 0.0
    return 1.0 + 1.5 * max(finished) / (folds + 1) / train_size


def _encodes_labels(experiment: Any) -> bool:
    """Whether PyCaret's pipeline ends with its label encoder (it does for string targets)."""
    steps = getattr(experiment.pipeline, "steps", [])
    return bool(steps) and hasattr(getattr(steps[-1][1], "transformer", None), "classes_")


def render_leaderboard(leaderboard: pd.DataFrame, budget_minutes: float) -> str:
    """The leaderboard as Markdown for the pipeline UI; a missing value (the ``setup`` row's scores, a skipped
    candidate's) shows as ``–``."""
    header = (
        f"# AutoML leaderboard (PyCaret, hard budget {budget_minutes:g} min)\n\n"
        "accuracy and macro-F1 on PyCaret's hold-out split of the training rows (scikit-learn); "
        "cv_accuracy is PyCaret's cross-validated mean; status timeout = killed at its time limit. "
        "Both are a little optimistic: vectorise chose the chi² columns on all training rows, hold-out included; "
        "they rank the candidates, and evaluate scores the chosen model on the untouched test rows. "
        f"Row `{SETUP_ID}` is PyCaret's import and setup: they spend the budget but fit no model.\n\n"
    )
    table = leaderboard.astype(object).where(leaderboard.notna(), None)  # NaN -> None, which tabulate shows as –
    return header + table.to_markdown(index=False, floatfmt=".4f", missingval="–") + "\n"
