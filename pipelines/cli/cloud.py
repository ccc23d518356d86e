"""The cloud and cluster commands of ``emotion-pipeline``: ``compile``, ``submit``, ``schedule`` and ``upload``.

The work is done by :mod:`pipelines.cloud` (SDK calls) and :mod:`pipelines.env_config` (environment files); run
parameters are built by :func:`pipelines.cli.parameters.build_run_parameters`, as for a local ``run``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from pipelines.cli.errors import CliError, UsageError
from pipelines.cli.parameters import (
    IMAGE_DATA_ROOT,
    add_arms_option,
    add_parameter_options,
    build_run_parameters,
    selected_arms,
)
from pipelines.cloud import (
    CloudError,
    RunRequest,
    Target,
    change_schedule,
    check_schedule_window,
    check_template,
    create_schedule,
    kfp_run_name,
    list_schedules,
    schedule_time,
    split_cron_timezone,
    submit,
    to_kfp_cron,
    upload_template,
    validate_cron,
    wait_for_run,
)
from pipelines.env_config import (
    FAILURE_POLICIES,
    PULL_POLICIES,
    STEP_NAMES,
    ConfigError,
    EnvConfig,
    load_env_config,
    with_pull_policy,
)
from pipelines.gcloud_config import (
    ProjectError,
    Resolved,
    check_project,
    fill_placeholders,
    resolve_project,
    resolve_region,
)
from pipelines.images import SOURCE_TAG, MutableImageError, check_template_images, fill_source_tag, source_tag

# Templates in an Artifact Registry KFP repository: read by Vertex AI with its own credentials, not by fsspec.
_ARTIFACT_REGISTRY = re.compile(r"^https://[a-z0-9-]+-kfp\.pkg\.dev/")
#: Why --notify cannot work with this stack (docs/cloud.md, "Alerts"): checked with pip against constraints.txt.
NOTIFY_BLOCKED = (
    "--notify is not available: the e-mail notification is a component of google-cloud-pipeline-components, and "
    "no release of it installs with this stack's pins (2.20-2.22 require google-cloud-aiplatform<2, pinned here "
    "at 2.7.0; 2.16-2.19 require kfp<2.11, pinned here at 2.17.0); alert on failure with submit --wait instead "
    "(exit status 1), or with a Cloud Monitoring alert on failed pipeline jobs (docs/cloud.md, 'Alerts')"
)


class ServiceError(CliError):
    """Vertex AI, KFP or Google sign-in refused the request or could not be reached; one line, no traceback."""


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _kfp_api_message(err: Any) -> str:
    body = getattr(err, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    detail = ""
    if body:
        try:
            parsed = json.loads(body)
            detail = (parsed.get("message") or parsed.get("error") or body) if isinstance(parsed, dict) else body
        except ValueError:
            detail = body
    status = " ".join(str(part) for part in (err.status, err.reason) if part)
    return f"{status}: {detail}" if detail else status


def service_error_message(err: BaseException, target: Target | None = None) -> str | None:
    """One line for an error of the services' SDKs (None for anything else, which stays a traceback)."""
    host = target.kfp_host if target is not None and target.kind == "kfp" else ""
    try:
        from google.auth import exceptions as auth_errors

        if isinstance(err, auth_errors.DefaultCredentialsError):
            return (
                f"no Google Cloud credentials found ({_one_line(err, 160)}); run "
                "'gcloud auth application-default login' or set GOOGLE_APPLICATION_CREDENTIALS"
            )
        if isinstance(err, auth_errors.GoogleAuthError):
            return f"Google sign-in failed: {_one_line(err)}"
    except ImportError:
        pass
    try:
        from google.api_core import exceptions as api_errors

        if isinstance(err, api_errors.GoogleAPICallError):
            return f"Google Cloud refused the request: {_one_line(err)}"
    except ImportError:
        pass
    try:
        from kfp_server_api.exceptions import ApiException

        if isinstance(err, ApiException):
            return f"KFP{' at ' + host if host else ''} refused the request: {_one_line(_kfp_api_message(err))}"
    except ImportError:
        pass
    try:
        from gcsfs.retry import HttpError as GcsHttpError

        if isinstance(err, GcsHttpError):
            return f"Cloud Storage refused the request: {_one_line(err)}"
    except ImportError:
        pass
    try:
        import requests  # kfp.registry.RegistryClient (Artifact Registry)

        if isinstance(err, requests.HTTPError):
            return f"Artifact Registry refused the request: {_one_line(err)}"
        if isinstance(err, requests.ConnectionError):
            return f"Artifact Registry is not reachable: {_one_line(err)}"
    except ImportError:
        pass
    try:
        from urllib3.exceptions import HTTPError

        if isinstance(err, HTTPError):
            return f"KFP{' at ' + host if host else ''} is not reachable: {_one_line(err)}"
    except ImportError:
        pass
    return None


