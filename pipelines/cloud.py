"""Submit and schedule the compiled pipeline on Vertex AI Pipelines or on KFP standalone; list, pause, delete.

The SDK objects that talk to the services are parameters (``pipeline_job_cls``, ``schedule_cls`` for Vertex AI,
``client`` for KFP) so tests can replace exactly that network boundary; by default they are
``google.cloud.aiplatform.PipelineJob`` / ``PipelineJobSchedule`` and ``kfp.Client(host=...)``, looked up when
called (never at import time).

Cron: users write the standard 5-field form (``minute hour day-of-month month day-of-week``), in UTC, which
Vertex AI takes as is; on Vertex AI a ``TZ=Area/City `` or ``CRON_TZ=Area/City `` prefix sets another time zone.
KFP's scheduler (robfig/cron) takes 6 fields with *seconds first*, so :func:`to_kfp_cron` prefixes ``"0 "``:
given to KFP unconverted, ``0 * * * *`` would mean "second 0 of every minute", i.e. every minute. KFP
recurring runs are UTC, so :func:`to_kfp_cron` refuses a time-zone prefix.

Waiting (:func:`wait_for_run`) polls the run's state (``PipelineJob.get(...).state`` on Vertex AI,
``kfp.Client.get_run`` on KFP) and reports every change; :func:`upload_template` puts a compiled template in an
Artifact Registry KFP repository with ``kfp.registry.RegistryClient``.
"""

from __future__ import annotations

import re
import time
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipelines.run_state import ENDED_BADLY, SUCCEEDED, kfp_tasks, state_name, task_changes, vertex_tasks

VERTEX_CONSOLE = (
    "https://console.cloud.google.com/vertex-ai/locations/{location}/pipelines/{kind}/{id}?project={project}"
)
_VERTEX_RESOURCE = re.compile(
    r"^projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/(?P<kind>[A-Za-z]+)/(?P<id>[^/]+)$"
)
_LABEL = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE = re.compile(r"^[a-z0-9_-]{0,63}$")

