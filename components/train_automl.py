"""Train with AutoML: PyCaret compares candidate models on the dense features within a time budget.

PyCaret's ``setup`` writes ``logs.log`` into the working directory unless ``system_log=False`` and caches
fitted transformers on disk unless ``memory=False``; both are off here. Its leaderboard ``F1`` is the
*weighted* F1, so macro-F1 is computed here on PyCaret's hold-out split with scikit-learn.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pandas as pd
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from components.train_scratch import TrainedModel
from components.vectorise import to_feature_frame

LABEL = "label"


def train_automl_model(
    features: pd.DataFrame,
    labels: Sequence[str],
    dense_vectoriser: Pipeline,
    models: Sequence[str] = ("lr", "ridge", "nb"),
    budget_minutes: float = 5.0,
    folds: int = 3,
    seed: int = 42,
) -> tuple[TrainedModel, pd.DataFrame]:
    """Runs PyCaret ``compare_models`` and finalises the best model on all training rows.

    Args:
        features: Dense training features (``f…`` columns), from ``dense_vectoriser``.
        labels: Training labels.
        dense_vectoriser: Fitted text → dense features pipeline, joined to the model so it predicts texts.
        models: PyCaret model ids to compare (e.g. ``lr``, ``ridge``, ``nb``, ``svm``, ``rf``).
        budget_minutes: Time budget of ``compare_models``.
        folds: Cross-validation folds.
        seed: PyCaret ``session_id``.

    Returns:
        The text → label model and the leaderboard (one row a candidate).
    """
    from pycaret.classification import ClassificationExperiment  # heavy import, only when training

    if not models:
        raise ValueError("models: give at least one PyCaret model id (e.g. lr,ridge,nb)")
    if budget_minutes <= 0:
        raise ValueError(f"budget_minutes must be > 0, got {budget_minutes}")
    if len(features) != len(labels):
        raise ValueError(f"features have {len(features)} rows but labels have {len(labels)}")
    data = features.copy()
    data[LABEL] = list(labels)

    start = time.perf_counter()
    experiment = ClassificationExperiment()
    experiment.setup(
        data=data,
        target=LABEL,
        session_id=seed,
        fold=folds,
        preprocess=False,
        system_log=False,
        memory=False,
        verbose=False,
        html=False,
        n_jobs=1,
    )
    known = set(experiment.models().index)
    unknown = [m for m in models if m not in known]
    if unknown:
        raise ValueError(f"models: unknown PyCaret model ids {unknown}; known ids are {sorted(known)}")
    best = experiment.compare_models(
        include=list(models), budget_time=budget_minutes, n_select=1, sort="Accuracy", verbose=False
    )
    leaderboard = experiment.pull().reset_index(names="model_id")

    # PyCaret's leaderboard F1 is weighted: score the winner's macro-F1 on PyCaret's own hold-out split.
    # (predict_model fails with preprocess=False; both sides are in the same encoded label space.)
    truth = experiment.y_test_transformed
    predicted = best.predict(experiment.X_test_transformed)
    scores = {
        "holdout_accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "holdout_macro_f1": round(float(f1_score(truth, predicted, average="macro")), 4),
    }
    final = experiment.finalize_model(best)
    fit_seconds = time.perf_counter() - start

    model = Pipeline(
        [
            ("features", dense_vectoriser),
            ("frame", FunctionTransformer(to_feature_frame).fit(features.to_numpy()[:1])),
            ("automl", final),
        ]
    )
    params = {"best_model": type(best).__name__, "models": list(models), "budget_minutes": budget_minutes}
    return TrainedModel(model=model, fit_seconds=round(fit_seconds, 4), params=params, scores=scores), leaderboard
