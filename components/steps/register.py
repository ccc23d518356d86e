"""Register: the run's winning model becomes a new registry version; the champion moves only when it is beaten.

1. The model: ``evaluate``'s winning arm; on a tie the cheapest to serve among the tied arms (lower one-text
   latency p50, then the smaller file), and the choice says so. Its model file, image, pip requirements and
   held-out predictions come from the arms' *bundle* (:mod:`components.models.bundle`): nothing is unpickled
   here, so this step runs in the slim image whatever stack the arms need.
2. The current champion (the version with the ``champion`` alias) was scored on **this run's held-out rows**,
   the rows the new model was scored on, through its own text rules, by the predict step of the arm that built
   it (only that arm's image can load it); its labels are in the bundle. When no arm of this run could score it
   (its arm is not in this run, or loading or scoring failed), that is a champion error.
3. Promotion: a paired bootstrap of ``new − champion`` on the winner's metric (``evaluate``'s ``winner_metric``:
   accuracy, macro-F1 or weighted-F1, computed as ``evaluate`` does). The new version is promoted only when the
   whole interval is above 0 (the champion rule, :mod:`components.stats.promotion`, shared with
   ``shadow-report``); an interval containing 0 (or below it) keeps the champion. No champion yet: the
   new version is promoted. A champion that cannot be loaded or scored (or that no arm of this run can load) is
   reported, never fatal: ``on_champion_error`` keeps it (default) or promotes the new version.
4. Every run registers its model as a new version (promoted or not) with its metrics, a fingerprint of the
   training rows (sha256), the package version, the image and the pipeline run; the alias itself is moved by the
   pipeline's ``promote`` task, behind ``dsl.If(promoted)``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.checks.options import check_choice, check_number
from components.models.bundle import ArmResult, by_arm
from components.registry.naming import model_name_for
from components.registry.store import RegisteredVersion, Registry, open_registry
from components.stats.bootstrap import paired_difference
from components.stats.promotion import (
    BOOTSTRAP_RESAMPLES,
    CONFIDENCE,
    SEED,
    describe_difference,
    promotion_verdict,
)

CHAMPION_ERROR_POLICIES = ("keep", "promote")
TIE = "tie"


@dataclass(frozen=True)
class RegisterOptions:
    """Where the model is registered and how the champion is challenged.

    Attributes:
        registry_uri: Folder, MLflow tracking URI or ``vertex://PROJECT/REGION``; empty: a registry inside this
            run's own ``registered_model`` output (it lasts as long as the run's artifacts: every run starts at
            version 1). ``emotion-pipeline run`` always passes a lasting one.
        registry_artifact_uri: Where new versions' files go (MLflow artifact location, e.g. ``gs://bucket/mlflow``;
            Vertex AI: staging bucket); empty for the backend's default.
        model_name: Registered model name; empty: ``emotion-<task>``.
        bootstrap_resamples: Resamples of the paired bootstrap against the champion.
        confidence: Coverage of its interval.
        seed: Seed of the resampling.
        on_champion_error: A champion that cannot be loaded or scored: ``keep`` it or ``promote`` the new version.
    """

    registry_uri: str = ""
    registry_artifact_uri: str = ""
    model_name: str = ""
    bootstrap_resamples: int = BOOTSTRAP_RESAMPLES
    confidence: float = CONFIDENCE
    seed: int = SEED
    on_champion_error: str = "keep"

    def __post_init__(self) -> None:
        check_number("bootstrap_resamples", self.bootstrap_resamples, low=10, integer=True)
        check_number("confidence", self.confidence, low=0, high=1, low_open=True, high_open=True)
        check_number("seed", self.seed, low=0, integer=True)
        check_choice("on_champion_error", self.on_champion_error, CHAMPION_ERROR_POLICIES)
        if self.model_name and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}", self.model_name):
            from components.checks.errors import ParameterError

            raise ParameterError(
                f"model_name must be letters, digits, '.', '_' or '-' (at most 63), got {self.model_name!r}"
            )


def fingerprint(texts: Sequence[str], labels: Sequence[str]) -> str:
    """sha256 of the rows as ``text\\tlabel\\n`` lines, in order: the same cleaned data gives the same hash."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(f"{text}\t{label}\n".encode())
    return digest.hexdigest()


