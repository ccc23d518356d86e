"""``emotion-pipeline``: compile the pipeline, or run it on this machine.

Examples:
    emotion-pipeline run            # demo data, local runner, ./emotion-pipeline-output
    emotion-pipeline run --task emotion14 --data-root ../shared/data
    emotion-pipeline run --train train.txt --test val.txt --automl-budget-minutes 5
    emotion-pipeline report emotion-pipeline-output   # re-render the HTML report of a finished run
    emotion-pipeline compile --output pipeline.yaml --image europe-docker.pkg.dev/p/r/emotion:1.0
    emotion-pipeline submit --env kind --kfp-host http://localhost:8080
    emotion-pipeline schedule create --env vertex --cron "0 6 * * 1" --train gs://bucket/train.csv
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.kfp_components import DEFAULT_IMAGE
from pipelines.cli.cloud import (
    add_compile_options,
    add_schedule_parser,
    add_submit_parser,
    compile_template,
    schedule_command,
    submit_command,
)

DEFAULT_OUTPUT = Path("emotion-pipeline-output")


class UsageError(ValueError):
    """A command-line value that cannot work, named in the message."""


def _comma_list(value: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one name, comma separated (e.g. lr,nb)")
    return items


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="emotion-pipeline", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    compile_cmd = commands.add_parser("compile", help="write the pipeline as KFP IR YAML")
    compile_cmd.add_argument("--output", type=Path, default=Path("pipeline.yaml"), help="YAML file to write")
    compile_cmd.add_argument(
        "--image", default="", help=f"image with this package, for every step (default: --env's, else {DEFAULT_IMAGE})"
    )
    compile_cmd.add_argument(
        "--automl-image", default="", help="image for train_automl and evaluate (default: --image)"
    )
    add_compile_options(compile_cmd)

    run = commands.add_parser("run", help="run the whole pipeline locally (KFP SubprocessRunner)")
    run.add_argument("--train", action="append", default=[], metavar="URI", help="training file; repeatable")
    run.add_argument("--test", default="", metavar="URI", help="held-out file (default: stratified split)")
    run.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder for artifacts and summary.json")
    add_task_options(run)
    run.add_argument("--seed", type=int, default=42)
    run.add_argument("--automl-budget-minutes", type=_positive_float, default=5.0)
    run.add_argument(
        "--automl-models",
        type=_comma_list,
        default=["ridge", "nb", "svm", "lr"],
        help="PyCaret ids, tried in this order within the budget (cheapest first)",
    )
    run.add_argument("--verbose", action="store_true", help="echo every step's log, not one line a step")
    _add_model_options(run)
    _add_report_command(commands)
    add_submit_parser(commands)
    add_schedule_parser(commands)
    return parser


def _add_report_command(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser(
        "report", help="re-render the HTML and Markdown reports of a finished local run (no retraining)"
    )
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run's --output folder (or one pipeline run)")
    report.add_argument("--output", type=Path, default=None, help="HTML file to write (default RUN_DIR/report.html)")
    report.add_argument("--task", default="", help="task name (default: the one the run recorded)")


def _non_negative_int(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return number


def _add_model_options(run: argparse.ArgumentParser) -> None:
    """Options of the training and evaluation steps (search budget, AutoML tuning, bootstrap)."""
    group = run.add_argument_group("models")
    group.add_argument(
        "--scratch-budget-seconds",
        type=_positive_float,
        default=45.0,
        help="budget of the from-scratch search and refit",
    )
    group.add_argument("--scratch-max-candidates", type=_non_negative_int, default=12, help="candidates drawn")
    group.add_argument(
        "--scratch-ensemble-size",
        type=_non_negative_int,
        default=3,
        help="majority vote of the best N search candidates; 1 = the single best",
    )
    group.add_argument(
        "--scratch-workers", type=_non_negative_int, default=2, help="search candidates fitted at once (one per core)"
    )
    group.add_argument(
        "--scratch-search-space",
        type=Path,
        default=None,
        metavar="JSON",
        help="file with a list of dicts of value lists (see components/steps/train_scratch.py)",
    )
    group.add_argument(
        "--automl-tune-iterations",
        type=_non_negative_int,
        default=0,
        help="tune_model iterations on the best AutoML candidate, within its budget",
    )
    group.add_argument("--winner-metric", choices=["macro_f1", "accuracy", "weighted_f1"], default="macro_f1")
    group.add_argument("--bootstrap-resamples", type=_non_negative_int, default=1000, help="for the 95 %% CIs")


def _model_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """Pipeline parameters of the training and evaluation steps from ``run`` options."""
    space: list[Any] = []
    if args.scratch_search_space is not None:
        try:
            space = json.loads(args.scratch_search_space.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise UsageError(f"--scratch-search-space {args.scratch_search_space}: {err}") from err
        if isinstance(space, dict):
            space = [space]
        if not isinstance(space, list) or not all(isinstance(entry, dict) for entry in space):
            raise UsageError(f"--scratch-search-space {args.scratch_search_space}: expected a list of objects")
    if min(args.scratch_max_candidates, args.scratch_ensemble_size, args.scratch_workers) < 1:
        raise UsageError("--scratch-max-candidates, --scratch-ensemble-size and --scratch-workers must be >= 1")
    if args.bootstrap_resamples < 10:
        raise UsageError("--bootstrap-resamples must be >= 10")
    return {
        "scratch_search_space": space,
        "scratch_budget_seconds": args.scratch_budget_seconds,
        "scratch_max_candidates": args.scratch_max_candidates,
        "scratch_ensemble_size": args.scratch_ensemble_size,
        "scratch_workers": args.scratch_workers,
        "automl_tune_iterations": args.automl_tune_iterations,
        "winner_metric": args.winner_metric,
        "bootstrap_resamples": args.bootstrap_resamples,
    }


def add_task_options(run: argparse.ArgumentParser) -> None:
    """Options choosing the data of a run: task preset or file, data root, columns, cleaning parameters."""
    from pipelines.tasks import DEFAULT_DATA_ROOT, shipped_tasks

    run.add_argument(
        "--task",
        default="",
        help=f"task preset ({', '.join(shipped_tasks())}; default demo); with --train or --config, "
        "just the name recorded in the summary",
    )
    run.add_argument("--config", type=Path, default=None, metavar="FILE", help="task file (YAML, like --task presets)")
    run.add_argument(
        "--data-root",
        default=None,
        metavar="DIR",
        help=f"folder or URI the preset's file names are relative to (default {DEFAULT_DATA_ROOT})",
    )
    run.add_argument("--text-column", default="", help="text column of CSV files (default: guessed)")
    run.add_argument("--label-column", default="", help="label column of CSV files (default: guessed)")
    run.add_argument("--encoding", default=None, help="text encoding of the input files (default utf-8)")
    run.add_argument("--label-map", default=None, metavar="OLD=NEW,...", help="rename labels, e.g. happy=joy")
    run.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="any data parameter, e.g. --set leakage=keep --set min_class_count=20; repeatable",
    )


TASK_FILES_HINT = "a task's file names are relative to --data-root, default ../shared/data from the current folder"


def task_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """Data parameters of a run: the task preset or file, then the options that override it."""
    from pipelines.tasks import TaskError, parse_assignment, parse_label_map, select_task

    try:
        overrides = dict(parse_assignment(item) for item in args.overrides)
        given = {"text_column": args.text_column, "label_column": args.label_column, "encoding": args.encoding}
        overrides |= {key: value for key, value in given.items() if value}
        if args.label_map:
            overrides["label_map"] = parse_label_map(args.label_map)
        return select_task(args.task, args.config, args.train, args.test, args.data_root, overrides)
    except TaskError as err:
        raise UsageError(str(err)) from err


def run_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """Maps ``run`` options to pipeline parameters; without ``--train`` or ``--task`` the demo task is used."""
    parameters = task_parameters(args)
    for uri in [*parameters["train_uris"], parameters["test_uri"]]:
        if uri and "://" not in uri and not Path(uri).is_file():
            what = "is a directory, expected a file" if Path(uri).is_dir() else "no such file"
            hint = "" if uri in args.train or uri == args.test else f" ({TASK_FILES_HINT})"
            raise UsageError(f"{uri}: {what}{hint}")
    return {
        **parameters,
        "seed": args.seed,
        "automl_models": args.automl_models,
        "automl_budget_minutes": args.automl_budget_minutes,
        **_model_parameters(args),
    }


def format_summary(summary: dict[str, Any]) -> str:
    """A short table of the models and steps of a finished run."""
    rows = [f"task {summary['task']}: {len(summary['labels'])} labels, "
            f"{summary['rows']['train']} train / {summary['rows']['test']} test rows"]  # fmt: skip
    rows.append(f"{'model':<10}{'accuracy':>10}{'macro-F1':>10}{'train s':>10}{'peak MB':>10}")
    for name, m in summary["models"].items():
        rows.append(
            f"{name:<10}{m['accuracy']:>10.4f}{m['macro_f1']:>10.4f}{m['train_seconds']:>10.1f}"
            f"{m['peak_memory_mb']:>10.0f}"
        )
    rows.append(f"winner by {summary['winner_metric']}: {summary['winner']}")
    rows.append(f"{'step':<16}{'wall s':>10}{'CPU s':>10}{'peak MB':>10}")
    for step, s in summary["steps"].items():
        rows.append(f"{step:<16}{s['wall_seconds']:>10.2f}{s['cpu_seconds']:>10.2f}{s['peak_memory_mb']:>10.0f}")
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


def _compile(args: argparse.Namespace) -> int:
    output = compile_template(args, args.output)
    print(f"compiled {output}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from pipelines.local_run import run_locally

    (args.output / "summary.json").unlink(missing_ok=True)  # a refused run must not leave an older result behind
    result = run_locally(run_parameters(args), args.output, verbose=args.verbose)
    summary = json.loads(result.summary_path.read_text(encoding="utf-8"))
    print(format_summary(summary))
    print(format_data(summary))
    print(f"summary: {result.summary_path}")
    for report in result.reports:
        print(f"report:  {report}")
    if result.html_report_path:
        print(f"html report: {result.html_report_path}")
    print(f"log:     {result.log_path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from pipelines.rerender import RunNotFoundError, rerender_report

    if args.output is not None and args.output.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--output {args.output}: give an .html file (the Markdown report is written next to it)")
    try:
        written = rerender_report(args.run_dir, args.output, args.task)
    except RunNotFoundError as err:
        raise UsageError(str(err)) from err
    print(f"run:         {written.run_dir}")
    print(f"html report: {written.html_path}")
    print(f"markdown:    {written.markdown_path}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``emotion-pipeline`` console script."""
    from pipelines.cli.cloud import ServiceError
    from pipelines.local_run import PipelineRunError

    args = build_parser().parse_args(argv)
    handlers = {
        "compile": _compile,
        "run": _run,
        "report": _report,
        "submit": submit_command,
        "schedule": schedule_command,
    }
    try:
        return handlers[args.command](args)
    except (UsageError, PipelineRunError, ServiceError) as err:
        print(f"emotion-pipeline {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