def preflight_target(target: Target) -> None:
    """The fast checks before the first call to a service (:mod:`pipelines.preflight`): Google credentials for
    Vertex AI; for KFP, that ``--kfp-host`` is KFP's API. Each within seconds, one line.

    Raises:
        UsageError: Naming the target and the fix.
    """
    from pipelines import preflight

    try:
        if target.kind == "kfp":
            preflight.check_kfp_host(target.kfp_host)
        else:
            preflight.check_google_credentials(f"Vertex AI (project {target.project or '?'})")
    except preflight.PreflightError as err:
        raise UsageError(str(err)) from err


@contextmanager
def _service_calls(target: Target | None = None) -> Iterator[None]:
    """Turns the SDKs' errors (GoogleAPICallError, kfp_server_api ApiException, google.auth) into ServiceError."""
    try:
        yield
    except Exception as err:
        message = service_error_message(err, target)
        if message is None:
            raise
        raise ServiceError(message) from err


def _key_value(value: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {value!r}")
    return key.strip(), rest.strip()


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return number


# --- parsers -------------------------------------------------------------------------------------------------


PIPELINES = ("training", "batch-predict", "monitor")
#: Each pipeline's name (what compile writes, what submit and schedule name their runs after).
PIPELINE_NAMES = {
    "training": "emotion-pipeline",
    "batch-predict": "emotion-batch-predict",
    "monitor": "emotion-monitor",
}


def add_compile_options(cmd: argparse.ArgumentParser) -> None:
    """``--env``, ``--step-image``, ``--image-pull-policy`` and ``--pipeline``: options of ``compile`` (and of
    submit/schedule)."""
    cmd.add_argument(
        "--pipeline",
        default="training",
        choices=PIPELINES,
        help="training (emotion-pipeline), batch-predict (emotion-batch-predict: --registry URI and --set "
        "model=NAME@ALIAS --set input_uri=URI --set output_uri=URI) or monitor (emotion-monitor: --registry URI and "
        "--set model=NAME@ALIAS --set input_uri=URI, thresholds with --set too)",
    )
    cmd.add_argument(
        "--env", default="", help="environment: kind, minikube, vertex, or a YAML path (default: config/env/default)"
    )
    cmd.add_argument(
        "--step-image",
        action="append",
        default=[],
        type=_key_value,
        metavar="STEP=IMAGE",
        help=f"image of one step; repeatable; steps: {', '.join(STEP_NAMES)}",
    )
    cmd.add_argument(
        "--image-pull-policy",
        default="",
        choices=PULL_POLICIES[1:],
        help="Kubernetes image pull policy of every step (kfp-kubernetes); IfNotPresent for kind/minikube",
    )


def _add_target_options(cmd: argparse.ArgumentParser, with_env: bool = True) -> None:
    if with_env:
        cmd.add_argument("--env", default="", help="environment: kind, minikube, vertex, or a YAML path")
    cmd.add_argument("--kfp-host", default="", help="KFP API/UI URL (e.g. http://localhost:8080): submit to KFP")
    cmd.add_argument("--project", default="", help="Vertex AI project")
    cmd.add_argument("--region", default="", help="Vertex AI region")
    cmd.add_argument("--pipeline-root", default="", help="artifact root, gs://bucket/path on Vertex AI")
    cmd.add_argument("--service-account", default="", help="Vertex AI service account / KFP Kubernetes SA")
    cmd.add_argument(
        "--experiment", default="", help="experiment to file the runs under (not the pipeline's name; default: --env's)"
    )
    vertex = cmd.add_argument_group("Vertex AI enterprise options (default: --env's; refused on KFP)")
    vertex.add_argument("--network", default="", help="VPC to peer with: projects/PROJECT_NUMBER/global/networks/NAME")
    vertex.add_argument(
        "--encryption-spec-key-name",
        default="",
        metavar="KMS_KEY",
        help="CMEK: projects/P/locations/REGION/keyRings/R/cryptoKeys/K (in the runs' region)",
    )
    vertex.add_argument(
        "--failure-policy",
        default="",
        choices=FAILURE_POLICIES[1:],
        help="fast: no new task after the first failure; slow: run what can still run (Vertex AI's default)",
    )


def add_compile_parser(commands: Any) -> None:
    """``emotion-pipeline compile``: the pipeline as KFP IR YAML."""
    cmd = commands.add_parser("compile", help="write the pipeline as KFP IR YAML")
    cmd.add_argument("--output", type=Path, default=Path("pipeline.yaml"), help="YAML file to write")
    _add_image_options(cmd)
    add_compile_options(cmd)
    add_arms_option(cmd)
    _add_coordinate_options(cmd)
    cmd.set_defaults(handler=compile_command)


def _add_coordinate_options(cmd: argparse.ArgumentParser) -> None:
    """``--project``/``--region`` of compile and upload: they fill ``{project}``/``{region}`` in the images."""
    cmd.add_argument("--project", default="", help="project of {project} in --env's images (default: as for submit)")
    cmd.add_argument("--region", default="", help="region of {region} in --env's images (default: as for submit)")


def _add_image_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--image", default="", help="image with this package, for every step (default: --env's)")
    cmd.add_argument("--automl-image", default="", help="image of the AutoML arm's steps (default: --env's)")
    cmd.add_argument("--transformer-image", default="", help="image of the transformer arm's steps (default: --env's)")
    cmd.add_argument(
        "--serving-image", default="", help="image the scratch arm's versions are served from (default: --env's)"
    )


def _add_run_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--template", default="", help="compiled pipeline YAML; default: compile now with --env/--image")
    _add_image_options(cmd)
    add_compile_options(cmd)
    _add_target_options(cmd, with_env=False)
    add_parameter_options(cmd, cluster=True)
    cmd.add_argument("--label", action="append", default=[], type=_key_value, metavar="KEY=VALUE", help="run label")
    cmd.add_argument("--name", default="", help="run (or schedule) display name")
    cmd.add_argument(
        "--no-cache", action="store_true", help="turn caching off for every step (default: compiled settings)"
    )
    cmd.add_argument("--dry-run", action="store_true", help="compile and print the request; send nothing")


def _positive_seconds(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 seconds, got {value}")
    return number


def add_submit_parser(commands: Any) -> None:
    """``emotion-pipeline submit``: one run on Vertex AI or KFP."""
    cmd = commands.add_parser(
        "submit",
        help="submit one run to Vertex AI Pipelines or KFP (--kfp-host)",
        epilog="examples:\n  emotion-pipeline submit --env vertex --train gs://b/train.csv --wait --timeout 7200\n"
        "  emotion-pipeline submit --env vertex --template https://europe-west4-kfp.pkg.dev/P/R/emotion-pipeline/latest",
    )
    _add_run_options(cmd)
    cmd.add_argument(
        "--wait",
        action="store_true",
        help="wait for the run to end, printing each state change: exit 0 if it succeeded, 1 if it failed, was "
        "cancelled or is still running at --timeout",
    )
    cmd.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        metavar="S",
        help="stop waiting after S seconds (implies --wait; the run goes on); default: until the run ends",
    )
    cmd.add_argument("--notify", action="append", default=[], metavar="EMAIL", help="not available: see docs/cloud.md")
    cmd.set_defaults(handler=submit_command)


def add_upload_parser(commands: Any) -> None:
    """``emotion-pipeline upload``: the compiled template into Artifact Registry (Vertex AI's template gallery)."""
    cmd = commands.add_parser(
        "upload",
        help="put the compiled template in an Artifact Registry KFP repository, with tags",
        epilog="example:\n  emotion-pipeline upload --env vertex --tag $(git rev-parse --short HEAD) --tag latest\n"
        "then: emotion-pipeline submit --env vertex --template https://REGION-kfp.pkg.dev/PROJECT/REPO/"
        "emotion-pipeline/latest",
    )
    cmd.add_argument("--template", default="", help="compiled pipeline YAML; default: compile now with --env/--image")
    cmd.add_argument(
        "--registry",
        default="",
        help="https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY (default: --env's template_registry)",
    )
    cmd.add_argument(
        "--tag", action="append", default=[], metavar="TAG", help="version tag, repeatable (default: latest)"
    )
    _add_image_options(cmd)
    add_compile_options(cmd)
    _add_coordinate_options(cmd)
    cmd.set_defaults(handler=upload_command)


def add_schedule_parser(commands: Any) -> None:
    """``emotion-pipeline schedule create|list|pause|resume|delete``."""
    schedule = commands.add_parser("schedule", help="create, list, pause, resume or delete recurring runs")
    schedule.set_defaults(handler=schedule_command)
    actions = schedule.add_subparsers(dest="schedule_action", required=True)
    create = actions.add_parser("create", help="run the pipeline on a cron schedule")
    create.add_argument(
        "--cron",
        required=True,
        help="5 fields, UTC: 'minute hour day month weekday' (0 6 * * 1); Vertex AI only: 'TZ=Area/City 0 6 * * 1'",
    )
    create.add_argument("--max-concurrent", type=_positive_int, default=1, help="runs allowed at once")
    create.add_argument("--max-runs", type=_positive_int, default=None, help="stop after N runs (Vertex AI only)")
    create.add_argument(
        "--allow-queueing",
        action="store_true",
        help="a run due while --max-concurrent runs are active waits instead of being skipped (Vertex AI only)",
    )
    create.add_argument(
        "--start-time",
        default=None,
        metavar="ISO",
        help="first run not before (e.g. 2026-01-05T06:00Z; UTC if no zone)",
    )
    create.add_argument("--end-time", default=None, metavar="ISO", help="no run after this time (ISO 8601)")
    _add_run_options(create)
    listing = actions.add_parser("list", help="list schedules")
    _add_target_options(listing)
    listing.add_argument("--name-filter", default="", help="only schedules whose name contains this")
    for action in ("pause", "resume", "delete"):
        cmd = actions.add_parser(action, help=f"{action} one schedule")
        cmd.add_argument("schedule_id", help="Vertex AI schedule resource name or id; KFP recurring run id")
        _add_target_options(cmd)


# --- helpers -------------------------------------------------------------------------------------------------


def _step_images(pairs: list[tuple[str, str]]) -> dict[str, str]:
    images = {}
    for step, image in pairs:
        name = step.replace("-", "_")
        if name not in STEP_NAMES:
            raise UsageError(f"--step-image {step}={image}: unknown step; steps are {', '.join(STEP_NAMES)}")
        images[name] = image
    return images


def compile_template(args: argparse.Namespace, output: Path, config: EnvConfig | None = None) -> Path:
    """Compiles the pipeline with the images and step settings of ``--env`` and the image flags.

    ``--image`` replaces all of the environment's images; ``--automl-image``, ``--transformer-image``,
    ``--serving-image`` and ``--step-image`` refine.
    """
    from kfp import compiler

    from pipelines.emotion_pipeline import build_pipeline

    try:
        config = config or load_env_config(args.env or None)
        settings = config.settings
        if args.image_pull_policy:
            settings = with_pull_policy(settings, args.image_pull_policy)
    except ConfigError as err:
        raise UsageError(str(err)) from err
    if args.image:
        image, arm_images, step_images = args.image, {}, {}
    else:
        image, arm_images, step_images = config.images.default, config.images.for_arms(), dict(config.images.steps)
    if args.automl_image:
        arm_images["automl"] = args.automl_image
    if getattr(args, "transformer_image", None):
        arm_images["transformer"] = args.transformer_image
    if getattr(args, "serving_image", None):
        arm_images["serving"] = args.serving_image
    step_images.update(_step_images(args.step_image))
    image, arm_images, step_images = _filled_images(args, config, image, arm_images, step_images)
    automl_image = arm_images.get("automl", "")
    if getattr(args, "pipeline", "training") == "batch-predict":
        from pipelines.batch_pipeline import build_batch_pipeline

        pipeline = build_batch_pipeline(image, automl_image, settings)
    elif getattr(args, "pipeline", "training") == "monitor":
        from pipelines.monitor_pipeline import build_monitor_pipeline

        pipeline = build_monitor_pipeline(image, automl_image, settings)
    else:
        kind = "kfp" if getattr(args, "kfp_host", "") else config.target  # exit handler; lineage on Vertex AI
        pipeline = build_pipeline(selected_arms(args), image, arm_images, settings, step_images, target=kind)
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        compiler.Compiler().compile(pipeline, str(output))
    except OSError as err:
        raise UsageError(f"--output {output}: cannot write the template: {err.strerror or err}") from err
    try:
        check_template_images(str(output))
    except MutableImageError as err:
        output.unlink(missing_ok=True)
        raise UsageError(str(err)) from err
    return output


def _coordinates(args: argparse.Namespace, config: EnvConfig) -> tuple[Resolved, Resolved]:
    """Project and region: flag, environment, environment file, gcloud (:mod:`pipelines.gcloud_config`)."""
    return (
        resolve_project(getattr(args, "project", "") or "", config.project),
        resolve_region(getattr(args, "region", "") or "", config.region),
    )


def _filled_images(
    args: argparse.Namespace, config: EnvConfig, image: str, arm_images: dict[str, str], step_images: dict[str, str]
) -> tuple[str, dict[str, str], dict[str, str]]:
    """The images with the environment file's placeholders filled: ``{source_tag}`` (this checkout's content
    tag), ``{project}`` and ``{region}`` (resolved as for a run).

    Raises:
        UsageError: An image needs the project or region and neither is set anywhere.
    """
    tag = source_tag() if SOURCE_TAG in " ".join([image, *arm_images.values(), *step_images.values()]) else ""
    project, region = _coordinates(args, config)

    def fill(text: str) -> str:
        text = fill_source_tag(text, tag) if text else text
        for name, value in (("project", project), ("region", region)):
            if "{" + name + "}" in text and not value.value:
                raise UsageError(
                    f"image {text}: needs the {name}; pass --{name}, set "
                    f"{'GOOGLE_CLOUD_PROJECT' if name == 'project' else 'GOOGLE_CLOUD_REGION'}, or run 'gcloud config "
                    f"set {'project PROJECT_ID' if name == 'project' else 'ai/region REGION'}' (or pass --image)"
                )
        return fill_placeholders(text, project.value, region.value)

    arms = {key: fill(value) for key, value in arm_images.items()}
    return fill(image), arms, {step: fill(value) for step, value in step_images.items()}


def _target(args: argparse.Namespace, config: EnvConfig) -> Target:
    """Where the runs go: the flags over the environment file; on Vertex AI the project and region as gcloud
    users expect (:mod:`pipelines.gcloud_config`), a placeholder project in the environment file refused."""
    kind = "kfp" if args.kfp_host else config.target
    project, region = _coordinates(args, config) if kind == "vertex" else (Resolved("", ""), Resolved("", ""))
    if project.source == "environment file":  # what a user typed (flag, variable, gcloud) is theirs
        try:
            check_project(project, str(config.source))
        except ProjectError as err:
            raise UsageError(str(err)) from err

    def filled(text: str) -> str:
        return fill_placeholders(text, project.value, region.value) if project.value and region.value else text

    return Target(
        kind=kind,
        project=project.value,
        region=region.value,
        pipeline_root=filled(args.pipeline_root or config.pipeline_root),
        service_account=filled(args.service_account or config.service_account),
        experiment=args.experiment or config.experiment,
        kfp_host=args.kfp_host or config.kfp_host,
        network=args.network or (config.network if kind == "vertex" else ""),
        encryption_spec_key_name=args.encryption_spec_key_name
        or (config.encryption_spec_key_name if kind == "vertex" else ""),
        failure_policy=args.failure_policy or (config.failure_policy if kind == "vertex" else ""),
    )


def read_template(template: str) -> str | None:
    """The text of a compiled template: a local path, or a URI read through fsspec (``gs://`` via gcsfs).

    Returns:
        The YAML text; None for an Artifact Registry URL (``https://REGION-kfp.pkg.dev/…``), which Vertex AI
        reads with its own credentials.

    Raises:
        UsageError: The file or object does not exist.
    """
    if "://" not in template:
        path = Path(template)
        if not path.is_file():
            raise UsageError(f"{template}: compiled pipeline not found (emotion-pipeline compile --output …)")
        return path.read_text(encoding="utf-8")
    if _ARTIFACT_REGISTRY.match(template):
        return None
    if template.startswith("gs://"):  # gcsfs would retry for about 50 s without credentials
        from pipelines import preflight

        try:
            preflight.check_google_credentials(template)
        except preflight.PreflightError as err:
            raise UsageError(str(err)) from err
    import fsspec

    try:
        with fsspec.open(template, "r", encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError as err:
        raise UsageError(
            f"{template}: compiled pipeline not found; upload one (gcloud storage cp pipeline.yaml {template}) or "
            "leave --template out to compile now"
        ) from err


def template_parameters(template: Path | str, text: str | None = None) -> dict[str, Any]:
    """The pipeline parameters a compiled template declares (name → definition).

    Args:
        template: Local path of the template (read when ``text`` is not given).
        text: The template's YAML text, already read (e.g. from ``gs://`` by :func:`read_template`).
    """
    if text is None:
        text = Path(template).read_text(encoding="utf-8")
    spec = next(yaml.safe_load_all(text))  # 2nd document: platform spec
    return spec.get("root", {}).get("inputDefinitions", {}).get("parameters", {})


def run_parameters(
    args: argparse.Namespace, declared: dict[str, Any] | None, target: Target | None = None
) -> dict[str, Any]:
    """The run's pipeline parameters (as for a local run), checked against the template's parameters.

    Local relative paths are refused: the steps run in containers that cannot see this machine's files.
    ``declared=None`` (a template this machine cannot read) skips the template check: the service does it.
    A training run on Vertex AI without ``--registry`` registers in Vertex AI Model Registry of its project
    and region (``vertex://PROJECT/REGION``).
    """
    if getattr(args, "pipeline", "training") in ("batch-predict", "monitor"):
        from pipelines.cli.parameters import build_batch_parameters

        params = build_batch_parameters(args)
    else:
        params = build_run_parameters(args, cluster=True, target=target.kind if target is not None else "kfp")
        if target is not None and target.kind == "vertex" and not params.get("registry_uri"):
            params["registry_uri"] = f"vertex://{target.project}/{target.region}"
    unknown = sorted(set(params) - set(declared)) if declared is not None else []
    if unknown:
        raise UsageError(f"{unknown[0]}: the template has no such parameter; it has {sorted(declared)}")
    _refuse_local_paths(params, target)
    return params


def _refuse_local_paths(params: dict[str, Any], target: Target | None) -> None:
    """A cloud run's steps cannot read this machine's files: an absolute local path (``--train /home/…``) is
    refused before anything is sent (the image's own data, ``IMAGE_DATA_ROOT``, and Vertex AI's ``/gcs/BUCKET/…``
    mount excepted).

    Raises:
        UsageError: Naming the parameter, the path and the fix.
    """
    for name, value in params.items():
        for item in value if isinstance(value, list | tuple) else [value]:
            text = str(item) if isinstance(item, str | Path) else ""
            local = text.startswith(("/", "~", "file://")) and not text.startswith(IMAGE_DATA_ROOT + "/")
            if local and not (text.startswith("/gcs/") and (target is None or target.kind == "vertex")):
                where = "Vertex AI" if target is None or target.kind == "vertex" else "the cluster"
                raise UsageError(
                    f"{name} {text}: a path on this machine, which the steps on {where} cannot read; upload it "
                    "(gcloud storage cp FILE gs://BUCKET/…) and pass its gs:// URI"
                )


def _load_config(args: argparse.Namespace) -> EnvConfig:
    try:
        return load_env_config(args.env or None)
    except ConfigError as err:
        raise UsageError(str(err)) from err


def _template_for(args: argparse.Namespace, target: Target, config: EnvConfig, tmp: str) -> tuple[str, str | None]:
    """The template to send (``--template`` or compiled now into ``tmp``) and its text (None: Artifact Registry,
    which Vertex AI reads itself)."""
    # A remote template (gs://…, an Artifact Registry https URL) stays a string: Path would fold "//".
    template = args.template or str(compile_template(args, Path(tmp) / "pipeline.yaml", config))
    try:
        check_template(template, target)  # before reading it: KFP takes a local file only
    except CloudError as err:
        raise UsageError(str(err)) from err
    with _service_calls(target):
        text = read_template(template)
    if text is None:
        print(
            f"note: {template}: Artifact Registry templates are read by Vertex AI, not here; the parameters "
            "are checked by Vertex AI when the request arrives",
            file=sys.stderr,
        )
    return template, text


def _request(
    args: argparse.Namespace, default_name: str, target: Target, config: EnvConfig, template: str, text: str | None
) -> RunRequest:
    """The run request: parameters as for a local run and, on Vertex AI, the experiment as the ``experiment``
    parameter (the pipeline's last step files the run there, submitted or scheduled alike)."""
    declared = None if text is None else template_parameters(template, text)
    parameters = run_parameters(args, declared, target)
    training = _pipeline_name(args) == "emotion-pipeline"  # the batch-prediction pipeline logs no experiment
    if (
        target.kind == "vertex"
        and target.experiment
        and ((declared is None and training) or "experiment" in (declared or {}))
    ):
        parameters.setdefault("experiment", target.experiment)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return RunRequest(
        template_path=template,
        display_name=args.name or f"{default_name}-{stamp}",
        parameters=parameters,
        enable_caching=False if args.no_cache else None,
        labels={**config.labels, **dict(args.label)},
    )


def _with_request(args: argparse.Namespace, default_name: str, send: Any, shown: dict | None = None) -> int:
    """Compiles (unless --template), builds the request and target, then sends it (or prints it: --dry-run)."""
    config = _load_config(args)
    target = _target(args, config)
    with tempfile.TemporaryDirectory(prefix="emotion-pipeline-") as tmp:
        template, text = _template_for(args, target, config, tmp)
        try:
            request = _request(args, default_name, target, config, template, text)
            request.check()
            target.check()
            if args.dry_run:
                what = {"target": target.__dict__, "request": request.__dict__, **(shown or {})}
                if "cron" in what and target.kind == "kfp":
                    what["cron_sent"] = to_kfp_cron(what["cron"])
                print(json.dumps(what, indent=2, default=str))
                return 0
            preflight_target(target)
            with _service_calls(target):
                code = send(request, target)
        except CloudError as err:
            raise UsageError(str(err)) from err
    if target.kind == "kfp" and request.labels:
        name = kfp_run_name(request.display_name, request.labels)
        print(f"note: KFP runs have no labels; they were added to the run name: {name!r}", file=sys.stderr)
    return code


# --- handlers -----------------------------------------------------------------------------------------------


def _pipeline_name(args: argparse.Namespace) -> str:
    return PIPELINE_NAMES[getattr(args, "pipeline", "training")]


def compile_command(args: argparse.Namespace) -> int:
    """``emotion-pipeline compile``: prints the file it wrote."""
    print(f"compiled {compile_template(args, args.output)}")
    return 0


def submit_command(args: argparse.Namespace) -> int:
    """``emotion-pipeline submit``: prints the run id and its link; with ``--wait``, every state until the end.

    Returns:
        0 submitted (with ``--wait``: succeeded).

    Raises:
        UsageError: ``--notify`` (not available with this stack, see :data:`NOTIFY_BLOCKED`).
        CliError: With ``--wait``: the run failed, was cancelled, or was still running at ``--timeout``.
    """
    if args.notify:
        raise UsageError(NOTIFY_BLOCKED)
    wait = args.wait or args.timeout is not None

    def send(request: RunRequest, target: Target) -> int:
        result = submit(request, target)
        where = "KFP" if target.kind == "kfp" else "Vertex AI"
        print(f"submitted to {where}: {result.id}")
        print(f"run: {result.link}", flush=True)
        if not wait:
            return 0
        try:
            outcome = wait_for_run(result.id, target, args.timeout, report=lambda line: print(line, flush=True))
        except KeyboardInterrupt:
            raise CliError(f"stopped waiting (interrupted); the run goes on: {result.link}") from None
        if not outcome.succeeded:
            raise CliError(f"run {result.id} {outcome.state}: {outcome.message} ({result.link})")
        print(f"run succeeded: {result.link}")
        return 0

    return _with_request(args, _pipeline_name(args), send, {"wait": wait, "timeout": args.timeout})


def upload_command(args: argparse.Namespace) -> int:
    """``emotion-pipeline upload``: compiles (unless ``--template``) and uploads to Artifact Registry with tags.

    Returns:
        0 uploaded; prints the version and one ``submit --template`` URL per tag.
    """
    config = _load_config(args)
    registry = args.registry or config.template_registry
    if not registry:
        raise UsageError(
            "no registry: set template_registry in the environment file or pass --registry "
            "https://REGION-kfp.pkg.dev/PROJECT/REPOSITORY (an Artifact Registry repository of format KFP)"
        )
    with tempfile.TemporaryDirectory(prefix="emotion-pipeline-") as tmp:
        template = args.template or str(compile_template(args, Path(tmp) / "pipeline.yaml", config))
        if not Path(template).is_file():
            raise UsageError(f"{template}: compiled pipeline not found (emotion-pipeline compile --output …)")
        try:
            with _service_calls():
                uploaded = upload_template(template, registry, args.tag or ["latest"])
        except CloudError as err:
            raise UsageError(str(err)) from err
    print(f"uploaded {uploaded.package} version {uploaded.version}")
    for url in uploaded.urls:
        print(f"template: {url}")
    return 0


def schedule_command(args: argparse.Namespace) -> int:
    """``emotion-pipeline schedule …``: ``create``, or ``list``/``pause``/``resume``/``delete``."""
    if args.schedule_action == "create":
        return _create_schedule(args)
    return _change_schedules(args)


def _create_schedule(args: argparse.Namespace) -> int:
    """``emotion-pipeline schedule create``: checked here first, then sent (or shown with --dry-run)."""
    try:  # what can be checked here is, before any service is asked
        expression = validate_cron(args.cron)
        start, end = (
            schedule_time(t, n) if t else None
            for t, n in ((args.start_time, "start_time"), (args.end_time, "end_time"))
        )
        check_schedule_window(start, end)
    except CloudError as err:
        raise UsageError(str(err)) from err

    def send(request: RunRequest, target: Target) -> int:
        training = _pipeline_name(args) == "emotion-pipeline"
        if training and target.kind == "vertex" and target.experiment and "experiment" not in request.parameters:
            print(
                "warning: this template has no 'experiment' parameter (compiled by an older version) and "
                "PipelineJob.create_schedule has no experiment argument: this schedule's runs will not appear "
                f"under {target.experiment!r}; recompile (emotion-pipeline compile) to have them logged there",
                file=sys.stderr,
            )
        result = create_schedule(
            request,
            target,
            expression,
            args.max_concurrent,
            args.max_runs,
            allow_queueing=args.allow_queueing,
            start_time=args.start_time,
            end_time=args.end_time,
        )
        sent = to_kfp_cron(expression) if target.kind == "kfp" else expression
        in_utc = "" if split_cron_timezone(expression)[0] else ", UTC"
        print(f"schedule created: {result.id} (cron {sent!r}{in_utc})")
        print(f"schedule: {result.link}")
        return 0

    shown = {
        "cron": expression,
        "max_concurrent": args.max_concurrent,
        "max_runs": args.max_runs,
        "allow_queueing": args.allow_queueing,
        "start_time": args.start_time,
        "end_time": args.end_time,
    }
    return _with_request(args, f"{_pipeline_name(args)}-schedule", send, shown)


def _change_schedules(args: argparse.Namespace) -> int:
    """``emotion-pipeline schedule list|pause|resume|delete``."""
    target = _target(args, _load_config(args))
    try:
        target.check(runs=False)
        preflight_target(target)
        with _service_calls(target):
            if args.schedule_action == "list":
                rows = list_schedules(target, args.name_filter)
                print(f"{'id':<60} {'state':<10} {'cron':<16} name")
                for row in rows:
                    print(f"{row.id:<60} {row.state:<10} {row.cron:<16} {row.name}")
                print(f"{len(rows)} schedule(s)")
                return 0
            change_schedule(target, args.schedule_id, args.schedule_action)
    except CloudError as err:
        raise UsageError(str(err)) from err
    print(f"{args.schedule_action}: {args.schedule_id}")
    return 0
