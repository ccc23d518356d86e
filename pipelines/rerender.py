"""Re-render the reports of a finished local run from its artifacts, without running any step again.

A local run (``emotion-pipeline run --output DIR``) leaves ``DIR/artifacts/<pipeline run>/<task>/<artifact>``;
the ``profile`` step's inputs are all there: the six ``step_profile`` files, ``evaluate/evaluation``,
``clean/data_stats`` and, when the run had one, ``train-automl/automl_leaderboard``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.io import atomic
from components.models.bundle import ArmResult, BundleError, read_bundle, read_order
from components.steps.profile import STEPS, Reports, build_reports

# Step name -> the folder KFP's local runner gives its task (names are sanitised: "_" becomes "-").
TASK_FOLDERS = {step: step.replace("_", "-") for step in STEPS}
REQUIRED = [f"{folder}/step_profile" for folder in TASK_FOLDERS.values()] + ["evaluate/evaluation", "clean/data_stats"]
#: Each arm's steps write their folders beside the shared steps'; the last predict step's bundle holds them all.
BUNDLE = "arms"
#: The run marker a local run keeps in its --output folder and, once finished, in its pipeline run folder.
RUN_MARKER = "run.json"


class RunNotFoundError(ValueError):
    """The folder holds no finished run; the message names the folder and what is missing."""


@dataclass(frozen=True)
class RerenderedReport:
    """What :func:`rerender_report` wrote."""

    run_dir: Path
    html_path: Path
    markdown_path: Path
    reports: Reports


def find_run(folder: Path) -> Path:
    """The pipeline run folder to report on: ``folder`` itself, or the newest complete run under it.

    When ``folder`` is a local run's ``--output`` folder with a run marker (``run.json``), only the run that marker
    names as finished is reported: the artifacts of a run that failed or is still running are refused.

    Args:
        folder: A pipeline run folder, a local run's ``--output`` folder, or its ``artifacts`` folder.

    Raises:
        RunNotFoundError: No run under ``folder`` has every artifact the report needs, or the last run into it
            did not finish.
    """
    if not folder.is_dir():
        raise RunNotFoundError(f"{folder}: no such folder")
    marked = _marked_run(folder)
    if marked is not None:
        return marked
    candidates = [folder, *sorted((p for p in folder.glob("artifacts/*") if p.is_dir()), reverse=True)]
    candidates += sorted((p for p in folder.glob("*") if p.is_dir()), reverse=True)
    for run in candidates:
        if all((run / name).is_file() for name in REQUIRED):
            return run
    closest = max(candidates, key=lambda run: sum((run / name).is_file() for name in REQUIRED))
    missing = [name for name in REQUIRED if not (closest / name).is_file()]
    raise RunNotFoundError(
        f"{folder}: no finished run found (the most complete, {closest}, lacks {', '.join(missing)})"
    )


def _marked_run(folder: Path) -> Path | None:
    """The finished run a run marker names; None when ``folder`` has no marker (an older run, a run folder)."""
    marker = folder / RUN_MARKER
    if not marker.is_file():
        return None
    record = _json(marker)
    status = record.get("status") if isinstance(record, dict) else None
    if status != "finished":
        raise RunNotFoundError(
            f"{folder}: the last run into this folder did not finish (status {status!r}, started "
            f"{record.get('started', '?') if isinstance(record, dict) else '?'}; see {folder / 'run.log'}): its "
            "artifacts may mix that run and an earlier one, so no report is made from them; rerun it"
        )
    run = folder / str(record.get("run_dir", ""))
    if not all((run / name).is_file() for name in REQUIRED):
        missing = [name for name in REQUIRED if not (run / name).is_file()]
        raise RunNotFoundError(f"{folder}: the finished run {run} lacks {', '.join(missing)}")
    return run


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RunNotFoundError(f"{path}: not valid JSON ({err})") from err


def _arms(run: Path) -> list[ArmResult] | None:
    """Every arm of the run: the bundle of its last predict step (the one holding the most arms); None for a run
    from before the arms' bundle (its arms are then read from its evaluation and ``train-<arm>`` folders).

    Raises:
        RunNotFoundError: The bundle cannot be read.
    """
    bundles = sorted(run.glob(f"predict-*/{BUNDLE}"), key=lambda path: len(read_order(path)))
    if not bundles:
        return None
    try:
        return read_bundle(bundles[-1])
    except BundleError as err:
        raise RunNotFoundError(f"{run}: malformed artifacts: {err}") from err


def _older_arm_steps(run: Path) -> dict[str, dict[str, Any]]:
    """A run from before the bundle: its ``train-<arm>`` and ``vectorise`` step profiles, by step name."""
    folders = [*run.glob("train-*/step_profile"), *run.glob("vectorise/step_profile")]
    return {path.parent.name.replace("-", "_"): _artifact(path) for path in folders}


def _artifact(path: Path) -> dict[str, Any]:
    """A JSON object artifact; anything else is refused naming the file."""
    value = _json(path)
    if not isinstance(value, dict):
        raise RunNotFoundError(f"{path}: malformed artifact, expected a JSON object, got {type(value).__name__}")
    return value


def rerender_report(folder: Path, output: Path | None = None, task: str = "") -> RerenderedReport:
    """Rebuilds the summary and renders the HTML and Markdown reports of a finished run.

    Args:
        folder: See :func:`find_run`.
        output: HTML file to write (default ``<folder>/report.html``); the Markdown goes next to it (``.md``).
        task: Task name; by default the one in the run's summary, else ``custom``.

    Returns:
        Where the reports were written, and their content.
    """
    run = find_run(folder)
    profiles = {step: _artifact(run / folder_name / "step_profile") for step, folder_name in TASK_FOLDERS.items()}
    arms = _arms(run)
    if arms is None:
        profiles |= _older_arm_steps(run)
    registry = _artifact(run / "register/registry_record") if (run / "register/registry_record").is_file() else None
    if (run / "register/step_profile").is_file():
        profiles["register"] = _artifact(run / "register/step_profile")
    if not task:
        previous = run / "profile" / "summary"
        task = _artifact(previous).get("task", "custom") if previous.is_file() else "custom"
    evaluation, data_stats = _artifact(run / "evaluate/evaluation"), _artifact(run / "clean/data_stats")
    try:
        reports = build_reports(task, profiles, evaluation, data_stats, registry, arms)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        raise RunNotFoundError(
            f"{run}: malformed artifacts, the report cannot be built ({type(err).__name__}: {err}); the "
            "evaluate/evaluation, clean/data_stats and step_profile files must be as the run wrote them"
        ) from err
    html_path = output or folder / "report.html"
    markdown_path = html_path.with_suffix(".md")
    atomic.write_text(html_path, reports.html)
    atomic.write_text(markdown_path, reports.markdown)
    return RerenderedReport(run, html_path, markdown_path, reports)
