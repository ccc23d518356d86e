"""A run's state and its tasks as both services report them, in one form (no SDK imports, no imports of ours).

:mod:`pipelines.cloud` (``submit --wait``) and :mod:`pipelines.runs` (``runs get``) read them from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: Final states of a run: (Vertex AI PipelineState names without their prefix, KFP V2beta1RuntimeState).
SUCCEEDED = frozenset({"SUCCEEDED"})
ENDED_BADLY = frozenset({"FAILED", "CANCELLED", "CANCELED", "SKIPPED"})
#: KFP's task details include the DAG drivers and the root DAG; shown too, but these are not steps.
KFP_NON_STEPS = frozenset({"root", "root-driver"})


def state_name(state: Any) -> str:
    """``PipelineState.PIPELINE_STATE_RUNNING`` (Vertex AI) or ``"RUNNING"`` (KFP) → ``RUNNING``."""
    name = getattr(state, "name", None) or str(state or "UNKNOWN")
    return name.removeprefix("PIPELINE_STATE_").removeprefix("RUNTIME_STATE_")


@dataclass(frozen=True)
class TaskInfo:
    """One task of a run: name, state, start and end (UTC, None until known), error message (empty if none).

    ``outputs`` maps an output name to its artifacts' URIs (Vertex AI; empty on KFP).
    """

    name: str
    state: str
    start: datetime | None = None
    end: datetime | None = None
    error: str = ""
    outputs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        """The task's duration, None while it has not both started and ended."""
        return None if self.start is None or self.end is None else (self.end - self.start).total_seconds()


def _time(value: Any) -> datetime | None:
    """A proto Timestamp/DatetimeWithNanoseconds or kfp_server_api datetime as an aware UTC datetime; None if unset."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    moment = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return None if moment.year <= 1970 else moment  # an unset proto Timestamp reads as the epoch


def _message(error: Any) -> str:
    return (getattr(error, "message", "") or "") if error is not None else ""


def _vertex_task(detail: Any) -> TaskInfo:
    outputs = {
        name: tuple(a.uri for a in getattr(artifact_list, "artifacts", ()) if getattr(a, "uri", ""))
        for name, artifact_list in dict(getattr(detail, "outputs", {}) or {}).items()
    }
    return TaskInfo(
        name=detail.task_name,
        state=state_name(detail.state).removeprefix("STATE_") if detail.state else "PENDING",
        start=_time(detail.start_time),
        end=_time(detail.end_time),
        error=_message(getattr(detail, "error", None)),
        outputs=outputs,
    )


def vertex_tasks(resource: Any) -> tuple[TaskInfo, ...]:
    """The steps of a Vertex AI job (``aiplatform_v1.PipelineJob``): its task details less the pipeline's own DAG,
    the one task without a parent."""
    details = list(getattr(getattr(resource, "job_detail", None), "task_details", None) or ())
    has_parent = [d for d in details if getattr(d, "parent_task_id", 0)]
    return tuple(_vertex_task(d) for d in (has_parent or details))


def _kfp_task(detail: Any) -> TaskInfo:
    return TaskInfo(
        name=detail.display_name or detail.task_id or "",
        state=state_name(detail.state or "PENDING"),
        start=_time(detail.start_time),
        end=_time(detail.end_time),
        error=_message(detail.error),
    )


def kfp_tasks(run: Any) -> tuple[TaskInfo, ...]:
    """The tasks of a ``V2beta1Run`` (its ``run_details.task_details``; empty while KFP has none)."""
    details = getattr(getattr(run, "run_details", None), "task_details", None) or []
    return tuple(_kfp_task(d) for d in details)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def task_changes(before: tuple[TaskInfo, ...], after: tuple[TaskInfo, ...]) -> list[str]:
    """The tasks whose state changed between two reads of a run (``submit --wait`` prints them)."""
    old = {t.name: t.state for t in before}
    lines = []
    for task in after:
        if old.get(task.name) != task.state and task.name not in KFP_NON_STEPS:
            ended = task.state in SUCCEEDED or task.state in ENDED_BADLY
            took = f" after {_duration(task.seconds)}" if ended and task.seconds is not None else ""
            error = f": {' '.join(task.error.split())}" if task.error and task.state == "FAILED" else ""
            lines.append(f"  task {task.name} {task.state}{took}{error}")
    return lines
