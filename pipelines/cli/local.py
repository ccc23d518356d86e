"""The local commands of ``emotion-pipeline``: ``run`` (the whole pipeline on this machine) and ``report``."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from pipelines.cli.errors import CliError, UsageError
from pipelines.cli.parameters import add_parameter_options, build_run_parameters, selected_arms
from pipelines.docker_run import AUTOML_IMAGE, RUNTIME_IMAGE, TRANSFORMER_IMAGE, DockerImages

DEFAULT_OUTPUT = Path("emotion-pipeline-output")
#: The registry a local run uses when --registry is not given: beside the --output folder, so it outlives it.
REGISTRY_FOLDER = "emotion-pipeline-registry"


def default_registry(output: Path) -> Path:
    """``<parent of --output>/emotion-pipeline-registry`` (``./emotion-pipeline-registry`` by default)."""
    return (output.resolve().parent / REGISTRY_FOLDER).resolve()


def add_run_parser(commands: Any) -> None:
    """``emotion-pipeline run``: the whole pipeline on this machine."""
    run = commands.add_parser(
        "run",
        help="run the whole pipeline locally (KFP's SubprocessRunner, or DockerRunner with --runner docker)",
        description="Runs the whole pipeline on this machine; without --train or --task, on the shipped demo data.",
    )
    run.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help=f"folder for results (default {DEFAULT_OUTPUT})"
    )
    run.add_argument("--verbose", action="store_true", help="echo every step's log, not one line a step")
    run.add_argument(
        "--no-cache",
        action="store_true",
        help="rerun every step (fresh timings); by default a step whose code and inputs are unchanged since an "
        "earlier run into the same --output is reused (the data files' versions are part of its inputs)",
    )
    add_parameter_options(run, cluster=False)
    _add_runner_options(run)
    run.set_defaults(handler=run_command)


def _add_runner_options(run: argparse.ArgumentParser) -> None:
    """Where the steps run: subprocesses of this interpreter, or containers of the component images."""
    group = run.add_argument_group("runner")
    group.add_argument(
        "--runner",
        choices=["subprocess", "docker"],
        default="subprocess",
        help="subprocess: each step a process of this Python; docker: each step a container of its image, as on a "
        "cluster (needs a Docker engine and the images: scripts/docker_engine.sh, scripts/build_images.sh)",
    )
    group.add_argument("--image", default=None, help=f"--runner docker: image of most steps (default {RUNTIME_IMAGE})")
    group.add_argument(
        "--automl-image",
        default=None,
        help=f"--runner docker: image of the AutoML arm's steps (default {AUTOML_IMAGE})",
    )
    group.add_argument(
        "--transformer-image",
        default=None,
        help=f"--runner docker: image of the transformer arm's steps (default {TRANSFORMER_IMAGE})",
    )


def docker_images(args: argparse.Namespace) -> DockerImages | None:
    """The images of a ``run --runner docker``; None for the subprocess runner (which takes no image)."""
    if args.runner != "docker":
        if any(value is not None for value in (args.image, args.automl_image, args.transformer_image)):
            raise UsageError("--image, --automl-image and --transformer-image choose the images of --runner docker")
        return None
    defaults = DockerImages()
    return DockerImages(
        args.image or defaults.image,
        args.automl_image or defaults.automl_image,
        args.transformer_image or defaults.transformer_image,
    )


def add_report_parser(commands: Any) -> None:
    """``emotion-pipeline report``: re-render the reports of a finished local run."""
    report = commands.add_parser(
        "report", help="re-render the HTML and Markdown reports of a finished local or cloud run (no retraining)"
    )
    report.add_argument(
        "run_dir",
        metavar="RUN",
        help="a local run's --output folder (or one pipeline run); or a cloud run: its Vertex AI job id, or its "
        "folder under the pipeline root (gs://BUCKET/ROOT/PROJECT_NUMBER/JOB_ID)",
    )
    report.add_argument("--output", type=Path, default=None, help="HTML file to write (default RUN_DIR/report.html)")
    report.add_argument("--task", default="", help="task name (default: the one the run recorded)")
    cloud = report.add_argument_group("a cloud run (the report and summary.json are written in --download-to)")
    cloud.add_argument("--download-to", type=Path, default=None, help="folder (default ./cloud-runs/RUN_ID)")
    cloud.add_argument("--env", default="vertex", help="environment of a Vertex AI job id")
    cloud.add_argument("--project", default="", help="Vertex AI project of a job id")
    cloud.add_argument("--region", default="", help="Vertex AI region of a job id")
    report.set_defaults(handler=report_command)


def run_command(args: argparse.Namespace) -> int:
    """Runs the pipeline locally and prints the summary table and where the results are."""
    from pipelines.run_lock import OutputInUseError, output_lock

    _check_output_folder(args.output)
    # a new --output folder is made (locked) only once the command line is accepted; an existing one is locked
    # first, so that a refused run still removes the older result in it
    checked = None if args.output.exists() else _run_inputs(args)
    try:
        with output_lock(args.output):
            return _run_in(args, checked)
    except OutputInUseError as err:
        raise UsageError(str(err)) from None


def _run_inputs(args: argparse.Namespace) -> tuple[DockerImages | None, dict[str, Any]]:
    """The images (--runner docker) and the checked pipeline parameters of the run."""
    return docker_images(args), build_run_parameters(args, cluster=False)


def _run_in(args: argparse.Namespace, checked: tuple[DockerImages | None, dict[str, Any]] | None = None) -> int:
    """The run itself, once the --output folder is locked for it (``checked``: its inputs, if already checked)."""
    from pipelines.local_run import PipelineRunError, run_locally

    (args.output / "summary.json").unlink(missing_ok=True)  # a refused run must not leave an older result behind
    images, parameters = checked or _run_inputs(args)
    if not parameters.get("registry_uri"):
        parameters["registry_uri"] = str(default_registry(args.output))
    elif "://" not in parameters["registry_uri"]:  # a folder: absolute, the steps may run elsewhere
        parameters["registry_uri"] = str(Path(parameters["registry_uri"]).expanduser().resolve())
    _check_registry(parameters)
    try:
        result = run_locally(
            parameters,
            args.output,
            verbose=args.verbose,
            docker=images,
            cache=not args.no_cache,
            arms=selected_arms(args),
        )
    except PipelineRunError as err:
        raise CliError(str(err)) from err
    summary = json.loads(result.summary_path.read_text(encoding="utf-8"))
    print(format_summary(summary))
    print(format_data(summary))
    if summary.get("registry"):
        print(format_registry(summary["registry"]))
    print(f"summary: {result.summary_path}")
    for report in result.reports:
        print(f"report:  {report}")
    if result.html_report_path:
        print(f"html report: {result.html_report_path}")
    if result.cached_steps:
        print(f"cached:  {', '.join(result.cached_steps)} (unchanged code and inputs: reused; --no-cache reruns all)")
    print(f"log:     {result.log_path}")
    return 0


def _check_registry(parameters: dict[str, Any]) -> None:
    """Refuses a registry that cannot take the run's registration (unreachable, read-only, no driver) before the
    first step, within the run's network time limit, instead of failing at ``register`` after training."""
    from components.registry.store import RegistryError, check_registry

    timeout = float(parameters.get("network_timeout_seconds") or 30.0)
    try:
        check_registry(parameters["registry_uri"], parameters.get("registry_artifact_uri", ""), timeout)
    except RegistryError as err:
        raise CliError(str(err)) from None


