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

from components.steps.profile import STEPS, Reports, build_reports

# Step name -> the folder KFP's local runner gives its task (names are sanitised: "_" becomes "-").
TASK_FOLDERS = {step: step.replace("_", "-") for step in STEPS}
REQUIRED = [f"{folder}/step_profile" for folder in TASK_FOLDERS.values()] + ["evaluate/evaluation", "clean/data_stats"]
LEADERBOARD = "train-automl/automl_leaderboard"


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

    Args:
        folder: A pipeline run folder, a local run's ``--output`` folder, or its ``artifacts`` folder.

    Raises:
        RunNotFoundError: No run under ``folder`` has every artifact the report needs.
    """
    if not folder.is_dir():
        raise RunNotFoundError(f"{folder}: no such folder")
    candidates = [folder, *sorted((p for p in folder.glob("artifacts/*") if p.is_dir()), reverse=True)]
    candidates += sorted((p for p in folder.glob("*") if p.is_dir()), reverse=True)
    for run in candidates:
        if all((run / name).is_file() for name in REQUIRED):
            return run
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    raise RunNotFoundError(
        f"{folder}: no finished run found (neither it nor a run under it/artifacts has {', '.join(missing)})"
    )


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RunNotFoundError(f"{path}: not valid JSON ({err})") from err


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
    profiles = {step: _json(run / folder_name / "step_profile") for step, folder_name in TASK_FOLDERS.items()}
    leaderboard = _json(run / LEADERBOARD) if (run / LEADERBOARD).is_file() else None
    registry = _json(run / "register/registry_record") if (run / "register/registry_record").is_file() else None
    if (run / "register/step_profile").is_file():
        profiles["register"] = _json(run / "register/step_profile")
    if not task:
        previous = run / "profile" / "summary"
        task = _json(previous).get("task", "custom") if previous.is_file() else "custom"
    reports = build_reports(
        task, profiles, _json(run / "evaluate/evaluation"), _json(run / "clean/data_stats"), leaderboard, registry
    )
    html_path = output or folder / "report.html"
    html_path.parent.mkdir(parents=True, exist_ok=True)
    html_path.write_text(reports.html, encoding="utf-8")
    markdown_path = html_path.with_suffix(".md")
    markdown_path.write_text(reports.markdown, encoding="utf-8")
    return RerenderedReport(run, html_path, markdown_path, reports)