def choose_model(evaluation: Mapping[str, Any]) -> tuple[str, str]:
    """The arm to register: ``evaluate``'s winner, or on a tie the cheapest to serve among the tied arms.

    Returns:
        ``(arm name, why)``.
    """
    models, winner, metric = evaluation["models"], evaluation["winner"], evaluation["winner_metric"]
    if winner != TIE:
        return winner, f"{winner} won on {metric} ({models[winner][metric]:.4f})"
    tied = [name for name in evaluation.get("tied") or models if name in models] or list(models)
    cost = {
        name: (models[name].get("latency_p50_ms") or float("inf"), models[name].get("model_size_mb") or float("inf"))
        for name in tied
    }
    cheapest = min(tied, key=lambda name: (cost[name], tied.index(name)))
    shown = "; ".join(f"{n} p50 {c[0]:.2f} ms, {c[1]:.2f} MB" for n, c in cost.items())
    return cheapest, f"a tie on {metric} between {', '.join(tied)}: {cheapest} is the cheapest to serve ({shown})"


def bootstrap_metric(winner_metric: str) -> str:
    """The metric the promotion bootstrap uses: the winner's metric, as ``evaluate`` decides on its own interval."""
    return winner_metric


@dataclass
class Candidate:
    """The run's chosen model, ready to register.

    Attributes:
        name: The arm that built it (``scratch``, ``automl``, ``transformer`` …).
        why: Why it was chosen.
        model_dir: Its packaged MLflow model folder.
        model_uri: The folder's URI as other services see it (``gs://…`` on Vertex AI; the path otherwise).
        predictions: Its labels for the held-out rows (as ``evaluate`` scored them).
        image: Image it can be served from.
        scored: Its labels and per-class scores for the held-out rows (the reference profile's predictions).
    """

    name: str
    why: str
    model_dir: Path
    model_uri: str
    predictions: list[str]
    image: str
    scored: Any = None


def prepare_candidate(
    evaluation: Mapping[str, Any],
    arms: Sequence[ArmResult],
    *,
    text_rules: Mapping[str, Any],
    target: str,
    target_uri: str,
    task: str,
) -> Candidate:
    """Chooses the arm (:func:`choose_model`) and packages its model with its held-out predictions from the bundle.

    Args:
        evaluation: ``evaluate``'s result.
        arms: The bundle's arms (:func:`components.models.bundle.read_bundle`): model file, image, requirements
            and held-out predictions of each.
        text_rules: The cleaning options (``data_stats["options"]``): the text rules the package applies.
        target: Folder to write the MLflow model to.
        target_uri: The same folder's URI as other services see it.
        task: Task name, recorded in the package.

    Raises:
        ValueError: The chosen arm is not in the bundle, or has no model file or predictions there.
    """
    from components.registry.packaging import package_model
    from components.text.rules import TextNormaliser

    name, why = choose_model(evaluation)
    arm = by_arm(arms).get(name)
    if arm is None or arm.model_file is None or arm.predictions is None:
        raise ValueError(f"register: arm {name!r} chosen by evaluate has no model or predictions in the bundle")
    scores = evaluation["models"][name]
    metadata = {
        "task": task,
        "model": name,
        "labels": scores.get("labels", []),
        "choice": why,
        "accuracy": scores.get("accuracy"),
        "macro_f1": scores.get("macro_f1"),
    }
    folder = package_model(
        arm.model_file,
        target,
        text_rules=TextNormaliser.from_dict(text_rules),
        metadata=metadata,
        requirements=arm.requirements,
    )
    return Candidate(name, why, folder, target_uri, list(arm.predictions.labels), arm.image, arm.predictions)


def champion_labels(arms: Sequence[ArmResult], current: RegisteredVersion, rows: int) -> tuple[list[str] | None, str]:
    """The champion's held-out labels as the predict step of the arm that built it scored them.

    Args:
        arms: The bundle's arms (their ``champion`` records).
        current: The registry's champion now.
        rows: Held-out rows (the labels must be as many).

    Returns:
        ``(labels, "")``, or ``(None, why there are none)``: the champion records no arm, its arm is not in this
        run, that arm's predict step scored another version or none, or failed to load or score it.
    """
    what, arm = f"champion v{current.version}", current.tags.get("model", "")
    if not arm:
        return None, f"{what} records no arm (no 'model' tag), so no arm of this run scored it"
    if arm not in by_arm(arms):
        return None, (
            f"{what} was built by arm {arm}, which this run does not include: its stack is in none of this run's "
            f"images ({', '.join(a.arm for a in arms)})"
        )
    scored = by_arm(arms)[arm].champion or {}
    if scored.get("error") and str(scored.get("version", current.version)) == str(current.version):
        return None, f"{what} could not be loaded or scored in arm {arm}'s predict step ({scored['error']})"
    if str(scored.get("version")) != str(current.version) or scored.get("labels") is None:
        seen = f" (it scored v{scored['version']})" if scored.get("version") else ""
        return None, f"{what} (arm {arm}) was not scored by this run's {arm} predict step{seen}"
    if len(scored["labels"]) != rows:
        return None, f"{what}: arm {arm}'s predict step gave {len(scored['labels'])} labels for {rows} held-out rows"
    return [str(label) for label in scored["labels"]], ""


