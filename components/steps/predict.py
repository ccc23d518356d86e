"""Predict: one arm's model on the held-out rows, in the arm's own image (the only one that can load it).

Each arm's predict step loads its fitted model, predicts the held-out texts with per-class scores
(:func:`~components.models.scoring.predict_with_scores`), records each class's words of largest weight for the
report (:func:`~components.models.explain.top_words_record`: "not available" for a model that is not linear),
measures the model's size and, after the predictions, its latency
(:func:`~components.models.latency.measure_latency`). When a registry is given it also scores the registry's current
champion on the same texts, when the champion was built by this arm: only this arm's image
has the champion's stack, and ``register`` (in the slim image) compares with these labels. A champion that cannot
be read, loaded or scored is recorded with its error, never fatal.

The result (:class:`~components.models.bundle.ArmResult`) joins the previous arms' bundle
(:func:`~components.models.bundle.add_arm`, in the wrapper), which ``evaluate``, ``register`` and ``profile`` read.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from components.models.bundle import ArmResult, add_arm
from components.models.compiled import compile_model
from components.models.explain import top_words_record
from components.models.latency import LatencySettings, measure_latency
from components.models.metrics import score_predictions
from components.models.scoring import predict_with_scores
from components.registry.naming import model_name_for
from components.runtime.profiler import profiled_step, read_profile

#: The figures :func:`heldout_scores` gives for an arm's Metrics output.
HELDOUT_METRICS = ("accuracy", "macro_f1", "weighted_f1", "latency_p50_ms", "model_size_mb")


@dataclass(frozen=True)
class PredictOptions(LatencySettings):
    """How an arm's predict step times its model (the held-out predictions themselves take no option).

    Attributes:
        latency_calls: One-text calls timed per round; 0 skips the latency measurement.
        latency_rounds: Timed rounds (median and range over rounds are reported).
        batch_size: Texts in the timed batch.
    """


@dataclass(frozen=True)
class ChampionQuery:
    """Where to find the registry's champion, which the predict step scores when its own arm built it.

    Attributes:
        registry_uri: Folder, MLflow tracking URI or ``vertex://PROJECT/REGION``; empty: no registry (no champion).
        registry_artifact_uri: Where the registry's version files are (as given to ``register``).
        model_name: The registered model's name (resolved: see :meth:`for_task`).
    """

    registry_uri: str
    registry_artifact_uri: str = ""
    model_name: str = ""

    @classmethod
    def for_task(
        cls, task: str, registry_uri: str, registry_artifact_uri: str = "", model_name: str = ""
    ) -> ChampionQuery:
        """The query of ``register``'s model: ``model_name``, or ``emotion-<task>`` when empty."""
        return cls(registry_uri, registry_artifact_uri, model_name_for(task, model_name))


def _error(err: BaseException) -> str:
    return f"{type(err).__name__}: {str(err)[:300]}"


def score_champion(arm: str, texts: Sequence[str], query: ChampionQuery) -> dict[str, Any] | None:
    """The registry's champion's labels for ``texts``, when this ``arm`` built it (its version's tag ``model``).

    Returns:
        None without a registry, without a champion, or for a champion of another arm; else ``model_name``,
        ``version``, ``arm`` and ``labels``, or ``error`` (``"Type: message"``) instead of the labels when the
        champion could not be read, loaded or scored.
    """
    from components.registry.store import load_version, open_registry

    if not query.registry_uri or not query.model_name:
        return None
    out: dict[str, Any] = {"model_name": query.model_name}
    try:
        registry = open_registry(query.registry_uri, query.registry_artifact_uri)
        current = registry.champion(query.model_name)
    except Exception as err:  # a broken registry is reported, as a broken champion is
        return {**out, "error": _error(err)}
    if current is None or current.tags.get("model") != arm:
        return None
    out |= {"version": current.version, "arm": arm}
    try:
        with tempfile.TemporaryDirectory(prefix="champion-") as workdir:
            model, _, _ = load_version(registry, current, Path(workdir))
            labels = [str(label) for label in model.predict_texts(list(texts)).labels]
    except Exception as err:  # never crash the run for the old model
        return {**out, "error": _error(err)}
    if len(labels) != len(texts):
        return {**out, "error": f"ValueError: {len(labels)} labels for {len(texts)} texts"}
    return {**out, "labels": labels}


