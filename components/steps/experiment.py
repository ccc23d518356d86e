"""Experiment: file a finished run's parameters and metrics in Vertex AI Experiments, one experiment run per
pipeline job.

``PipelineJob.submit(experiment=…)`` files only the runs submitted by hand: a Vertex AI schedule cannot name an
experiment (``PipelineJob.create_schedule`` has no such argument), so its runs were never filed. This step is the
pipeline's last; it receives the experiment as a pipeline parameter (``experiment``, which ``submit`` and
``schedule create`` set on Vertex AI) and the job's name from the placeholder ``{{$.pipeline_job_name}}`` (the
one job placeholder that Vertex AI, KFP and kfp.local all resolve), and logs both models' parameters and metrics
in an experiment run named after the pipeline job. Submitted and scheduled runs land in the experiment the same
way. Project and region come from the variables Vertex AI sets in every job's container (``CLOUD_ML_PROJECT_ID``,
``CLOUD_ML_REGION``, which the Vertex AI SDK reads too), or from a full job resource name.

Anywhere else it does nothing and says why: no experiment given, or not on Vertex AI (KFP, where the run itself is
filed under the KFP experiment, and local runs, whose figures are in ``summary.json``).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_VERTEX_JOB = re.compile(r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/pipelineJobs/(?P<job>[^/]+)$")
#: Per-model figures of the summary logged as metrics (``scratch_accuracy`` …) when present.
MODEL_METRICS = (
    "accuracy",
    "macro_f1",
    "weighted_f1",
    "train_seconds",
    "train_cpu_seconds",
    "peak_memory_mb",
    "model_mb",
    "latency_p50_ms",
    "latency_p95_ms",
    "throughput_per_second",
)
MAX_TEXT = 500  # a parameter that is a long list or mapping is cut here (metadata, not a data store)
MAX_CONTEXT_ID = 128  # Vertex AI Metadata context ids (an experiment run's is "<experiment>-<run>")


@dataclass(frozen=True)
class ExperimentRecord:
    """What one pipeline run logs in the experiment.

    Attributes:
        params: Task, winner and the steps' parameters and both models' training choices (numbers and texts).
        metrics: Both models' scores and costs (``scratch_accuracy``, ``automl_train_seconds`` …), the headline
            ratios and each step's wall seconds.
    """

    params: dict[str, float | int | str]
    metrics: dict[str, float | int]


def _value(value: Any) -> float | int | str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | str):
        return value
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def experiment_record(summary: Mapping[str, Any], pipeline_job: str = "") -> ExperimentRecord:
    """The parameters and metrics of a run, from its ``summary.json``.

    Args:
        summary: The profile step's summary (``components.steps.profile.build_summary``).
        pipeline_job: The pipeline job's resource name, kept as a parameter to find the run again.

    Returns:
        Parameters (texts and numbers) and metrics (numbers only), keys as in the summary joined by ``_``.
    """
    params: dict[str, float | int | str] = {
        "task": summary["task"],
        "winner": summary["winner"],
        "winner_metric": summary["winner_metric"],
        "train_rows": summary["rows"]["train"],
        "test_rows": summary["rows"]["test"],
        "labels": len(summary["labels"]),
    }
    if pipeline_job:
        params["pipeline_job"] = pipeline_job
    for step, values in (summary.get("parameters") or {}).items():
        params.update({f"{step}_{name}": _value(value) for name, value in values.items()})
    metrics: dict[str, float | int] = {}
    for model, figures in summary["models"].items():
        metrics.update({f"{model}_{key}": figures[key] for key in MODEL_METRICS if _is_number(figures.get(key))})
        training = figures.get("training") or {}
        params.update({f"{model}_{key}": _value(value) for key, value in training.items()})
    metrics.update({key: value for key, value in (summary.get("headline") or {}).items() if _is_number(value)})
    metrics.update({f"{step}_wall_seconds": s["wall_seconds"] for step, s in summary["steps"].items()})
    return ExperimentRecord(params, metrics)


def run_name(job_id: str, experiment: str) -> str:
    """The experiment run's name: the pipeline job's id, in the form Vertex AI accepts (``[a-z0-9-]``, short
    enough that ``<experiment>-<run>`` is a valid metadata id)."""
    name = re.sub(r"[^a-z0-9-]+", "-", job_id.lower()).strip("-") or "run"
    return name[: MAX_CONTEXT_ID - len(experiment) - 1].rstrip("-")


def vertex_job(pipeline_job: str, environ: Mapping[str, str]) -> tuple[str, str, str] | None:
    """``(project, location, job id)`` of the Vertex AI pipeline job this step runs in; None elsewhere.

    Args:
        pipeline_job: The job's name (``{{$.pipeline_job_name}}``) or full resource name
            (``projects/P/locations/L/pipelineJobs/ID``).
        environ: The container's environment (Vertex AI sets ``CLOUD_ML_PROJECT_ID`` and ``CLOUD_ML_REGION``).
    """
    match = _VERTEX_JOB.match(pipeline_job)
    if match is not None:
        return match["project"], match["location"], match["job"]
    project, location = environ.get("CLOUD_ML_PROJECT_ID", ""), environ.get("CLOUD_ML_REGION", "")
    return (project, location, pipeline_job) if project and location and pipeline_job else None


def log_to_experiment(
    summary: Mapping[str, Any],
    experiment: str,
    pipeline_job: str,
    sdk: Any = None,
    environ: Mapping[str, str] = os.environ,
) -> str:
    """Logs the run in Vertex AI Experiments when it runs on Vertex AI and an experiment is named.

    Args:
        summary: The run's summary.
        experiment: Experiment name; empty: nothing is logged.
        pipeline_job: The job's name or resource name (see :func:`vertex_job`).
        sdk: ``google.cloud.aiplatform`` (replaced in tests).
        environ: The container's environment (replaced in tests).

    Returns:
        One line saying what was done, or why nothing was.
    """
    if not experiment:
        return "experiment: none given (parameter 'experiment' is empty); nothing logged"
    job = vertex_job(pipeline_job, environ)
    if job is None:
        return (
            f"experiment: job {pipeline_job!r} does not run on Vertex AI (no CLOUD_ML_PROJECT_ID/CLOUD_ML_REGION); "
            "nothing logged (summary.json has every figure)"
        )
    if sdk is None:
        from google.cloud import aiplatform as sdk
    from google.api_core.exceptions import AlreadyExists

    project, location, job_id = job
    record = experiment_record(summary, pipeline_job)
    run = run_name(job_id, experiment)
    sdk.init(project=project, location=location, experiment=experiment, experiment_tensorboard=False)
    try:
        sdk.start_run(run=run, resume=False)
    except AlreadyExists:  # a retried step: the run was created by the attempt that failed
        sdk.start_run(run=run, resume=True)
    sdk.log_params(record.params)
    sdk.log_metrics(record.metrics)
    sdk.end_run()
    counts = f"{len(record.params)} parameters, {len(record.metrics)} metrics"
    return f"experiment: logged run {run!r} in {experiment!r} ({counts})"