def _champion_error(out: dict[str, Any], problem: str, options: RegisterOptions) -> dict[str, Any]:
    """The decision when the champion could not be compared: ``on_champion_error`` keeps it or promotes."""
    keep = options.on_champion_error == "keep"
    out["champion_error"] = problem[:500]
    out["promoted"] = not keep
    out["reason"] = f"{problem}; " + (
        "kept (on_champion_error=keep): promote by hand once checked"
        if keep
        else "replaced (on_champion_error=promote)"
    )
    return out


def challenge(
    registry: Registry,
    name: str,
    candidate: Candidate,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    arms: Sequence[ArmResult],
    metric: str,
    options: RegisterOptions,
) -> dict[str, Any]:
    """Compares the candidate with the current champion on the held-out rows (its labels from the bundle, as the
    predict step of the arm that built it scored them) and decides whether the candidate replaces it.

    Returns:
        ``promoted``, ``reason`` (without the new version's number) and, when there was a champion to compare,
        ``previous_champion_version``, ``champion_score``, ``challenger_score``, ``difference``, ``interval``; a
        champion that could not be compared gives ``champion_error`` instead.
    """
    try:
        current = registry.champion(name)
    except Exception as err:  # a broken registry read is reported like a broken champion
        problem = f"the champion could not be loaded or scored ({type(err).__name__}: {str(err)[:300]})"
        return _champion_error({"previous_champion_version": None}, problem, options)
    if current is None:
        return {"promoted": True, "reason": f"no champion yet for {name}: this version becomes the champion"}
    out: dict[str, Any] = {"previous_champion_version": current.version, "champion_model": current.tags.get("model")}
    predicted, problem = champion_labels(arms, current, len(labels))
    if predicted is None:
        return _champion_error(out, problem, options)
    diff = paired_difference(
        list(labels),
        candidate.predictions,
        predicted,
        metric=metric,
        resamples=options.bootstrap_resamples,
        confidence=options.confidence,
        seed=options.seed,
    )
    low, high = diff.interval
    compared = describe_difference(diff, f"champion v{current.version}", f"this run's {len(labels)} held-out rows")
    verdict = promotion_verdict(diff, compared)  # the champion rule, shared with shadow-report
    out |= {
        "metric": metric,
        "challenger_score": diff.score_a,
        "champion_score": diff.score_b,
        "difference": diff.difference,
        "interval": [low, high],
        "confidence": diff.confidence,
        "resamples": diff.resamples,
        "test_rows": len(labels),
        "promoted": verdict.promoted,
        "reason": verdict.reason,
    }
    return _explain(out, current, texts, labels)


