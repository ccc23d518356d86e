"""The transformer arm's KFP wrapper and wiring (see :mod:`components.kfp_components` for the wrappers' rules:
imports inside the body, defaults repeated as literals and checked by tests/components/test_defaults.py)."""

from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Model, Output


def train_transformer(
    train: Input[Dataset],
    model: Output[Model],
    training_report: Output[Markdown],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    budget_minutes: float = 14.0,
    max_epochs: float = 3.0,
    max_length: int = 64,
    batch_size: int = 32,
    learning_rate: float = 1e-4,
    patience: int = 3,
    seed: int = 42,
):
    """Fine-tunes all-MiniLM-L6-v2 with a classification head within a budget; stops early on a validation split.

    The weights come from a Python package in the image, checked by their sha256; nothing is downloaded. On a
    machine with a GPU (Vertex AI: the accelerator of the env file) it trains there, else on the CPU.

    Args:
        train: Cleaned training rows (text, label).
        budget_minutes: Wall-clock budget of the fine-tuning; epochs and rows are fitted to it.
        max_epochs: Most passes over the training rows.
        max_length: Longest text in tokens; longer texts are cut.
        batch_size: Texts per optimisation step.
        learning_rate: Peak learning rate (linear warm-up, then linear decay over the planned steps).
        patience: Validation evaluations (two an epoch) without improvement before training stops; 0: never early.
        seed: Seed of the validation split, the order of the rows and the classification head.

    Returns:
        model: The fine-tuned classifier, predict(list of texts) (joblib; weights as safetensors inside).
        training_report: The plan, every validation evaluation and why training stopped (Markdown).
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
    """
    import os

    import pandas as pd

    from components.arms.transformer.train import TransformerOptions, render_training_report, train_transformer_model
    from components.checks.options import from_parameters
    from components.io import atomic
    from components.runtime.profiler import profiled_step
    from components.runtime.progress import Progress

    with profiled_step("train_transformer", step_profile.path, metrics=step_metrics) as profile:
        options = from_parameters(TransformerOptions, locals())
        rows = pd.read_parquet(train.path, columns=["text", "label"])
        trained = train_transformer_model(
            rows["text"].tolist(), rows["label"].tolist(), options=options, progress=Progress("train_transformer")
        )
        atomic.dump_joblib(model.path, trained.model)
        atomic.write_text(training_report.path, render_training_report(trained))
        profile.extra.update(fit_seconds=trained.fit_seconds, model_mb=round(os.path.getsize(model.path) / 2**20, 3))
    model.metadata.update(framework="transformers", fit_seconds=trained.fit_seconds, **trained.params, **trained.scores)