def predict_arm(
    *,
    arm: str,
    display_name: str,
    image: str,
    requirements: list[str],
    model_path: str,
    test_path: str,
    training: dict[str, Any],
    profiles: dict[str, dict[str, Any]],
    extras: dict[str, Any],
    champion: ChampionQuery | None,
    options: PredictOptions,
) -> ArmResult:
    """The predict step's work: the arm's held-out predictions, size, latency, each class's words of largest weight
    (:func:`~components.models.explain.top_words_record`) and, when asked, the champion's labels.

    Args:
        arm: The arm's name (``scratch``, ``automl``, ``transformer`` …).
        display_name: How reports name it.
        image: The image the arm's model is served from (its serving image; recorded in the bundle).
        requirements: pip requirements its packaged model needs, beyond the package itself.
        model_path: The arm's fitted model (joblib, from its training step).
        test_path: Cleaned held-out rows (Parquet with ``text``, ``label``).
        training: What training recorded (the model artifact's metadata).
        profiles: Step name → profile of the arm's steps so far (its training step, vectorise …).
        extras: Arm-specific results for the reports (e.g. ``leaderboard``).
        champion: Where the registry's champion is; None: no champion is scored.
        options: Latency settings.

    Returns:
        The arm's result, with its predictions (the wrapper adds its own profile and writes the bundle).
    """
    import joblib
    import pandas as pd

    texts = pd.read_parquet(test_path, columns=["text"])["text"].astype(str).tolist()
    if not texts:
        raise ValueError(f"{test_path}: no held-out rows to predict")
    model = joblib.load(model_path)
    served = compile_model(model) or model  # what serving predicts with: the same predictions, timed as served
    predictions = predict_with_scores(served, texts)
    latency = measure_latency(served, texts, options)  # after the predictions: the model is warm
    return ArmResult(
        arm=arm,
        display_name=display_name,
        image=image,
        requirements=list(requirements),
        training=dict(training),
        profiles={k: dict(v) for k, v in profiles.items()},
        extras=dict(extras),
        latency=latency,
        model_size_mb=round(os.path.getsize(model_path) / 2**20, 3),
        champion=score_champion(arm, texts, champion) if champion else None,
        predictions=predictions,
        top_words=top_words_record(model),
    )


def heldout_scores(result: ArmResult, labels: Sequence[str]) -> dict[str, Any]:
    """An arm's held-out scores for its KFP Metrics and ClassificationMetrics outputs.

    Args:
        result: The arm's result, with its predictions.
        labels: The held-out rows' true labels, in the predictions' order.

    Returns:
        ``accuracy``, ``macro_f1``, ``weighted_f1``, ``latency_p50_ms`` (when measured), ``model_size_mb`` (the
        Metrics: :data:`HELDOUT_METRICS`), ``labels`` and ``confusion_matrix`` (rows: truth), shaped like an
        evaluation's ``models.<arm>`` entry, so ``components.runtime.outputs.log_scores`` logs it.

    Raises:
        ValueError: The result has no predictions, or not one per label.
    """
    if result.predictions is None:
        raise ValueError(f"arm {result.arm!r}: no held-out predictions to score")
    scores = score_predictions([str(label) for label in labels], result.predictions.labels)
    figures: Mapping[str, Any] = {**scores, **result.latency, "model_size_mb": result.model_size_mb}
    out = {key: figures[key] for key in HELDOUT_METRICS if figures.get(key) is not None}
    return {**out, "labels": scores["labels"], "confusion_matrix": scores["confusion_matrix"]}


