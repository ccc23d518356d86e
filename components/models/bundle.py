"""The arms' results, handed from each arm's predict step to ``evaluate``, ``register`` and ``profile``.

Every arm trains in its own step and image, then predicts the held-out rows in a step of its own (same image):
only that image can load the arm's model (PyCaret for AutoML, torch for the transformer). The predict steps run
one after the other, and each hands on a *bundle*: the previous arm's bundle with its own folder added. KFP cannot
gather artifacts of separate tasks into one list input (only ``dsl.Collected`` of a loop can), so the chain is
how ``evaluate`` and the steps after it take any number of arms with one fixed signature.

A bundle is a folder::

    arms.json                  ["scratch", "automl", …] in pipeline order
    <arm>/result.json          everything but the model and the predictions (:class:`ArmResult`)
    <arm>/model.joblib         the arm's fitted model (a copy of its training step's output)
    <arm>/predictions.npz      held-out labels (indices into ``classes``) and per-class scores

Plain files, so every image (and a test) reads them without the arms' libraries.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from components.io import atomic
from components.models.scoring import ScoredPredictions

ORDER_FILE = "arms.json"
RESULT_FILE = "result.json"
MODEL_FILE = "model.joblib"
PREDICTIONS_FILE = "predictions.npz"


class BundleError(ValueError):
    """A bundle that cannot be read or extended, named with the arm or file."""


@dataclass
class ArmResult:
    """One arm's model and what its steps found.

    Attributes:
        arm: The arm's name (``scratch``, ``automl``, ``transformer`` …).
        display_name: How reports name it ("from scratch").
        image: The image its model is served from (registered with it): its serving image (``Arm.serving_key``).
        requirements: pip requirements its packaged model needs (pinned), beyond the package itself.
        training: What training recorded in the model's metadata (framework, fit seconds, parameters, scores).
        profiles: Step name → that step's profile (its training step, any step of its own such as vectorise, and
            its predict step).
        extras: Arm-specific results for the reports (e.g. ``leaderboard``: AutoML's candidates).
        latency: ``latency_p50_ms``, ``latency_p95_ms``, ``throughput_per_second`` … measured in the predict step.
        model_size_mb: Size of the model file.
        champion: The registry's champion as this arm scored it, when the champion was built by this arm:
            ``model_name``, ``version`` and ``labels`` (its held-out predictions), or ``error``; None otherwise.
        predictions: The arm's held-out predictions (labels and per-class scores).
        model_file: The model file inside the bundle (set when read).
        top_words: Each class's words of largest weight in the model, or why it has none
            (:func:`components.models.explain.top_words_record`); empty when not recorded (older bundles).
    """

    arm: str
    display_name: str
    image: str = ""
    requirements: list[str] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    latency: dict[str, Any] = field(default_factory=dict)
    model_size_mb: float | None = None
    champion: dict[str, Any] | None = None
    predictions: ScoredPredictions | None = None
    model_file: Path | None = None
    top_words: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Everything but the predictions and the model file (they are files of their own)."""
        return {k: v for k, v in asdict(self).items() if k not in ("predictions", "model_file")}


def read_order(bundle: str | Path) -> list[str]:
    """The arms in a bundle, in pipeline order; ``[]`` for an empty or missing bundle."""
    path = Path(bundle) / ORDER_FILE
    return json.loads(path.read_text("utf-8")) if path.is_file() else []


def add_arm(bundle: str | Path, result: ArmResult, model_path: str | Path, previous: str | Path | None) -> Path:
    """Writes ``bundle``: the ``previous`` bundle's arms (copied) and ``result``'s arm.

    Args:
        bundle: The folder to write (the predict step's output artifact).
        result: This arm's result, with its ``predictions``.
        model_path: This arm's fitted model file, copied in.
        previous: The previous arm's bundle; None for the first arm.

    Raises:
        BundleError: The arm is already in ``previous``, or ``result`` has no predictions.
    """
    bundle, order = Path(bundle), read_order(previous) if previous else []
    if result.arm in order:
        raise BundleError(f"arm {result.arm!r} is twice in the pipeline (bundle has {order})")
    if result.predictions is None:
        raise BundleError(f"arm {result.arm!r}: no held-out predictions to add")
    bundle.mkdir(parents=True, exist_ok=True)
    for arm in order:
        shutil.copytree(Path(previous) / arm, bundle / arm, dirs_exist_ok=True)
    folder = bundle / result.arm
    folder.mkdir(exist_ok=True)
    shutil.copyfile(model_path, folder / MODEL_FILE)
    _write_predictions(folder / PREDICTIONS_FILE, result.predictions)
    atomic.write_json(folder / RESULT_FILE, result.to_json())
    atomic.write_json(bundle / ORDER_FILE, [*order, result.arm])  # last: a bundle without it lists no arm
    return bundle


def read_bundle(bundle: str | Path) -> list[ArmResult]:
    """Every arm's result, in pipeline order, with its predictions and model file.

    Raises:
        BundleError: The bundle lists no arm, or an arm's files are missing.
    """
    bundle = Path(bundle)
    order = read_order(bundle)
    if not order:
        raise BundleError(f"{bundle}: no arm in this bundle ({ORDER_FILE} missing or empty)")
    results = []
    for arm in order:
        folder = bundle / arm
        try:
            data = json.loads((folder / RESULT_FILE).read_text("utf-8"))
            predictions = _read_predictions(folder / PREDICTIONS_FILE)
        except (OSError, ValueError, KeyError) as err:
            raise BundleError(f"{folder}: arm {arm!r} cannot be read ({type(err).__name__}: {err})") from err
        results.append(ArmResult(**data, predictions=predictions, model_file=folder / MODEL_FILE))
    return results


def by_arm(results: Sequence[ArmResult]) -> dict[str, ArmResult]:
    """Arm name → result, in pipeline order."""
    return {r.arm: r for r in results}


def _write_predictions(path: Path, predictions: ScoredPredictions) -> None:
    classes = list(predictions.classes)
    index = {c: i for i, c in enumerate(classes)}
    extra = sorted({label for label in predictions.labels if label not in index})
    classes += extra  # a label outside the scored classes (label_only models) still round-trips
    index.update({c: i for i, c in enumerate(classes)})
    with atomic.atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(
            handle,
            labels=np.asarray([index[label] for label in predictions.labels], dtype=np.int32),
            classes=np.asarray(classes, dtype=str),
            scored_classes=np.int32(len(predictions.classes)),
            scores=np.asarray(predictions.scores, dtype=np.float32),
            score_kind=np.asarray(predictions.score_kind),
        )


def _read_predictions(path: Path) -> ScoredPredictions:
    with np.load(path, allow_pickle=False) as data:
        classes = [str(c) for c in data["classes"]]
        return ScoredPredictions(
            labels=[classes[i] for i in data["labels"]],
            classes=classes[: int(data["scored_classes"])],
            scores=data["scores"].astype(np.float64),
            score_kind=str(data["score_kind"]),
        )


def model_sizes(results: Sequence[ArmResult]) -> Mapping[str, float | None]:
    """Arm → model size in MB."""
    return {r.arm: r.model_size_mb for r in results}