# Cron fields of the 5-field form: name, lowest, highest, names allowed.
_CRON_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")),
    ("day-of-week", 0, 6, ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")),
)
_TZ_KEYS = ("TZ=", "CRON_TZ=")  # the time-zone prefixes Vertex AI accepts before the 5 fields
_KMS_LOCATION = re.compile(r"^projects/[^/]+/locations/(?P<location>[^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
_ARTIFACT_REGISTRY = re.compile(r"^https://[a-z0-9-]+-kfp\.pkg\.dev/[^/]+/[^/]+$")
#: Vertex AI keeps a metadata context named after the pipeline (pipelineInfo.name) and refuses an experiment of
#: the same name (an experiment is a context too, of another type).
PIPELINE_NAME = "emotion-pipeline"


class CloudError(ValueError):
    """A submit/schedule request that cannot work (bad cron, label, target, missing setting), named in the message."""


@dataclass(frozen=True)
class Target:
    """Where runs go.

    Attributes:
        kind: ``vertex`` or ``kfp``.
        project: Vertex AI project id.
        region: Vertex AI region.
        pipeline_root: Artifact root (``gs://…`` on Vertex AI; empty on KFP: the cluster's object store).
        service_account: Vertex AI: service account email; KFP: Kubernetes service account.
        experiment: Experiment the runs are filed under (never the pipeline's name, see :data:`PIPELINE_NAME`).
        kfp_host: KFP API/UI address (``http://localhost:8080``).
        network: Vertex AI: VPC network the runs are peered with (``projects/NUMBER/global/networks/NAME``).
        encryption_spec_key_name: Vertex AI: customer-managed key (CMEK) of the runs, in ``region``.
        failure_policy: Vertex AI: ``fast`` (no new task after a failure) or ``slow``; empty: the service's.
    """

    kind: str
    project: str = ""
    region: str = ""
    pipeline_root: str = ""
    service_account: str = ""
    experiment: str = ""
    kfp_host: str = ""
    network: str = ""
    encryption_spec_key_name: str = ""
    failure_policy: str = ""

    def check(self, runs: bool = True) -> None:
        """Raises CloudError naming the setting (and its flag) that this target still needs.

        Args:
            runs: The target will start runs (submit, schedule), so Vertex AI needs a pipeline root too;
                False for listing, pausing or deleting schedules.
        """
        if runs:
            check_experiment(self.experiment)
        if self.kind == "vertex":
            self._check_vertex_options()
            needed = {
                "project": "pass --project, set GOOGLE_CLOUD_PROJECT, or run 'gcloud config set project PROJECT_ID'",
                "region": "pass --region, set GOOGLE_CLOUD_REGION, or run 'gcloud config set ai/region REGION'",
            }
            if runs:
                needed["pipeline_root"] = "set it in the environment file or pass --pipeline-root"
            for name, fix in needed.items():
                if not getattr(self, name):
                    raise CloudError(f"Vertex AI needs {name}: {fix}")
            if "{" in self.pipeline_root + self.service_account:
                raise CloudError(
                    f"{self.pipeline_root or self.service_account}: a placeholder left unfilled; Vertex AI needs the "
                    "project and region (--project/--region, GOOGLE_CLOUD_PROJECT/GOOGLE_CLOUD_REGION or gcloud config)"
                )
            if runs and not self.pipeline_root.startswith("gs://"):
                raise CloudError(f"Vertex AI needs a gs:// pipeline_root, got {self.pipeline_root!r}")
        elif self.kind == "kfp":
            if not re.match(r"^https?://", self.kfp_host):
                raise CloudError(f"KFP needs kfp_host as http(s)://host:port (--kfp-host), got {self.kfp_host!r}")
            for name in ("network", "encryption_spec_key_name", "failure_policy"):
                if getattr(self, name):
                    raise CloudError(
                        f"{name}: a Vertex AI setting that KFP has no equivalent for; leave it out (environment "
                        f"file or --{name.replace('_', '-')}) when sending to KFP"
                    )
        else:
            raise CloudError(f"target: expected vertex or kfp, got {self.kind!r}")

    def _check_vertex_options(self) -> None:
        """The failure policy is fast or slow; a CMEK key lives in the region of the runs."""
        if self.failure_policy not in ("", "fast", "slow"):
            raise CloudError(f"failure_policy: expected fast or slow, got {self.failure_policy!r}")
        if self.encryption_spec_key_name:
            key = _KMS_LOCATION.match(self.encryption_spec_key_name)
            if key is None:
                raise CloudError(
                    f"encryption_spec_key_name: expected projects/P/locations/L/keyRings/R/cryptoKeys/K, got "
                    f"{self.encryption_spec_key_name!r}"
                )
            if self.region and key["location"] != self.region:
                raise CloudError(
                    f"encryption_spec_key_name: the key is in {key['location']!r} but the runs are in "
                    f"{self.region!r}; Vertex AI needs a key in the runs' region"
                )
        if self.network and not re.match(r"^projects/[^/]+/global/networks/[^/]+$", self.network):
            raise CloudError(f"network: expected projects/PROJECT_NUMBER/global/networks/NAME, got {self.network!r}")


def check_experiment(experiment: str, pipeline_name: str = PIPELINE_NAME) -> None:
    """Refuses an experiment named like the pipeline.

    Raises:
        CloudError: ``experiment`` equals ``pipeline_name``: Vertex AI keeps a metadata context of that name for
            the pipeline itself and refuses an experiment with it (refused on KFP too, so that one environment
            file works on both).
    """
    if experiment and experiment == pipeline_name:
        raise CloudError(
            f"experiment {experiment!r} is the pipeline's name: Vertex AI keeps a metadata context of that name "
            f"for the pipeline itself and refuses an experiment with it; use another (e.g. {pipeline_name}-runs)"
        )


@dataclass(frozen=True)
class RunRequest:
    """One run (or the runs of a schedule) of a compiled pipeline.

    Attributes:
        template_path: Compiled pipeline YAML (local path; on Vertex AI also gs:// or an Artifact Registry URL).
        display_name: Run name shown in the UI; for a schedule, the schedule's name.
        parameters: Pipeline parameters.
        enable_caching: None keeps the per-step settings compiled into the template (fingerprint and
            log_experiment never cached); False turns caching off for every step. True is refused: it would
            cache fingerprint, and ingest could then serve stale data.
        labels: Vertex AI labels.
    """

    template_path: str
    display_name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    enable_caching: bool | None = None
    labels: Mapping[str, str] = field(default_factory=dict)

    def check(self) -> None:
        """Raises CloudError for a missing template, caching forced on, or a label Vertex AI would refuse."""
        if "://" not in self.template_path and not Path(self.template_path).is_file():
            raise CloudError(f"{self.template_path}: compiled pipeline not found (emotion-pipeline compile)")
        if self.enable_caching is True:
            raise CloudError(
                "enable_caching=True would override the compiled per-step settings and cache the fingerprint "
                "step (stale data); leave it unset or False"
            )
        for key, value in self.labels.items():
            if not _LABEL.match(key) or not _LABEL_VALUE.match(value):
                raise CloudError(
                    f"label {key}={value}: keys start with a lower-case letter; keys and values use only "
                    "lower-case letters, digits, '-' and '_' (at most 63 characters)"
                )


@dataclass(frozen=True)
class Submitted:
    """A run or schedule the service accepted: its id and the link to it in the UI."""

    id: str
    link: str


@dataclass(frozen=True)
class ScheduleInfo:
    """One schedule as listed: id (Vertex AI resource name or KFP recurring run id), name, state, cron."""

    id: str
    name: str
    state: str
    cron: str


# --- cron ---------------------------------------------------------------------------------------------------


def split_cron_timezone(expression: str) -> tuple[str, str]:
    """Splits a leading ``TZ=Area/City`` or ``CRON_TZ=Area/City`` off a cron expression.

    Returns:
        ``(prefix, fields)``: the prefix as written (``""`` when there is none) and the rest.

    Raises:
        CloudError: The prefix names no time zone of the IANA database.
    """
    first, _, rest = expression.strip().partition(" ")
    key = next((k for k in _TZ_KEYS if first.upper().startswith(k)), "")
    if not key:
        return "", expression
    zone = first[len(key) :]
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CloudError(
            f"cron {expression!r}: {zone!r} is not a time zone; write the prefix as "
            f"{key}Area/City (IANA name, e.g. {key}Europe/Berlin) or leave it out for UTC"
        ) from None
    return f"{first[: len(key)].upper()}{zone}", rest


def validate_cron(expression: str) -> str:
    """Checks a 5-field cron expression (``minute hour day-of-month month day-of-week``), UTC unless prefixed.

    Args:
        expression: e.g. ``"0 6 * * 1"`` (Mondays 06:00 UTC) or ``"TZ=Europe/Berlin 0 6 * * 1"`` (Vertex AI
            only). ``*``, lists ``a,b``, ranges ``a-b`` (low to high) and steps ``*/n`` / ``a-b/n`` are
            allowed; months and weekdays may be names (``JAN``, ``MON``).

    Returns:
        The expression with single spaces (and the time-zone prefix, if given, first).

    Raises:
        CloudError: Unknown time zone, not 5 fields, a field outside its range or a reversed range (named).
    """
    prefix, rest = split_cron_timezone(expression)
    fields = rest.split()
    if len(fields) != 5:
        hint = " (give the 5-field form; the seconds field is added for KFP)" if len(fields) == 6 else ""
        raise CloudError(
            f"cron {expression!r}: expected 5 fields 'minute hour day-of-month month day-of-week', "
            f"got {len(fields)}{hint}"
        )
    for text, (name, low, high, names) in zip(fields, _CRON_FIELDS, strict=True):
        for part in text.split(","):
            _check_cron_part(part, name, low, high, names, expression)
    return " ".join([prefix, *fields] if prefix else fields)


def _check_cron_part(part: str, name: str, low: int, high: int, names: tuple[str, ...], expression: str) -> None:
    def fail(why: str) -> CloudError:
        return CloudError(f"cron {expression!r}: {name} field {part!r}: {why}")

    base, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        raise fail("the step after '/' must be a whole number > 0")
    if base == "*":
        return
    bounds = base.split("-")
    if len(bounds) > 2 or not all(bounds):
        raise fail("expected *, a number, a range a-b, or a list a,b")
    values = []
    for bound in bounds:
        if bound.upper() in names:
            values.append(low + names.index(bound.upper()))
            continue
        if not bound.isdigit():
            raise fail(f"{bound!r} is not a number" + (f" or one of {', '.join(names)}" if names else ""))
        if not low <= int(bound) <= high:
            raise fail(f"{bound} is outside {low}-{high}")
        values.append(int(bound))
    if len(values) == 2 and values[0] > values[1]:
        raise fail(f"the range runs backwards; write it low-high (e.g. {bounds[1]}-{bounds[0]}) or as a list")


def to_kfp_cron(expression: str) -> str:
    """Converts the 5-field form to KFP's 6-field form (seconds first): ``"0 6 * * 1"`` → ``"0 0 6 * * 1"``.

    Raises:
        CloudError: Invalid, or with a time-zone prefix (KFP recurring runs are UTC).
    """
    checked = validate_cron(expression)
    prefix, _ = split_cron_timezone(checked)
    if prefix:
        raise CloudError(
            f"cron {expression!r}: KFP recurring runs are UTC and take no time-zone prefix; drop {prefix!r} "
            "and give the time in UTC"
        )
    return "0 " + checked


def from_kfp_cron(expression: str) -> str:
    """KFP's 6-field cron back in the 5-field form users give (``"0 0 6 * * 1"`` → ``"0 6 * * 1"``).

    A 6-field expression whose seconds field is not ``0`` has no 5-field form and is returned unchanged.
    """
    fields = expression.split()
    if len(fields) == 6 and fields[0] == "0":
        return " ".join(fields[1:])
    return expression


# --- links -----------------------------------------------------------------------------------------------


def vertex_console_link(resource_name: str) -> str:
    """The Cloud Console page of a Vertex AI pipeline job or schedule, from its resource name."""
    match = _VERTEX_RESOURCE.match(resource_name)
    if match is None:
        raise CloudError(f"not a Vertex AI resource name: {resource_name!r}")
    kinds = {"pipelineJobs": "runs", "schedules": "schedules"}
    return VERTEX_CONSOLE.format(
        location=match["location"],
        kind=kinds.get(match["kind"], match["kind"]),
        id=match["id"],
        project=match["project"],
    )


def kfp_run_link(host: str, run_id: str) -> str:
    """The KFP UI page of a run."""
    return f"{host.rstrip('/')}/#/runs/details/{run_id}"


def kfp_recurring_run_link(host: str, recurring_run_id: str) -> str:
    """The KFP UI page of a recurring run (schedule)."""
    return f"{host.rstrip('/')}/#/recurringrun/details/{recurring_run_id}"


# --- SDK boundary defaults ------------------------------------------------------------------------------


def _vertex_pipeline_job_cls() -> Any:
    from google.cloud import aiplatform

    return aiplatform.PipelineJob


def _vertex_schedule_cls() -> Any:
    from google.cloud import aiplatform

    return aiplatform.PipelineJobSchedule


def _kfp_client(host: str) -> Any:
    import kfp

    return kfp.Client(host=host)


def _registry_client_cls() -> Any:
    from kfp.registry import RegistryClient

    return RegistryClient


# --- schedule window ----------------------------------------------------------------------------------------


def schedule_time(value: str, name: str = "start_time") -> str:
    """A schedule's start or end as both services take it: RFC 3339 in UTC, ``2026-01-05T06:00:00Z``.

    Args:
        value: ISO 8601 date or time (``2026-01-05``, ``2026-01-05T07:00+01:00``); UTC when it names no zone.
        name: The setting, for the message.

    Raises:
        CloudError: Not an ISO 8601 date or time.
    """
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise CloudError(
            f"{name} {value!r}: expected an ISO 8601 date or time, e.g. 2026-01-05 or 2026-01-05T06:00:00Z"
        ) from None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def check_schedule_window(start_time: str | None, end_time: str | None) -> None:
    """Raises CloudError when a schedule would end before it starts (both already in :func:`schedule_time` form)."""
    if start_time and end_time and end_time <= start_time:
        raise CloudError(f"end_time {end_time} is not after start_time {start_time}: the schedule would never run")


# --- Vertex AI ------------------------------------------------------------------------------------------


def _vertex_job(request: RunRequest, target: Target, pipeline_job_cls: Any) -> Any:
    return pipeline_job_cls(
        display_name=request.display_name,
        template_path=request.template_path,
        pipeline_root=target.pipeline_root,
        parameter_values=dict(request.parameters),
        enable_caching=request.enable_caching,
        encryption_spec_key_name=target.encryption_spec_key_name or None,
        labels=dict(request.labels),
        project=target.project,
        location=target.region,
        failure_policy=target.failure_policy or None,
    )


def _sdk_experiment(request: RunRequest, target: Target) -> str | None:
    """The experiment for ``PipelineJob.submit``: none when the run's ``experiment`` parameter carries it (the
    pipeline's last step then files the run, as for scheduled runs); the target's for older templates."""
    return None if "experiment" in request.parameters else (target.experiment or None)


def check_vertex_template(template_path: str) -> None:
    """Vertex AI reads one YAML document; a template compiled with a Kubernetes platform spec has two.

    Raises:
        CloudError: The local template carries the KFP-on-Kubernetes platform spec (image pull policy).
    """
    if "://" in template_path or not Path(template_path).is_file():
        return  # remote: Vertex AI reads it; missing: RunRequest.check says so
    import yaml

    documents = list(yaml.safe_load_all(Path(template_path).read_text(encoding="utf-8")))
    if len(documents) > 1:
        raise CloudError(
            f"{template_path}: compiled with a Kubernetes platform spec (image pull policy) that Vertex AI "
            "cannot read; compile without --image-pull-policy (e.g. --env vertex)"
        )


def check_template(template_path: str, target: Target) -> None:
    """Refuses a template the target cannot read, before anything is sent.

    Vertex AI: one YAML document (see :func:`check_vertex_template`); local, ``gs://`` or Artifact Registry.
    KFP: a local file only (``kfp.Client`` reads the template from this machine).

    Raises:
        CloudError: Naming the template and what to do instead.
    """
    if target.kind == "kfp":
        if "://" in template_path:
            raise CloudError(
                f"{template_path}: kfp.Client reads the template from this machine; download it and pass the "
                "local file (--template pipeline.yaml), or leave --template out to compile now"
            )
        return
    check_vertex_template(template_path)


def submit_vertex(request: RunRequest, target: Target, pipeline_job_cls: Any = None) -> Submitted:
    """Submits one run to Vertex AI Pipelines (returns once accepted; does not wait for the run).

    Args:
        request: Template, name, parameters, caching, labels.
        target: Vertex AI project, region, pipeline root, service account, experiment.
        pipeline_job_cls: ``aiplatform.PipelineJob`` (replaced in tests).

    Returns:
        The job's resource name and its Cloud Console link.
    """
    request.check()
    target.check()
    check_template(request.template_path, target)
    job = _vertex_job(request, target, pipeline_job_cls or _vertex_pipeline_job_cls())
    job.submit(
        service_account=target.service_account or None,
        network=target.network or None,
        experiment=_sdk_experiment(request, target),
    )
    return Submitted(job.resource_name, vertex_console_link(job.resource_name))


def schedule_vertex(
    request: RunRequest,
    target: Target,
    cron: str,
    max_concurrent_run_count: int = 1,
    max_run_count: int | None = None,
    pipeline_job_cls: Any = None,
    allow_queueing: bool = False,
    window: tuple[str | None, str | None] = (None, None),
) -> Submitted:
    """Creates a Vertex AI pipeline schedule (5-field cron, UTC unless ``TZ=``) that runs the template.

    ``PipelineJob.create_schedule`` has no experiment argument: the schedule's runs reach the experiment through
    the pipeline's ``experiment`` parameter (its last step logs them). ``allow_queueing``: a run due while
    ``max_concurrent_run_count`` runs are active waits instead of being skipped. ``window``: ``(start_time,
    end_time)`` in :func:`schedule_time` form; None: from now, without end.
    """
    request.check()
    target.check()
    check_template(request.template_path, target)
    expression = validate_cron(cron)
    check_schedule_window(*window)
    job = _vertex_job(request, target, pipeline_job_cls or _vertex_pipeline_job_cls())
    schedule = job.create_schedule(
        cron=expression,
        display_name=request.display_name,
        start_time=window[0],
        end_time=window[1],
        allow_queueing=allow_queueing,
        max_concurrent_run_count=max_concurrent_run_count,
        max_run_count=max_run_count,
        service_account=target.service_account or None,
        network=target.network or None,
    )
    return Submitted(schedule.resource_name, vertex_console_link(schedule.resource_name))


def _vertex_state(schedule: Any) -> str:
    state = getattr(schedule, "state", None)
    return getattr(state, "name", str(state))


# --- KFP --------------------------------------------------------------------------------------------------


def submit_kfp(request: RunRequest, target: Target, client: Any = None) -> Submitted:
    """Submits one run to KFP standalone (kind/minikube/any cluster) under the target's experiment.

    Args:
        request: Template, name, parameters, caching.
        target: KFP host, experiment, optional pipeline root and Kubernetes service account.
        client: ``kfp.Client(host=target.kfp_host)`` (replaced in tests).

    Returns:
        The run id and its KFP UI link.
    """
    request.check()
    target.check()
    check_template(request.template_path, target)
    client = client or _kfp_client(target.kfp_host)
    result = client.create_run_from_pipeline_package(
        pipeline_file=request.template_path,
        arguments=dict(request.parameters),
        run_name=kfp_run_name(request.display_name, request.labels),
        experiment_name=target.experiment or None,
        pipeline_root=target.pipeline_root or None,
        enable_caching=request.enable_caching,
        service_account=target.service_account or None,
    )
    return Submitted(result.run_id, kfp_run_link(target.kfp_host, result.run_id))


def kfp_run_name(display_name: str, labels: Mapping[str, str]) -> str:
    """A KFP run's name with the run's labels: ``kfp.Client`` has no labels, so they are kept where the KFP UI
    shows and searches them (``emotion-pipeline-20260101-060000 app=emotion-pipeline team=ml``)."""
    return " ".join([display_name, *(f"{key}={value}" for key, value in labels.items())])


def schedule_kfp(
    request: RunRequest,
    target: Target,
    cron: str,
    max_concurrency: int = 1,
    client: Any = None,
    window: tuple[str | None, str | None] = (None, None),
) -> Submitted:
    """Creates a KFP recurring run; the 5-field cron is converted to KFP's 6 fields; missed runs are not caught up.

    ``window``: ``(start_time, end_time)`` in :func:`schedule_time` form; None: from now, without end.
    """
    request.check()
    target.check()
    check_template(request.template_path, target)
    expression = to_kfp_cron(cron)
    check_schedule_window(*window)
    client = client or _kfp_client(target.kfp_host)
    experiment = client.create_experiment(name=target.experiment or "Default")
    recurring = client.create_recurring_run(
        experiment_id=experiment.experiment_id,
        job_name=kfp_run_name(request.display_name, request.labels),
        start_time=window[0],
        end_time=window[1],
        cron_expression=expression,
        max_concurrency=max_concurrency,
        no_catchup=True,
        params=dict(request.parameters),
        pipeline_package_path=request.template_path,
        pipeline_root=target.pipeline_root or None,
        enable_caching=request.enable_caching,
        service_account=target.service_account or None,
    )
    return Submitted(recurring.recurring_run_id, kfp_recurring_run_link(target.kfp_host, recurring.recurring_run_id))


# --- one entry point per verb ---------------------------------------------------------------------------


def submit(request: RunRequest, target: Target, *, pipeline_job_cls: Any = None, client: Any = None) -> Submitted:
    """Submits one run to the target's service (see :func:`submit_vertex`, :func:`submit_kfp`)."""
    if target.kind == "kfp":
        return submit_kfp(request, target, client)
    return submit_vertex(request, target, pipeline_job_cls)


def create_schedule(
    request: RunRequest,
    target: Target,
    cron: str,
    max_concurrent: int = 1,
    max_run_count: int | None = None,
    *,
    allow_queueing: bool = False,
    start_time: str | None = None,
    end_time: str | None = None,
    pipeline_job_cls: Any = None,
    client: Any = None,
) -> Submitted:
    """Creates a schedule on the target's service; ``max_run_count`` and ``allow_queueing`` exist on Vertex AI only.

    ``start_time``/``end_time``: ISO 8601 (see :func:`schedule_time`); None: from now, without end.
    """
    window = tuple(
        None if value is None else schedule_time(value, name)
        for value, name in ((start_time, "start_time"), (end_time, "end_time"))
    )
    if target.kind == "kfp":
        if max_run_count is not None:
            raise CloudError("max_run_count: KFP recurring runs have no run limit; delete the schedule instead")
        if allow_queueing:
            raise CloudError("allow_queueing: KFP recurring runs cannot queue runs (Vertex AI only)")
        return schedule_kfp(request, target, cron, max_concurrent, client, window)
    return schedule_vertex(
        request, target, cron, max_concurrent, max_run_count, pipeline_job_cls, allow_queueing, window
    )


def list_schedules(
    target: Target, name_filter: str = "", *, schedule_cls: Any = None, client: Any = None
) -> list[ScheduleInfo]:
    """Lists the target's schedules (Vertex AI: in the project/region; KFP: all recurring runs), optionally by name."""
    target.check(runs=False)
    if target.kind == "kfp":
        client = client or _kfp_client(target.kfp_host)
        items = [
            ScheduleInfo(id=r.recurring_run_id, name=r.display_name, state=str(r.status), cron=_kfp_trigger(r))
            for r in _all_recurring_runs(client)
        ]
    else:
        schedule_cls = schedule_cls or _vertex_schedule_cls()
        found = schedule_cls.list(project=target.project, location=target.region)
        items = [ScheduleInfo(s.resource_name, s.display_name, _vertex_state(s), s.cron) for s in found]
    return [item for item in items if name_filter in item.name]


def _all_recurring_runs(client: Any, page_size: int = 100) -> list[Any]:
    """Every recurring run, page after page (KFP returns ``next_page_token`` until the last page)."""
    runs: list[Any] = []
    token, seen = "", set()
    while True:
        response = client.list_recurring_runs(page_token=token, page_size=page_size)
        runs.extend(response.recurring_runs or [])
        token = getattr(response, "next_page_token", "") or ""
        if not token or token in seen:
            return runs
        seen.add(token)


def _kfp_trigger(recurring_run: Any) -> str:
    """The schedule of a KFP recurring run as users write it: 5-field cron, or ``every Ns`` for a period."""
    trigger = getattr(recurring_run, "trigger", None)
    cron = getattr(getattr(trigger, "cron_schedule", None), "cron", "") or ""
    if cron:
        return from_kfp_cron(cron)
    interval = getattr(getattr(trigger, "periodic_schedule", None), "interval_second", "") or ""
    return f"every {interval}s" if interval else ""


def change_schedule(
    target: Target, schedule_id: str, action: str, *, schedule_cls: Any = None, client: Any = None
) -> None:
    """Pauses, resumes or deletes one schedule by id (Vertex AI resource name or id; KFP recurring run id).

    Raises:
        CloudError: Unknown action.
    """
    if action not in ("pause", "resume", "delete"):
        raise CloudError(f"schedule action: expected pause, resume or delete, got {action!r}")
    target.check(runs=False)
    if target.kind == "kfp":
        client = client or _kfp_client(target.kfp_host)
        methods: dict[str, Callable[[str], Any]] = {
            "pause": client.disable_recurring_run,
            "resume": client.enable_recurring_run,
            "delete": client.delete_recurring_run,
        }
        methods[action](schedule_id)
        return
    schedule_cls = schedule_cls or _vertex_schedule_cls()
    schedule = schedule_cls.get(schedule_id, project=target.project, location=target.region)
    if action == "resume":  # Vertex replays the runs missed while paused unless told not to; KFP runs use no_catchup
        schedule.resume(catch_up=False)
    else:
        getattr(schedule, action)()


# --- waiting for a run ----------------------------------------------------------------------------------------

POLL_SECONDS = 20.0  # between two state reads: each read is one API call


@dataclass(frozen=True)
class RunOutcome:
    """How waiting for a run ended.

    Attributes:
        state: The last state read (``SUCCEEDED``, ``FAILED``, ``CANCELLED``, ``RUNNING`` at a timeout …).
        succeeded: The run succeeded.
        message: Why not: the service's error, or the timeout; empty on success.
    """

    state: str
    succeeded: bool
    message: str = ""


_Read = Callable[[], tuple[str, str, tuple[Any, ...]]]  # state, error, the tasks (pipelines.runs.TaskInfo)


def _vertex_reader(run_id: str, target: Target, pipeline_job_cls: Any) -> _Read:
    job = pipeline_job_cls.get(resource_name=run_id, project=target.project, location=target.region)

    def read() -> tuple[str, str, tuple[Any, ...]]:
        state = state_name(job.state)  # the property reads the job from the service; gca_resource is that read
        error = getattr(getattr(job.gca_resource, "error", None), "message", "") if state in ENDED_BADLY else ""
        return state, error or "", vertex_tasks(job.gca_resource)

    return read


def _kfp_reader(run_id: str, client: Any) -> _Read:
    def read() -> tuple[str, str, tuple[Any, ...]]:
        run = client.get_run(run_id=run_id)
        return state_name(run.state), getattr(getattr(run, "error", None), "message", "") or "", kfp_tasks(run)

    return read


def wait_for_run(
    run_id: str,
    target: Target,
    timeout_seconds: float | None = None,
    *,
    poll_seconds: float | None = None,
    report: Callable[[str], None] = print,
    pipeline_job_cls: Any = None,
    client: Any = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> RunOutcome:
    """Waits until a run ends or the time is up, reporting each change of the run's or a task's state.

    Lines: ``     40 s  RUNNING`` for the run, ``  task train-automl SUCCEEDED after 3m10s`` for a task (with the
    error of a task that failed).

    Args:
        run_id: The Vertex AI job's resource name or the KFP run id (:attr:`Submitted.id`).
        target: Where the run is.
        timeout_seconds: Stop waiting after this long (the run goes on); None: until the run ends.
        poll_seconds: Between two reads of the state; None: :data:`POLL_SECONDS`.
        report: Receives one line per state change.
        pipeline_job_cls: ``aiplatform.PipelineJob`` (replaced in tests).
        client: ``kfp.Client(host=target.kfp_host)`` (replaced in tests).
        sleep: ``time.sleep`` (replaced in tests).
        clock: ``time.monotonic`` (replaced in tests).

    Returns:
        The last state, whether it is a success, and the service's error message or the timeout.
    """
    if target.kind == "kfp":
        read = _kfp_reader(run_id, client or _kfp_client(target.kfp_host))
    else:
        read = _vertex_reader(run_id, target, pipeline_job_cls or _vertex_pipeline_job_cls())
    poll = POLL_SECONDS if poll_seconds is None else poll_seconds
    start, last, tasks = clock(), "", ()
    while True:
        state, error, now = read()
        elapsed = clock() - start
        if state != last:
            report(f"{elapsed:>7.0f} s  {state}")
            last = state
        for line in task_changes(tasks, now):
            report(line)
        tasks = now
        if state in SUCCEEDED:
            return RunOutcome(state, True)
        if state in ENDED_BADLY:
            return RunOutcome(state, False, error or f"the run ended {state}")
        if timeout_seconds is not None and elapsed >= timeout_seconds:
            return RunOutcome(
                state, False, f"still {state} after {timeout_seconds:g} s; stopped waiting (the run goes on)"
            )
        sleep(poll if timeout_seconds is None else min(poll, max(timeout_seconds - elapsed, 0.0)))


# --- template registry ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Uploaded:
    """A template in Artifact Registry: its package, version, and one ``submit --template`` URL per tag."""

    package: str
    version: str
    urls: tuple[str, ...]


def upload_template(
    template_path: str, registry: str, tags: Sequence[str], *, registry_client_cls: Any = None
) -> Uploaded:
    """Uploads a compiled template to an Artifact Registry KFP repository, with tags (``kfp.registry``).

    Vertex AI's template gallery lists the repository; ``submit --template URL`` runs a version by tag.

    Args:
        template_path: Compiled pipeline YAML (one document: Vertex AI reads it).
        registry: ``https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY``.
        tags: e.g. the commit and ``latest`` (a tag already on another version moves to this one).
        registry_client_cls: ``kfp.registry.RegistryClient`` (replaced in tests).

    Returns:
        The package (the pipeline's name), the version (``sha256:…``) and the URL of each tag.

    Raises:
        CloudError: Not an Artifact Registry KFP URL, no tag, or a template Vertex AI cannot read.
    """
    registry = registry.rstrip("/")
    if not _ARTIFACT_REGISTRY.match(registry):
        raise CloudError(f"registry {registry!r}: expected https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY")
    if not tags or not all(re.match(r"^[a-z0-9][a-z0-9._-]*$", tag, re.IGNORECASE) for tag in tags):
        raise CloudError(f"tags {list(tags)}: give at least one, of letters, digits, '.', '_' and '-'")
    check_vertex_template(template_path)
    client = (registry_client_cls or _registry_client_cls())(host=registry)
    package, version = client.upload_pipeline(file_name=template_path, tags=list(tags))
    return Uploaded(package, version, tuple(f"{registry}/{package}/{tag}" for tag in tags))