def _explain(
    out: dict[str, Any], current: RegisteredVersion, texts: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """Adds whether the champion was registered with the same held-out rows (a caution in ``reason`` if not)."""
    out["same_test_rows"] = current.tags.get("test_sha256") == fingerprint(texts, labels)
    if not out["same_test_rows"]:  # e.g. a split with another seed: the champion may have trained on these rows
        out["reason"] += (
            "; caution: the champion was registered with other held-out rows, and may have trained on some of "
            "these if both were split from the same data (a fixed test file avoids this)"
        )
    return out


def register_model(
    *,
    task: str,
    evaluation: Mapping[str, Any],
    candidate: Candidate,
    texts: Sequence[str],
    labels: Sequence[str],
    train_fingerprint: str,
    arms: Sequence[ArmResult] = (),
    run_name: str = "",
    options: RegisterOptions | None = None,
    registry: Registry | None = None,
) -> dict[str, Any]:
    """Challenges the champion with the candidate, registers the candidate as a new version, and reports.

    Args:
        task: Task name (the default model name is ``emotion-<task>``).
        evaluation: ``evaluate``'s result (winner, metric, per-arm scores).
        candidate: The chosen model (:func:`prepare_candidate`), packaged, with its held-out predictions.
        texts: The held-out texts (cleaned), as ``evaluate`` scored them.
        labels: Their labels.
        train_fingerprint: :func:`fingerprint` of the cleaned training rows.
        arms: The bundle's arms: the champion's held-out labels are in the record of the arm that built it.
        run_name: The pipeline run (recorded with the version).
        options: Registry and bootstrap settings.
        registry: An open registry (tests); opened from ``options.registry_uri`` when None.

    Returns:
        The registry record: ``model_name``, ``version``, ``promoted``, ``reason``, ``champion_version`` (the
        champion after this run), ``previous_champion_version``, the scores and interval when a champion was
        compared, ``registry``, ``model`` (the arm), ``choice``, ``tags``.
    """
    options = options or RegisterOptions()
    registry = registry or open_registry(options.registry_uri, options.registry_artifact_uri)
    name = model_name_for(task, options)
    metric = bootstrap_metric(evaluation["winner_metric"])
    decision = challenge(registry, name, candidate, texts, labels, arms=arms, metric=metric, options=options)
    scores = evaluation["models"][candidate.name]
    metrics = {
        k: scores[k] for k in ("accuracy", "macro_f1", "weighted_f1", "latency_p50_ms", "model_size_mb") if k in scores
    }
    tags = {
        "task": task,
        "model": candidate.name,
        "data_sha256": train_fingerprint,
        "test_rows": str(len(labels)),
        "test_sha256": fingerprint(texts, labels),
        "package_version": _package_version(),
        "pipeline_run": run_name or "local",
        "promoted": str(decision["promoted"]).lower(),
    }
    version = registry.register(
        name,
        candidate.model_dir,
        candidate.model_uri,
        tags=tags,
        metrics=metrics,
        image=candidate.image,
        description=decision["reason"][:5000],
        evaluation={k: scores.get(k) for k in ("labels", "confusion_matrix")},
    )
    previous = decision.get("previous_champion_version")
    return {
        **decision,
        "model_name": name,
        "version": version.version,
        "promoted": bool(decision["promoted"]),
        "reason": f"version {version.version}: {decision['reason']}",
        "champion_version": version.version if decision["promoted"] else previous,
        "registry": registry.uri,
        "backend": registry.kind,
        "model": candidate.name,
        "choice": candidate.why,
        "model_uri": version.source,
        "image": candidate.image,
        "tags": tags,
        "metrics": metrics,
    }


def register_step(
    *,
    task: str,
    evaluation_path: str,
    data_stats_path: str,
    train_path: str,
    test_path: str,
    bundle_path: str,
    target: str,
    target_uri: str,
    run_name: str,
    options: RegisterOptions,
) -> dict[str, Any]:
    """The register component's work on files: reads the run's artifacts, packages, challenges and registers.

    Args:
        task: Task name.
        evaluation_path: ``evaluate``'s JSON.
        data_stats_path: ``clean``'s statistics JSON (its ``options`` are the text rules).
        train_path: Cleaned training rows (Parquet), fingerprinted.
        test_path: Cleaned held-out rows (Parquet).
        bundle_path: The last predict step's bundle: every arm's model file, image, requirements, held-out
            predictions and, for the arm that built the champion, the champion's held-out labels.
        target: Folder for the packaged model.
        target_uri: Its URI as other services see it.
        run_name: Pipeline run.
        options: Registry and bootstrap settings.

    Returns:
        The registry record (:func:`register_model`).
    """
    import json

    import pandas as pd

    from components.models.bundle import read_bundle

    with open(evaluation_path, encoding="utf-8") as handle:
        evaluation = json.load(handle)
    with open(data_stats_path, encoding="utf-8") as handle:
        rules = json.load(handle)["options"]
    arms = read_bundle(bundle_path)
    train, test = (pd.read_parquet(path) for path in (train_path, test_path))
    texts, labels = test["text"].astype(str).tolist(), test["label"].astype(str).tolist()
    candidate = prepare_candidate(evaluation, arms, text_rules=rules, target=target, target_uri=target_uri, task=task)
    write_reference_profile(candidate, train, test, task=task, model_name=model_name_for(task, options))
    return register_model(
        task=task,
        evaluation=evaluation,
        candidate=candidate,
        texts=texts,
        labels=labels,
        train_fingerprint=fingerprint(train["text"], train["label"]),
        arms=arms,
        run_name=run_name,
        options=options,
    )


def training_sources(train: Any, test: Any) -> dict[str, list[str]]:
    """The files the cleaned rows came from (their ``source`` column): ``train`` and ``test`` (empty when the test
    rows were split from the training files)."""
    found = {
        name: sorted(map(str, frame["source"].unique())) if "source" in frame else []
        for name, frame in (("train", train), ("test", test))
    }
    if set(found["test"]) <= set(found["train"]):
        found["test"] = []
    return found


def write_reference_profile(candidate: Candidate, train: Any, test: Any, *, task: str, model_name: str) -> Path:
    """Writes the candidate's reference profile (:mod:`components.registry.reference`) into its model folder, so the
    registered version carries it (what ``monitor`` compares new batches with).

    Args:
        candidate: The packaged candidate, with its held-out predictions and scores.
        train: Cleaned training rows (``text``, ``label``, ``source`` when known).
        test: Cleaned held-out rows.
        task: Task name.
        model_name: Registered model name.

    Returns:
        The profile's path.
    """
    from components.registry.reference import build_profile, write_profile

    profile = build_profile(
        train["text"].tolist(),
        train["label"].tolist(),
        test["text"].tolist(),
        test["label"].tolist(),
        candidate.scored,
        sources=training_sources(train, test),
        metadata={"task": task, "model_name": model_name, "model": candidate.name},
    )
    return write_profile(candidate.model_dir, profile)


def record_metrics(record: Mapping[str, Any]) -> dict[str, float]:
    """The register step's Metrics: promoted (0/1), version (when a number), the scores and the interval."""
    out = {"promoted": float(bool(record["promoted"]))}
    if str(record["version"]).isdigit():
        out["version"] = float(record["version"])
    for key in ("challenger_score", "champion_score", "difference"):
        if isinstance(record.get(key), int | float):
            out[key] = float(record[key])
    if record.get("interval"):
        out["interval_low"], out["interval_high"] = map(float, record["interval"])
    return out


def _package_version() -> str:
    from components.registry.packaging import package_version

    return package_version()


def promote_version(
    *,
    registry_uri: str,
    registry_artifact_uri: str,
    model_name: str,
    version: str,
    reason: str = "",
    run_name: str = "",
    registry: Registry | None = None,
) -> str:
    """Moves the ``champion`` alias to ``version`` (the ``promote`` task), recorded on the version as an automatic
    promotion (:mod:`components.registry.promotion`: the same record as ``emotion-pipeline promote``'s).

    Args:
        registry_uri: The registry.
        registry_artifact_uri: As given to register.
        model_name: Registered model name.
        version: The version register promoted.
        reason: register's reason (default: the champion rule).
        run_name: The pipeline run (recorded as who promoted).
        registry: An open registry (tests).

    Returns:
        A line saying what was done.
    """
    from components.registry.promotion import AUTOMATIC, promote

    registry = registry or open_registry(registry_uri, registry_artifact_uri)
    done = promote(
        registry,
        model_name,
        str(version),
        reason=reason or "register: the champion rule promoted it",
        promoted_by=f"pipeline run {run_name or 'local'}",
        promotion=AUTOMATIC,
    )
    return done.message


def render_registry_report(record: Mapping[str, Any]) -> str:
    """The registry decision as Markdown (the register step's report and a section of the run report)."""
    lines = [
        "## Registry",
        "",
        f"- model: **{record['model_name']}** version **{record['version']}** ({record['model']}: {record['choice']})",
        f"- decision: **{'promoted to champion' if record['promoted'] else 'not promoted'}** — {record['reason']}",
        f"- champion after this run: version {record['champion_version']}"
        + (f" (before: {record['previous_champion_version']})" if record.get("previous_champion_version") else ""),
        f"- registry: {record['registry']} ({record['backend']}); files: {record['model_uri']}",
        f"- training data sha256: `{record['tags']['data_sha256']}`; package {record['tags']['package_version']}; "
        f"image {record['image']}; run {record['tags']['pipeline_run']}",
    ]
    if record.get("interval"):
        low, high = record["interval"]
        lines.append(
            f"- {record['metric']}: new {record['challenger_score']:.4f}, champion {record['champion_score']:.4f}, "
            f"difference {record['difference']:+.4f}, {record['confidence'] * 100:g} % CI [{low:.4f}, {high:.4f}] "
            f"({record['resamples']} paired resamples of {record['test_rows']} rows)"
        )
    if record.get("champion_error"):
        lines.append(f"- champion not compared: {record['champion_error']}")
    return "\n".join(lines) + "\n"
