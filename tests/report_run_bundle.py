"""The arms' bundle of the recorded demo run (tests/data/report_run): what its predict steps would have handed on.

The recorded run holds every step's profile, the evaluation and the AutoML leaderboard; the ``profile`` step takes
the arms' own steps' profiles and extras from the bundle (components/models/bundle.py), so the report tests build
one from those files. The held-out predictions are the evaluation's labels in a fixed order (the reports use the
evaluation's scores, never these labels).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from components.models.bundle import ArmResult, add_arm
from components.models.scoring import ScoredPredictions

#: Each recorded arm's own steps (their profile folders are the steps' names with dashes).
ARM_STEPS = {"scratch": ("train_scratch",), "automl": ("vectorise", "train_automl")}
DISPLAY_NAMES = {"scratch": "from scratch", "automl": "AutoML"}


def _profile(run: Path, step: str) -> dict:
    return json.loads((run / step.replace("_", "-") / "step_profile").read_text("utf-8"))


def report_run_bundle(run: Path, target: Path, *, with_leaderboard: bool = True) -> Path:
    """Writes the bundle of the recorded run's arms (scratch, then automl) at ``target``; returns it.

    Args:
        run: A copy of tests/data/report_run.
        target: The bundle folder to write (as the last predict step's ``arms`` output).
        with_leaderboard: Give the AutoML arm its leaderboard (``extras``), as predict_automl does.
    """
    evaluation = json.loads((run / "evaluate" / "evaluation").read_text("utf-8"))
    previous = None
    for arm, steps in ARM_STEPS.items():
        scores = evaluation["models"][arm]
        labels = list(scores["labels"])
        rows = max(int(scores.get("test_rows") or len(labels)), len(labels))
        predicted = [labels[i % len(labels)] for i in range(rows)]
        matrix = np.zeros((rows, len(labels)))
        matrix[np.arange(rows), [labels.index(label) for label in predicted]] = 1.0
        model = target.parent / f"{target.name}-{arm}.joblib"
        model.write_bytes(b"not a model")
        extras = {}
        if arm == "automl" and with_leaderboard:
            extras["leaderboard"] = json.loads((run / "train-automl" / "automl_leaderboard").read_text("utf-8"))
        result = ArmResult(
            arm=arm,
            display_name=DISPLAY_NAMES[arm],
            image=f"emotion-pipeline-{arm}:test",
            profiles={step: _profile(run, step) for step in steps},
            extras=extras,
            training=dict(scores.get("training") or {}),
            model_size_mb=0.001,
            predictions=ScoredPredictions(labels=predicted, classes=labels, scores=matrix, score_kind="label_only"),
        )
        folder = target if arm == list(ARM_STEPS)[-1] else target.parent / f"{target.name}-{arm}"
        add_arm(folder, result, model, previous)
        previous = folder
    return target
