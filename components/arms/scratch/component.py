"""The from-scratch arm's KFP wrapper and wiring (see :mod:`components.kfp_components` for the wrappers' rules:
imports inside the body, defaults repeated as literals and checked by tests/components/test_defaults.py)."""

from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Model, Output


def train_scratch(
    train: Input[Dataset],
    model: Output[Model],
    search_report: Output[Markdown],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    search_space: list = [],  # noqa: B006 - KFP reads the default from the signature
    budget_seconds: float = 45.0,
    max_candidates: int = 8,
    ensemble_size: int = 3,
    validation_size: float = 0.2,
    metric: str = "macro_f1",
    seed: int = 42,
    workers: int = 2,
):
    """Searches text features and linear models on a validation split of the training rows; refits the best.

    Args:
        train: Cleaned training rows (text, label).
        search_space: List of dicts of value lists (see components.arms.scratch.train); empty for the default space.
        budget_seconds: Wall-clock budget of search and refit.
        max_candidates: Most candidates drawn from the space.
        ensemble_size: Most members of the vote (the best candidate of each classifier); 1 = the best one.
        validation_size: Fraction of the training rows held out to score candidates.
        metric: macro_f1 or accuracy, to rank candidates.
        seed: Seed of the split, the candidate order and the models.
        workers: Candidates fitted at once, one process each (the CPUs the step has).

    Returns:
        model: Fitted scikit-learn pipeline, predict(list of texts) (joblib); chosen parameters in its metadata.
        search_report: Every candidate with its validation scores, and the choice (Markdown).
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
    """
    import os

    import pandas as pd

    from components.arms.scratch.train import ScratchOptions, render_search_report, train_scratch_model
    from components.checks.options import from_parameters
    from components.io import atomic
    from components.runtime.profiler import profiled_step
    from components.runtime.progress import Progress

    with profiled_step("train_scratch", step_profile.path, metrics=step_metrics) as profile:
        options = from_parameters(ScratchOptions, locals())
        rows = pd.read_parquet(train.path, columns=["text", "label"])
        trained = train_scratch_model(
            rows["text"].tolist(), rows["label"].tolist(), options=options, progress=Progress("train_scratch")
        )
        atomic.dump_joblib(model.path, trained.model)
        atomic.write_text(search_report.path, render_search_report(trained))
        profile.extra.update(fit_seconds=trained.fit_seconds, model_mb=round(os.path.getsize(model.path) / 2**20, 3))
    model.metadata.update(framework="scikit-learn", fit_seconds=trained.fit_seconds, **trained.params, **trained.scores)