def hand_on(
    result: ArmResult,
    *,
    model_path: str,
    test_path: str,
    options: PredictOptions,
    profile: Mapping[str, Any],
    bundle: str,
    previous: str | None,
) -> dict[str, Any]:
    """Completes an arm's result after its profiled block and writes the bundle the next step takes.

    The latency is timed here, after the step's profiler has stopped sampling (its sampler would compete with the
    timed predictions); the step's own profile joins the arm's profiles.

    Args:
        result: :func:`predict_arm`'s result, predicted with ``latency_calls=0``.
        model_path: The arm's model file (loaded again for the timing).
        test_path: Cleaned held-out rows (their texts are timed, their labels scored).
        options: Latency settings.
        profile: The predict step's own profile.
        bundle: The folder to write (the step's output).
        previous: The previous arm's bundle; None for the first arm.

    Returns:
        The arm's held-out scores (:func:`heldout_scores`) for the step's Metrics and ClassificationMetrics.
    """
    import joblib
    import pandas as pd

    rows = pd.read_parquet(test_path, columns=["text", "label"])
    if options.latency_calls:
        model = joblib.load(model_path)
        served = compile_model(model) or model  # timed as it is served (components/registry/packaging.py)
        result.latency = measure_latency(served, rows["text"].astype(str).tolist(), options)
    result.profiles[f"predict_{result.arm}"] = dict(profile)
    add_arm(bundle, result, model_path, previous)
    return heldout_scores(result, rows["label"].tolist())


@dataclass(frozen=True)
class PredictPaths:
    """Where the predict step reads and writes (its KFP artifacts' paths).

    Attributes:
        model: The arm's fitted model (joblib).
        test: Cleaned held-out rows (Parquet).
        step_profile: This step's profile (written).
        bundle: The bundle folder this step writes.
        previous: The previous arm's bundle; None for the first arm.
        extras: Arm-specific results for the reports (JSON; AutoML's leaderboard); None: none.
        profiles: Profiles of the arm's steps before this one (e.g. vectorise, its training step).
    """

    model: str
    test: str
    step_profile: str
    bundle: str
    previous: str | None = None
    extras: str | None = None
    profiles: tuple[str, ...] = ()


def run_predict_step(
    described: Mapping[str, Any],
    paths: PredictPaths,
    champion: ChampionQuery | None,
    options: PredictOptions,
    step_metrics: Any = None,
) -> dict[str, Any]:
    """The predict step: :func:`predict_arm` within the step's profile, then :func:`hand_on` (latency, bundle).

    Args:
        described: ``arm``, ``display_name``, ``image``, ``requirements`` and ``training`` (what training recorded)
            of :func:`predict_arm`.
        paths: Where the step reads and writes.
        champion: Where the registry's champion is; None: no champion is scored.
        options: Latency settings.
        step_metrics: The step's KFP Metrics output (the profile's figures are logged there), if any.

    Returns:
        The arm's held-out scores (:func:`heldout_scores`).
    """
    profiles = [read_profile(path) for path in paths.profiles]
    extras = {"leaderboard": json.loads(Path(paths.extras).read_text("utf-8"))} if paths.extras else {}
    with profiled_step(f"predict_{described['arm']}", paths.step_profile, metrics=step_metrics):
        result = predict_arm(
            **described,
            model_path=paths.model,
            test_path=paths.test,
            profiles={p.get("step", described["arm"]): p for p in profiles},
            champion=champion,
            extras=extras,
            options=replace(options, latency_calls=0),  # timed in hand_on, once the profiler has stopped sampling
        )
    profile = read_profile(paths.step_profile)
    return hand_on(
        result,
        model_path=paths.model,
        test_path=paths.test,
        options=options,
        profile=profile,
        bundle=paths.bundle,
        previous=paths.previous,
    )