def _check_output_folder(output: Path) -> None:
    """Refuses an --output that is a file, or that cannot be made or written to, before anything starts."""
    if output.exists() and not output.is_dir():
        raise UsageError(f"--output {output}: is a file, expected a folder for the results")
    existing = output.absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"--output {output}: {existing} is a file, so the folder cannot be made")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--output {output}: {existing} is not writable")


def report_command(args: argparse.Namespace) -> int:
    """Re-renders the HTML and Markdown reports of a finished run from its artifacts."""
    from pipelines.rerender import RunNotFoundError, rerender_report

    if args.output is not None and args.output.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--output {args.output}: give an .html file (the Markdown report is written next to it)")
    if is_cloud_run(args.run_dir):
        from pipelines.cli.cloud_report import report_cloud_command

        return report_cloud_command(args)
    try:
        written = rerender_report(Path(args.run_dir), args.output, args.task)
    except RunNotFoundError as err:
        raise CliError(str(err)) from err
    except OSError as err:  # the report cannot be written (read-only folder, full disk): nothing half-written
        raise CliError(f"cannot write the report: {err}") from err
    print(f"run:         {written.run_dir}")
    print(f"html report: {written.html_path}")
    print(f"markdown:    {written.markdown_path}")
    return 0


def is_cloud_run(run: str) -> bool:
    """A cloud run: a URI (``gs://…``), a Vertex AI resource name, or a job id that is no local folder."""
    if "://" in run or run.startswith("projects/"):
        return True
    return not Path(run).exists() and "/" not in run and run.startswith(("emotion-", "pipeline-"))


