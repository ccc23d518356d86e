"""Read back, list and cancel cloud runs: Vertex AI pipeline jobs and KFP runs, with each task's state.

The SDK objects are parameters, as in :mod:`pipelines.cloud`: ``pipeline_job_cls`` (``aiplatform.PipelineJob``)
and ``client`` (``kfp.Client``), looked up when called. A run becomes a :class:`RunInfo` (state, start, end,
tasks, error) whatever the service, so ``runs get``, ``runs list`` and ``submit --wait`` print the same lines.

Vertex AI: ``PipelineJob.get(...).gca_resource`` (an ``aiplatform_v1.PipelineJob``) carries ``job_detail.task_details``
with each task's state, times, error and output artifacts (their ``gs://`` URIs, used by ``report``). KFP:
``kfp.Client.get_run`` returns a ``V2beta1Run`` whose ``run_details.task_details`` carry the same (outputs as
metadata artifact ids only).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pipelines.cloud import CloudError, Target, _kfp_client, _vertex_pipeline_job_cls, kfp_run_link, vertex_console_link
from pipelines.run_state import (
    ENDED_BADLY,
    SUCCEEDED,
    TaskInfo,
    _duration,
    _message,
    _time,
    kfp_tasks,
    state_name,
    vertex_tasks,
)

_VERTEX_JOB = re.compile(r"^projects/[^/]+/locations/[^/]+/pipelineJobs/[^/]+$")
_VERTEX_JOB_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,127}$")


@dataclass(frozen=True)
class RunInfo:
    """One run as read back from its service."""

    id: str
    name: str
    state: str
    link: str
    start: datetime | None = None
    end: datetime | None = None
    error: str = ""
    tasks: tuple[TaskInfo, ...] = ()

    @property
    def ended(self) -> bool:
        """The run is in a final state."""
        return self.state in SUCCEEDED or self.state in ENDED_BADLY

    @property
    def failing_task(self) -> TaskInfo | None:
        """The first task that failed (by start time), None if none did."""
        failed = [t for t in self.tasks if t.state == "FAILED"]
        return min(failed, key=lambda t: t.start or datetime.max.replace(tzinfo=UTC)) if failed else None


# --- Vertex AI --------------------------------------------------------------------------------------------


def vertex_resource_name(run_id: str, target: Target) -> str:
    """A Vertex AI job's full resource name from its name or its id (``emotion-pipeline-20260101…``).

    Raises:
        CloudError: Neither a resource name nor a job id.
    """
    if _VERTEX_JOB.match(run_id):
        return run_id
    if _VERTEX_JOB_ID.match(run_id) and target.project and target.region:
        return f"projects/{target.project}/locations/{target.region}/pipelineJobs/{run_id}"
    raise CloudError(
        f"run {run_id!r}: expected a Vertex AI job id (as 'runs list' shows) or "
        "projects/PROJECT/locations/REGION/pipelineJobs/ID"
    )


def vertex_run_info(job: Any) -> RunInfo:
    """A :class:`RunInfo` from a ``PipelineJob`` (its ``gca_resource``, read once: one API call)."""
    resource = job.gca_resource
    tasks = vertex_tasks(resource)
    return RunInfo(
        id=resource.name,
        name=resource.display_name,
        state=state_name(resource.state),
        link=vertex_console_link(resource.name),
        start=_time(resource.start_time),
        end=_time(resource.end_time),
        error=_message(getattr(resource, "error", None)),
        tasks=tasks,
    )


# --- KFP --------------------------------------------------------------------------------------------------


def kfp_run_info(run: Any, host: str) -> RunInfo:
    """A :class:`RunInfo` from a ``V2beta1Run``."""
    return RunInfo(
        id=run.run_id,
        name=run.display_name or "",
        state=state_name(run.state or "PENDING"),
        link=kfp_run_link(host, run.run_id),
        start=_time(run.created_at),
        end=_time(run.finished_at),
        error=_message(run.error),
        tasks=kfp_tasks(run),
    )


# --- one entry point per verb -----------------------------------------------------------------------------


def get_run(run_id: str, target: Target, *, pipeline_job_cls: Any = None, client: Any = None) -> RunInfo:
    """Reads one run with its tasks (Vertex AI job id or resource name; KFP run id)."""
    target.check(runs=False)
    if target.kind == "kfp":
        return kfp_run_info((client or _kfp_client(target.kfp_host)).get_run(run_id=run_id), target.kfp_host)
    job_cls = pipeline_job_cls or _vertex_pipeline_job_cls()
    job = job_cls.get(
        resource_name=vertex_resource_name(run_id, target), project=target.project, location=target.region
    )
    return vertex_run_info(job)


def list_runs(
    target: Target, limit: int = 20, name_filter: str = "", *, pipeline_job_cls: Any = None, client: Any = None
) -> list[RunInfo]:
    """The target's newest runs, newest first (at most ``limit``), optionally those whose name contains a text.

    Vertex AI: ``PipelineJob.list`` of the project and region with the simple view (no task details); KFP:
    ``kfp.Client.list_runs`` sorted by creation time.
    """
    target.check(runs=False)
    if target.kind == "kfp":
        client = client or _kfp_client(target.kfp_host)
        response = client.list_runs(page_size=min(max(limit, 1), 100), sort_by="created_at desc")
        runs = [kfp_run_info(r, target.kfp_host) for r in (response.runs or [])]
    else:
        job_cls = pipeline_job_cls or _vertex_pipeline_job_cls()
        jobs = job_cls.list(
            order_by="create_time desc", enable_simple_view=True, project=target.project, location=target.region
        )
        runs = [vertex_run_info(job) for job in jobs]
    return [run for run in runs if name_filter in run.name][:limit]


def cancel_run(run_id: str, target: Target, *, pipeline_job_cls: Any = None, client: Any = None) -> str:
    """Asks the service to cancel (Vertex AI) or terminate (KFP) a run; returns the id it was sent for.

    The run ends shortly after (``CANCELLED``/``CANCELED``); ``runs get`` shows when.
    """
    target.check(runs=False)
    if target.kind == "kfp":
        (client or _kfp_client(target.kfp_host)).terminate_run(run_id=run_id)
        return run_id
    name = vertex_resource_name(run_id, target)
    job_cls = pipeline_job_cls or _vertex_pipeline_job_cls()
    job_cls.get(resource_name=name, project=target.project, location=target.region).cancel()
    return name


# --- text ---------------------------------------------------------------------------------------------------


def _clock(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def format_run(run: RunInfo) -> str:
    """The run, one line per task, and the failing task's error (what ``runs get`` prints)."""
    seconds = None if run.start is None or run.end is None else (run.end - run.start).total_seconds()
    lines = [
        f"run:    {run.id}",
        f"name:   {run.name}",
        f"state:  {run.state}",
        f"start:  {_clock(run.start)} UTC   end: {_clock(run.end)} UTC   ({_duration(seconds)})",
        f"link:   {run.link}",
        f"{'task':<24} {'state':<12} {'start (UTC)':<20} {'duration':>9}",
    ]
    for task in sorted(run.tasks, key=lambda t: (t.start is None, t.start or datetime.min.replace(tzinfo=UTC))):
        lines.append(f"{task.name:<24} {task.state:<12} {_clock(task.start):<20} {_duration(task.seconds):>9}")
    failing = run.failing_task
    if failing is not None:
        lines.append(f"failed task: {failing.name}: {' '.join((failing.error or 'no message').split())}")
    elif run.error:
        lines.append(f"error: {' '.join(run.error.split())}")
    return "\n".join(lines)


def format_run_list(runs: list[RunInfo]) -> str:
    """One line per run (what ``runs list`` prints)."""
    lines = [f"{'id':<44} {'state':<10} {'start (UTC)':<20} {'end (UTC)':<20} name"]
    for run in runs:
        short = run.id.rsplit("/", 1)[-1]
        lines.append(f"{short:<44} {run.state:<10} {_clock(run.start):<20} {_clock(run.end):<20} {run.name}")
    lines.append(f"{len(runs)} run(s)")
    return "\n".join(lines)
