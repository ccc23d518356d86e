"""The AutoML arm's KFP wrappers and wiring: vectorise, then train_automl (see :mod:`components.kfp_components` for
the wrappers' rules: imports inside the body, defaults repeated as literals and checked by
tests/components/test_defaults.py)."""

from collections.abc import Mapping
from typing import Any

from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Model, Output


def vectorise(
    train: Input[Dataset],
    dense_vectoriser: Output[Model],
    train_features: Output[Dataset],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    max_ngram: int = 2,
    min_df: int = 1,
    dense_features: int = 2000,
):
    """Fits TF-IDF on the training texts only; selects the chi² top features that AutoML densifies.

    train_scratch searches its own text features on the texts, so only AutoML consumes these outputs.

    Args:
        train: Cleaned training rows.
        max_ngram: Largest word n-gram.
        min_df: Minimum document frequency of a term.
        dense_features: Number of chi² columns given to AutoML.

    Returns:
        dense_vectoriser: Fitted text to dense float32 features pipeline: TF-IDF, chi² selection (joblib).
        train_features: chi² features of the training texts, sparse float32 (SciPy .npz; train_automl densifies
            the rows it uses).
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
    """
    import pandas as pd

    from components.arms.automl.vectorise import VectoriseOptions, fit_vectorisers
    from components.io import atomic
    from components.runtime.profiler import profiled_step

    with profiled_step("vectorise", step_profile.path, metrics=step_metrics):
        options = VectoriseOptions(max_ngram=max_ngram, min_df=min_df, dense_features=dense_features)
        rows = pd.read_parquet(train.path)
        fitted = fit_vectorisers(rows["text"], rows["label"], options=options)
        atomic.dump_joblib(dense_vectoriser.path, fitted.dense_vectoriser)
        atomic.write_sparse(train_features.path, fitted.train_features)
    dense_vectoriser.metadata.update(
        vocabulary=fitted.vocabulary_size, max_ngram=max_ngram, min_df=min_df, dense_features=dense_features
    )
    rows_count, columns = fitted.train_features.shape
    train_features.metadata.update(rows=rows_count, columns=columns, nonzeros=fitted.train_features.nnz)


def train_automl(
    train: Input[Dataset],
    train_features: Input[Dataset],
    dense_vectoriser: Input[Model],
    model: Output[Model],
    leaderboard: Output[Markdown],
    automl_leaderboard: Output[Artifact],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    models: list = ["default"],  # noqa: B006 - KFP reads the default from the signature
    budget_minutes: float = 5.0,
    folds: int = 3,
    seed: int = 42,
    sort: str = "macro_f1",
    tune_iterations: int = 10,
):
    """Trains the AutoML model: PyCaret candidates on the dense features, each killed at its share of a hard budget.

    Args:
        train: Cleaned training rows (labels).
        train_features: chi² features of the training texts (sparse; only the rows PyCaret uses are densified).
        dense_vectoriser: Fitted text to dense features pipeline.
        models: PyCaret model ids, tried in order.
        budget_minutes: Hard budget of the step's training (candidates, tuning, finalising).
        folds: Cross-validation folds.
        seed: PyCaret session id.
        sort: macro_f1 or accuracy (on PyCaret's hold-out split), to choose the best candidate.
        tune_iterations: tune_model iterations on the best candidate within the budget; 0 = off.

    Returns:
        model: Best model, finalised on all rows, as one text to label pipeline (joblib).
        leaderboard: Every candidate: hold-out accuracy, macro-F1, fit seconds, status (Markdown).
        automl_leaderboard: The same rows as a JSON list of dicts.
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
        winner: scratch, automl or tie (by winner_metric; tie when the 95 % interval of the difference has 0).
        score_difference: Scratch minus AutoML on winner_metric (positive: the from-scratch model scored higher).
    """
    import json
    import os

    import joblib
    import pandas as pd
    from scipy import sparse

    from components.arms.automl.train import AutomlOptions, memory_cap_mb, render_leaderboard, train_automl_model
    from components.checks.options import from_parameters
    from components.io import atomic
    from components.runtime.profiler import profiled_step, step_memory_mb
    from components.runtime.progress import Progress

    with profiled_step("train_automl", step_profile.path, metrics=step_metrics) as profile:
        options = from_parameters(AutomlOptions, locals(), memory_limit_mb=memory_cap_mb(step_memory_mb()))
        labels = pd.read_parquet(train.path, columns=["label"])["label"].tolist()
        features, vectoriser = sparse.load_npz(train_features.path), joblib.load(dense_vectoriser.path)
        trained, table = train_automl_model(
            features, labels, vectoriser, options=options, progress=Progress("train_automl")
        )
        atomic.dump_joblib(model.path, trained.model)
        atomic.write_text(leaderboard.path, render_leaderboard(table, budget_minutes))
        atomic.write_json(automl_leaderboard.path, json.loads(table.to_json(orient="records")))
        profile.extra.update(fit_seconds=trained.fit_seconds, model_mb=round(os.path.getsize(model.path) / 2**20, 3))
    model.metadata.update(framework="pycaret", fit_seconds=trained.fit_seconds, **trained.params, **trained.scores)


def wire(steps: Mapping[str, Any], clean_train: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """Adds the arm's steps to the pipeline being built.

    Args:
        steps: Its components (its step wrappers above, on its image), by step name.
        clean_train: The cleaned training rows (clean's output).
        params: The pipeline's parameters by name (``automl_*`` and ``seed``).

    Returns:
        ``tasks`` (step name → task) and ``handoff``, the inputs of its predict step (``model``,
        ``train_profile``, ``prep_profile``: vectorise's, ``extras``: the leaderboard).
    """
    vectorise_task = steps["vectorise"](train=clean_train, dense_features=params["automl_dense_features"])
    train = steps["train_automl"](
        train=clean_train,
        train_features=vectorise_task.outputs["train_features"],
        dense_vectoriser=vectorise_task.outputs["dense_vectoriser"],
        models=params["automl_models"],
        budget_minutes=params["automl_budget_minutes"],
        folds=params["automl_folds"],
        tune_iterations=params["automl_tune_iterations"],
        seed=params["seed"],
    )
    handoff = {
        "model": train.outputs["model"],
        "train_profile": train.outputs["step_profile"],
        "prep_profile": vectorise_task.outputs["step_profile"],
        "extras": train.outputs["automl_leaderboard"],
    }
    return {"tasks": {"vectorise": vectorise_task, "train_automl": train}, "handoff": handoff}