def format_summary(summary: dict[str, Any]) -> str:
    """A short table of the models and steps of a finished run (columns as wide as the longest name)."""
    arm_width = max(len("model"), *(len(name) for name in summary["models"])) + 2
    step_width = max(len("step"), *(len(name) for name in summary["steps"])) + 2
    rows = [
        f"task {summary['task']}: {len(summary['labels'])} labels, "
        f"{summary['rows']['train']} train / {summary['rows']['test']} test rows",
        f"{'model':<{arm_width}}{'accuracy':>10}{'macro-F1':>10}{'train s':>10}{'peak MB':>10}",
    ]
    for name, m in summary["models"].items():
        rows.append(
            f"{name:<{arm_width}}{m['accuracy']:>10.4f}{m['macro_f1']:>10.4f}{m['train_seconds']:>10.1f}"
            f"{m['peak_memory_mb']:>10.0f}"
        )
    tied = f" ({', '.join(summary['tied'])})" if summary.get("tied") else ""
    rows.append(f"winner by {summary['winner_metric']}: {summary['winner']}{tied}")
    rows.append(f"{'step':<{step_width}}{'wall s':>10}{'CPU s':>10}{'peak MB':>10}")
    for step, s in summary["steps"].items():
        rows.append(
            f"{step:<{step_width}}{s['wall_seconds']:>10.2f}{s['cpu_seconds']:>10.2f}{s['peak_memory_mb']:>10.0f}"
        )
    return "\n".join(rows)


def format_data(summary: dict[str, Any]) -> str:
    """Rows in and out of cleaning, the rows each rule dropped, and leakage (from ``summary["data"]``)."""
    data = summary.get("data", {})
    rows = []
    for split in ("train", "test"):
        if split in data:
            report = data[split]
            dropped = ", ".join(f"{rule} {n}" for rule, n in report.get("dropped", {}).items() if n) or "none dropped"
            rows.append(f"data {split}: {report['rows_in']} -> {report['rows_out']} rows ({dropped})")
    if "leakage" in data:
        leak = data["leakage"]
        rows.append(f"leakage: {leak['texts']} texts in both splits ({leak['policy']})")
    return "\n".join(rows)


def format_registry(record: dict[str, Any]) -> str:
    """The registry decision of a finished run in two lines."""
    verdict = (
        "promoted to champion" if record["promoted"] else f"not promoted (champion: v{record['champion_version']})"
    )
    return (
        f"registry: {record['model_name']} v{record['version']} {verdict} [{record['registry']}]\n  {record['reason']}"
    )
