"""Train with AutoML: PyCaret candidates on the dense features under a *hard* time budget.

PyCaret's own ``compare_models(budget_time=...)`` only stops *starting* models: a running one (Gradient Boosting
on 16,000 rows, minutes a fold) overruns the budget without limit. Here every candidate runs PyCaret's
``create_model`` in its own forked process with a timeout computed from the remaining budget, and is killed
(with its process group) when it runs over; it then appears on the leaderboard with status ``timeout``.
Candidates that no time was left for appear with status ``skipped``. Finalising the best model on all rows (and
the optional ``tune_model``) run the same way; if finalising cannot finish in time, the model fitted on
PyCaret's training split is kept and the metadata says so (``finalised: false``).

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


@dataclass
class LeaderboardRow:
    """One AutoML candidate.

    Attributes:
        model_id: PyCaret model id (``lr``, ``rf`` …; ``<id>_tuned`` for a tuned model).
        model: The estimator's name (PyCaret's display name when known).
        accuracy: Accuracy on PyCaret's hold-out split of the training rows (scikit-learn).
        macro_f1: Macro-F1 on the same rows (scikit-learn).
        cv_accuracy: PyCaret's mean cross-validated accuracy.
        fit_seconds: Wall time of the candidate (cross-validation, fit and hold-out scoring).
        timeout_seconds: The time it was allowed.
        status: ``ok``, ``timeout`` (killed at its timeout), ``skipped`` (no budget left) or ``error: …``.
    """

    model_id: str
    model: str
    accuracy: float | None = None
    macro_f1: float | None = None
    cv_accuracy: float | None = None
    fit_seconds: float = 0.0
    timeout_seconds: float = 0.0
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

    Args:
        features: Dense training features (``f…`` columns), from ``dense_vectoriser``.
        labels: Training labels.
        dense_vectoriser: Fitted text → dense features pipeline, joined to the model so it predicts texts.
        options: Candidates, budget, folds, seed, ranking and tuning (:class:`AutomlOptions`); defaults if ``None``.
        progress: Called with one line per candidate (e.g. :class:`components.runtime.progress.Progress`).

    Returns:
        The text → label model and the leaderboard (one row a candidate, see :class:`LeaderboardRow`).

    Raises:
        ValueError: Bad arguments or unknown model ids.
        TimeoutError: No candidate finished within the budget (the leaderboard is in the message).
    """
    options = options or AutomlOptions()
    models, budget_minutes, folds, seed = options.models, options.budget_minutes, options.folds, options.seed
    sort, tune_iterations, train_size = options.sort, options.tune_iterations, options.train_size
    start = time.perf_counter()
    if len(features) != len(labels):
        raise ValueError(f"features have {len(features)} rows but labels have {len(labels)}")
    report = progress or (lambda message: None)
    budget = budget_minutes * 60.0
    deadline = start + budget - max(MIN_RESERVE_SECONDS, RESERVE_FRACTION * budget)

    def remaining() -> float:
        return deadline - time.perf_counter()

    quiet_pycaret_logs()
    from pycaret.classification import ClassificationExperiment  # heavy import, only when training

    data = features.copy()
    data[LABEL] = [str(label) for label in labels]
    experiment = ClassificationExperiment()
    experiment.setup(
        data=data,
        target=LABEL,
        session_id=seed,
        fold=folds,
        train_size=train_size,
        preprocess=False,
        system_log=False,
        memory=False,
        verbose=False,
        html=False,
        n_jobs=1,
    )
    catalogue = experiment.models()
    unknown = [m for m in models if isinstance(m, str) and m not in catalogue.index]
    if unknown:
        raise ValueError(f"models: unknown PyCaret model ids {unknown}; known ids are {sorted(catalogue.index)}")
    holdout_x, holdout_y = experiment.X_test_transformed, experiment.y_test_transformed
    report(f"setup done: {len(data)} rows, {features.shape[1]} features, budget {budget:.0f}s")

    def scored(fit: Callable[[], Any]) -> Callable[[], dict[str, Any]]:
        """A unit of work for run_with_timeout: fit (create or tune a model), then its CV and hold-out scores."""

        def work() -> dict[str, Any]:
            model = fit()
            cv = experiment.pull()
            return {
                "model": model,
                "cv_accuracy": float(cv.loc["Mean", "Accuracy"]),
                **score(holdout_y, model.predict(holdout_x)),
            }

        return work

    rows: list[LeaderboardRow] = []
    fitted: dict[str, Any] = {}
    for number, estimator in enumerate(models, 1):
        if isinstance(estimator, str):
            model_id, name = estimator, str(catalogue.loc[estimator, "Name"])
        else:  # a scikit-learn estimator object, which PyCaret's create_model also takes
            model_id = name = type(estimator).__name__
        row = LeaderboardRow(model_id=model_id, model=name)
        rows.append(row)
        # Keep back the estimated time to finalise the best model so far: a slow candidate must not starve it.
        timeout = remaining() - _finalise_estimate(rows, folds, train_size)
        if timeout < MIN_CANDIDATE_SECONDS:
            report(f"candidate {number}/{len(models)} {model_id}: skipped, no budget left")
            continue
        report(f"candidate {number}/{len(models)} {model_id} ({row.model}): started, timeout {timeout:.0f}s")
        row.status, result, row.fit_seconds = run_with_timeout(
            scored(lambda estimator=estimator: experiment.create_model(estimator, fold=folds, verbose=False)), timeout
        )
        row.timeout_seconds = round(timeout, 1)
        if row.status == "ok":
            fitted[number] = result["model"]
            row.accuracy, row.macro_f1 = result["accuracy"], result["macro_f1"]
            row.cv_accuracy = round(result["cv_accuracy"], 4)
        report(
            f"candidate {number}/{len(models)} {model_id}: {row.status}"
            + (f", hold-out acc {row.accuracy:.4f} macro-F1 {row.macro_f1:.4f}" if row.status == "ok" else "")
            + f" ({row.fit_seconds:.1f}s)"
        )
    finished = [row for row in rows if row.status == "ok"]
    if not finished:
        table = "; ".join(f"{r.model_id}: {r.status} after {r.fit_seconds:.0f}s" for r in rows)
        raise TimeoutError(f"train_automl_model: no candidate finished within {budget_minutes} min ({table})")
    best_row = max(finished, key=lambda r: (getattr(r, sort), -rows.index(r)))
    best = fitted[rows.index(best_row) + 1]

    # Tuning, like a candidate, keeps back the time to finalise: a tuned model fit on 70 % of the rows is no gain.
    timeout = remaining() - _finalise_estimate(rows, folds, train_size)
    if tune_iterations and timeout >= MIN_CANDIDATE_SECONDS:
        tuned_row = LeaderboardRow(model_id=f"{best_row.model_id}_tuned", model=f"{best_row.model} (tuned)")
        rows.append(tuned_row)
        report(f"tune_model {best_row.model_id}: {tune_iterations} iterations, timeout {timeout:.0f}s")
        tune = scored(
            lambda: experiment.tune_model(best, n_iter=tune_iterations, fold=folds, optimize="Accuracy", verbose=False)
        )
        tuned_row.status, result, tuned_row.fit_seconds = run_with_timeout(tune, timeout)
        tuned_row.timeout_seconds = round(timeout, 1)
        if tuned_row.status == "ok":
            tuned_row.accuracy, tuned_row.macro_f1 = result["accuracy"], result["macro_f1"]
            tuned_row.cv_accuracy = round(result["cv_accuracy"], 4)
            if getattr(tuned_row, sort) > getattr(best_row, sort):
                best_row, best = tuned_row, result["model"]
        report(f"tune_model {best_row.model_id}: {tuned_row.status} ({tuned_row.fit_seconds:.1f}s)")

    timeout = remaining()
    status, final, finalise_seconds = (
        run_with_timeout(lambda: experiment.finalize_model(best), timeout)
        if timeout >= MIN_CANDIDATE_SECONDS
        else ("skipped", None, 0.0)
    )
    finalised = status == "ok"
    if not finalised:
        classes = list(experiment.pipeline.steps[-1][1].transformer.classes_) if _encodes_labels(experiment) else None
        final = DecodedClassifier(best, classes) if classes is not None else best
    report(f"finalise {best_row.model_id} on all rows: {status} ({finalise_seconds:.1f}s)")
    fit_seconds = round(time.perf_counter() - start, 3)

    model = Pipeline(
        [
            ("features", dense_vectoriser),
            ("frame", FunctionTransformer(to_feature_frame).fit(features.to_numpy()[:1])),
            ("automl", final),
        ]
    )
    leaderboard = pd.DataFrame([row.to_dict() for row in rows])
    params = {
        "best_model_id": best_row.model_id,
        "best_model": best_row.model,
        "models": [m if isinstance(m, str) else type(m).__name__ for m in models],
        "budget_minutes": budget_minutes,
        "sort": sort,
        "finalised": finalised,
        "finalise_seconds": finalise_seconds,
    }
    scores = {"holdout_accuracy": best_row.accuracy, "holdout_macro_f1": best_row.macro_f1}
    if best_row.cv_accuracy is not None:
        scores["cv_accuracy"] = best_row.cv_accuracy
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
    """The leaderboard as Markdown for the pipeline UI."""
    header = (
        f"# AutoML leaderboard (PyCaret, hard budget {budget_minutes:g} min)\n\n"
        "accuracy and macro-F1 on PyCaret's hold-out split of the training rows (scikit-learn); "
        "cv_accuracy is PyCaret's cross-validated mean; status timeout = killed at its time limit. "
        "Both are a little optimistic: vectorise chose the chi² columns on all training rows, hold-out included; "
        "they rank the candidates, and evaluate scores the chosen model on the untouched test rows.\n\n"
    )
    return header + leaderboard.to_markdown(index=False, floatfmt=".4f") + "\n"
