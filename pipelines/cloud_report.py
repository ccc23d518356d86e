"""The report of a cloud run: download its artifacts, then render ``report.html`` and ``summary.json`` as a local run.

A run is named by its Vertex AI job id (or resource name): the job's task details give each output artifact's
``gs://`` URI (:func:`pipelines.runs.get_run`); or by its folder under the pipeline root (``gs://BUCKET/ROOT/
PROJECT_NUMBER/JOB_ID`` on Vertex AI; ``s3://mlpipeline/v2/artifacts/emotion-pipeline/RUN_ID`` on KFP's MinIO,
through a port-forward and ``FSSPEC_S3_ENDPOINT_URL``), read with fsspec: every file whose name is an artifact the
report needs and that sits under a folder of its task (``evaluate``, Vertex AI's ``evaluate_1234``, KFP's
``evaluate/5678``) is downloaded to ``DEST/<task>/<artifact>``, the layout of a local run, which
:func:`pipelines.rerender.rerender_report` reads.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.io import atomic
from components.models.bundle import MODEL_FILE
from pipelines.cloud import Target
from pipelines.rerender import BUNDLE, REQUIRED, RerenderedReport, rerender_report

#: What the report reads: ``task/artifact`` (rerender's required ones, then the optional ones); besides, every
#: task's ``step_profile`` and the predict steps' bundles (``predict-<arm>/arms``, without the model files).
WANTED = (*REQUIRED, "register/registry_record", "register/step_profile", "profile/summary")
PROFILE = "step_profile"


class CloudRunError(ValueError):
    """The run's artifacts cannot be found or read; the message names the run and what is missing."""


@dataclass(frozen=True)
class CloudReport:
    """What :func:`report_cloud_run` wrote: the folder of downloaded artifacts, the report and the summary."""

    folder: Path
    rendered: RerenderedReport
    summary_path: Path


def _matches(parts: list[str], wanted: str) -> bool:
    """A file's path parts name the artifact ``task/name``: its last part is ``name`` and a folder above it is
    ``task`` or ``task_<execution id>`` (Vertex AI)."""
    task, name = wanted.split("/")
    return bool(parts) and parts[-1] == name and any(p == task or p.startswith(task + "_") for p in parts[:-1])


def _task_name(folder: str) -> str:
    """A task's name from its folder: ``task`` locally, ``task_<execution id>`` on Vertex AI."""
    head, _, tail = folder.rpartition("_")
    return head if head and tail.isdigit() else folder


def _wanted(parts: list[str], root: str) -> tuple[str, str] | None:
    """``(task/artifact, URI)`` when the file at ``parts`` (under ``root``) is one the report reads."""
    for wanted in WANTED:
        if _matches(parts, wanted):
            return wanted, "/".join([root, *parts])
    if len(parts) >= 2 and parts[-1] == PROFILE:
        return f"{_task_name(parts[-2])}/{PROFILE}", "/".join([root, *parts])
    for i, part in enumerate(parts[:-2]):
        if _task_name(part).startswith("predict-") and parts[i + 1] == BUNDLE:
            return f"{_task_name(part)}/{BUNDLE}", "/".join([root, *parts[: i + 2]])
    return None


def plan_folder(paths: Iterable[str], root: str) -> dict[str, str]:
    """``task/artifact`` → the file (or bundle folder) under ``root`` that holds it (the newest path, by name,
    when a task ran twice)."""
    plan: dict[str, str] = {}
    for path in sorted(paths):
        found = _wanted(path[len(root) :].strip("/").split("/"), root.rstrip("/"))
        if found:
            plan[found[0]] = found[1]
    return plan


def plan_tasks(tasks: Iterable[Any]) -> dict[str, str]:
    """``task/artifact`` → URI, from a run's tasks (:class:`pipelines.runs.TaskInfo` with ``outputs``)."""
    plan = {}
    for task in tasks:
        for output, uris in task.outputs.items():
            bundle = output == BUNDLE and task.name.startswith("predict-")
            if uris and (f"{task.name}/{output}" in WANTED or output == PROFILE or bundle):
                plan[f"{task.name}/{output}"] = uris[0]
    return plan


def download(plan: dict[str, str], dest: Path, fs: Any = None) -> None:
    """Copies each planned file to ``dest/<task>/<artifact>`` (fsspec; ``fs`` for every URI when given)."""
    import fsspec

    for wanted, uri in plan.items():
        filesystem, path = (fs, uri) if fs is not None else fsspec.core.url_to_fs(uri)
        files = {"": path}
        if wanted.endswith("/" + BUNDLE):  # a folder: its files but the model files (the report reads no model)
            files = {f[len(path) :].strip("/"): f for f in filesystem.find(path) if not f.endswith("/" + MODEL_FILE)}
        for relative, source in files.items():
            target = dest / wanted / relative if relative else dest / wanted
            target.parent.mkdir(parents=True, exist_ok=True)
            filesystem.get(source, str(target))


def _missing(plan: dict[str, str], source: str) -> None:
    missing = [name for name in REQUIRED if name not in plan]
    if missing:
        raise CloudRunError(
            f"{source}: not a finished run of emotion-pipeline (no {', '.join(missing[:3])}"
            f"{'…' if len(missing) > 3 else ''}); give a finished run's id or its folder under the pipeline root"
        )


def report_cloud_run(
    source: str, dest: Path, target: Target | None = None, *, output: Path | None = None, pipeline_job_cls: Any = None
) -> CloudReport:
    """Downloads a cloud run's artifacts into ``dest`` and renders its report and summary there.

    Args:
        source: A Vertex AI job id or resource name (with ``target``), or the run's folder URI (``gs://…``).
        dest: Folder for the artifacts, ``report.html``, ``report.md`` and ``summary.json``.
        target: Vertex AI project and region (for a job id).
        output: HTML file (default ``dest/report.html``).
        pipeline_job_cls: ``aiplatform.PipelineJob`` (replaced in tests).

    Raises:
        CloudRunError: The run has not every artifact the report needs (failed, running, or not this pipeline).
    """
    import fsspec

    if "://" in source:
        fs, root = fsspec.core.url_to_fs(source)
        if not fs.isdir(root):
            raise CloudRunError(f"{source}: no such folder; give the run's folder under the pipeline root")
        plan = plan_folder(fs.find(root), root)
        _missing(plan, source)
        download(plan, dest, fs)
    else:
        if target is None or target.kind != "vertex":
            raise CloudRunError(
                f"{source}: a KFP run is read from its folder in the cluster's object store "
                "(s3://mlpipeline/v2/artifacts/emotion-pipeline/RUN_ID), not by id; see docs/vertex.md"
            )
        from pipelines.runs import get_run

        run = get_run(source, target, pipeline_job_cls=pipeline_job_cls)
        plan = plan_tasks(run.tasks)
        _missing(plan, f"run {run.id} ({run.state})")
        download(plan, dest)
    rendered = rerender_report(dest, output)
    summary_path = dest / "summary.json"
    atomic.write_text(summary_path, json.dumps(rendered.reports.summary, indent=2, default=str))
    return CloudReport(dest, rendered, summary_path)
