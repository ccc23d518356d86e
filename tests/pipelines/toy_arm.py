"""A made-up arm for tests/pipelines/test_arms.py: a declaration, an options dataclass and a component module
with a trivial train wrapper, all outside ``components``, so the test shows an arm plugs in without editing
shared code (registered by monkeypatching ``components.arms.ARMS``).

No ``from __future__ import annotations``: KFP reads the wrapper's annotations as types, not strings."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.arms.spec import Arm


@dataclass(frozen=True)
class ToyOptions:
    """The toy arm's training.

    Attributes:
        budget_seconds: Wall-clock budget of the toy's training.
        label: The one label the toy model predicts; empty: the most frequent training label.
    """

    budget_seconds: float = 3.0
    label: str = ""


def train_toy(
    train: Input[Dataset],
    model: Output[Model],
    step_profile: Output[Artifact],
    step_metrics: Output[Metrics],
    budget_seconds: float = 3.0,
    label: str = "",
):
    """Fits a model that predicts one label.

    Args:
        train: Cleaned training rows (text, label).
        budget_seconds: Wall-clock budget.
        label: The label to predict; empty: the most frequent one.

    Returns:
        model: The fitted model (joblib).
        step_profile: Wall time, CPU time and peak memory of this step (JSON).
        step_metrics: This step's wall and CPU seconds, peak memory (MB), mean CPU % and processes.
    """
    import pandas as pd
    from sklearn.dummy import DummyClassifier

    from components.io import atomic
    from components.runtime.profiler import profiled_step

    with profiled_step("train_toy", step_profile.path, metrics=step_metrics):
        rows = pd.read_parquet(train.path, columns=["text", "label"])
        strategy = {"strategy": "constant", "constant": label} if label else {"strategy": "most_frequent"}
        atomic.dump_joblib(model.path, DummyClassifier(**strategy).fit(rows[["text"]], rows["label"]))


def wire(steps: Mapping[str, Any], clean_train: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    train = steps["train_toy"](
        train=clean_train, budget_seconds=params["toy_budget_seconds"], label=params["toy_label"]
    )
    return {
        "tasks": {"train_toy": train},
        "handoff": {"model": train.outputs["model"], "train_profile": train.outputs["step_profile"]},
    }


TOY = Arm(
    name="toy",
    display_name="toy",
    train_title="Train the toy",
    options={"train_toy": f"{__name__}:ToyOptions"},
    parameters=("budget_seconds", "label"),
    component_module=__name__,
)
