"""``emotion-pipeline monitor``: compare a batch of new texts with a registered model's reference profile, write
``monitor.json`` and its reports, and on drift report (default) or retrain.

Retraining data policy (``--on-drift retrain``): the monitored version's training files (recorded in its reference
profile, ``training.sources``) **plus the labelled batch**, with the version's own held-out file when it had one
(so the challenger and the champion are compared on the same rows); the new version is registered under the same
model name in the same registry, where the champion rule (paired bootstrap on the held-out rows) decides whether it
replaces the champion. It needs a fully labelled batch in a format ``ingest`` reads (``text;label`` lines or CSV
with a header) and known training files; otherwise the decision is ``report`` with that reason. Without ``--env``
the training pipeline runs here (``emotion-pipeline run``); with ``--env`` it is submitted (``emotion-pipeline
submit``, Vertex AI or KFP). ``--dry-run`` prints the command instead. Every decision is printed and appended, with
its reason, to ``OUTPUT/decisions.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pipelines.cli.errors import CliError, UsageError

DEFAULT_OUTPUT = Path("emotion-pipeline-monitor")
ON_DRIFT = ("report", "retrain")
#: MonitorOptions fields given as their own flags (the reading options have theirs too).
THRESHOLDS = (
    "psi_threshold",
    "chi2_alpha",
    "chi2_min_psi",
    "max_oov_increase",
    "max_metric_drop",
    "max_unseen_label_rate",
    "min_rows",
    "bootstrap_resamples",
    "confidence",
    "seed",
)


THRESHOLD_HELP = {
    "psi_threshold": "PSI at or above which lengths, predicted labels or confidence have drifted",
    "chi2_alpha": "significance level of the chi-squared test of the predicted labels",
    "chi2_min_psi": "smallest PSI for a significant chi-squared test to count as drift",
    "max_oov_increase": "largest allowed rise of the out-of-vocabulary rate over the held-out rows'",
    "max_metric_drop": "largest allowed drop of accuracy or macro-F1 below the registered figure",
    "max_unseen_label_rate": "largest allowed share of labelled rows with a label the model cannot predict",
    "min_rows": "fewest rows a batch must have to be judged",
    "bootstrap_resamples": "resamples of the accuracy and macro-F1 intervals",
    "confidence": "coverage of those intervals",
    "seed": "seed of the resampling",
}


def add_monitor_parser(commands: Any) -> None:
    """``emotion-pipeline monitor``: drift and accuracy of a batch against a registered model's reference."""
    from components.steps.monitor import MonitorOptions
    from pipelines.cli.lifecycle import _add_model_options

    cmd = commands.add_parser(
        "monitor",
        help="compare a batch of texts (labelled or not) with a registered model's reference; retrain on drift",
        description="Compares a batch of new texts with a registered version's reference profile (OOV rate, length, "
        "predicted labels, confidence; with labels accuracy and macro-F1 against the registered figures), writes "
        "OUTPUT/monitor.json, monitor.md, monitor.html and appends the decision to OUTPUT/decisions.jsonl. "
        "--on-drift retrain trains on the version's training files plus the labelled batch (here, or submitted "
        "with --env); registration then applies the champion rule.",
    )
    _add_model_options(cmd)
    cmd.add_argument("--input", required=True, metavar="URI", help="the batch: CSV, text;label lines or JSON lines")
    cmd.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder for monitor.json and the reports")
    cmd.add_argument("--text-column", default="", help="text column or field (default: guessed)")
    cmd.add_argument("--label-column", default="", help="label column or field (default: guessed)")
    cmd.add_argument("--ignore-labels", action="store_true", help="treat the batch as unlabelled")
    cmd.add_argument("--chunk-rows", type=int, default=MonitorOptions.chunk_rows, help="rows read at a time")
    cmd.add_argument("--encoding", default=MonitorOptions.encoding, help="text encoding of the input")
    for name in THRESHOLDS:
        default = getattr(MonitorOptions, name)
        cmd.add_argument(
            f"--{name.replace('_', '-')}", type=type(default), default=default, metavar="X", help=THRESHOLD_HELP[name]
        )
    group = cmd.add_argument_group("on drift")
    group.add_argument("--on-drift", choices=ON_DRIFT, default="report", help="report only, or retrain")
    group.add_argument(
        "--env",
        default="",
        help="retrain by submitting to this environment (vertex, kind …); empty: run the training pipeline here",
    )
    group.add_argument(
        "--retrain-args",
        default="",
        metavar="ARGS",
        help='more options of the training run or submit, e.g. "--automl-budget-minutes 2"',
    )
    group.add_argument("--dry-run", action="store_true", help="print what would run or be submitted; do nothing")
    cmd.set_defaults(handler=monitor_command)


def _options(args: argparse.Namespace) -> Any:
    from components.checks.errors import ParameterError
    from components.steps.monitor import MonitorOptions

    values = {name: getattr(args, name) for name in THRESHOLDS}
    try:
        return MonitorOptions(
            text_column=args.text_column,
            label_column=args.label_column,
            use_labels=not args.ignore_labels,
            chunk_rows=args.chunk_rows,
            encoding=args.encoding,
            **values,
        )
    except ParameterError as err:
        raise UsageError(str(err)) from err


def monitor_command(args: argparse.Namespace) -> int:
    """Monitors the batch, writes the outputs, prints the verdict and acts on drift."""
    from components.checks.errors import DataError
    from components.registry.store import ModelRef, RegistryError
    from components.reporting.monitor import render_monitor_html, render_monitor_markdown
    from components.steps.monitor import monitor_registered, write_outputs
    from pipelines.cli.lifecycle import _open

    options = _options(args)
    try:
        ModelRef.parse(args.model)
    except RegistryError as err:
        raise UsageError(str(err)) from err
    _open(args)  # refuses a folder that holds no registry
    with tempfile.TemporaryDirectory(prefix="monitor-") as workdir:
        try:
            result = monitor_registered(
                registry_uri=args.registry,
                registry_artifact_uri=args.registry_artifacts,
                model=args.model,
                input_uri=args.input,
                options=options,
                workdir=Path(workdir),
            )
        except (RegistryError, FileNotFoundError, DataError) as err:
            raise CliError(str(err)) from err
    result["decision"] = decide(result, args)
    write_outputs(result, args.output, markdown=render_monitor_markdown(result), html=render_monitor_html(result))
    print_result(result, args.output)
    log_decision(result, args.output)
    status = act(result["decision"], args)
    if result["decision"]["action"] == "retrain" and not args.dry_run:
        done = f"the retraining run finished (exit status {status}); its summary.json says what the champion rule did"
        result["decision"] = {**result["decision"], "action": "retrained", "reason": done}
        log_decision(result, args.output)
    return status


def print_result(result: dict[str, Any], output: Path) -> None:
    """The verdict, each check's value, threshold and verdict, the decision and the output files."""
    model = result["model"]
    print(f"model:    {model['name']} version {model['version']} ({model['requested']}, {model['registry']})")
    print(f"batch:    {result['input']}: {result['rows']} rows, {result['labelled']} labelled")
    for check in result["checks"]:
        print(
            f"  {check['name']:<16} {check['value']:>10.4g}  threshold {check['threshold']:<6g} "
            f"{check['verdict']:<5} {check['reason']}"
        )
    print(f"drift:    {str(result['drift']).lower()} ({result['reason']})")
    decision = result["decision"]
    print(f"decision: {decision['action']}: {decision['reason']}")
    if decision.get("command"):
        print(f"command:  {decision['command']}")
    print(f"output:   {output / 'monitor.json'}, monitor.md, monitor.html")


def retrain_argv(result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The training command of the data policy (module docstring): ``run`` here, or ``submit --env ENV``."""
    sources = result["training"]["sources"]
    argv = ["submit", "--env", args.env] if args.env else ["run", "--output", str(args.output / "retrain")]
    for uri in [*sources.get("train", []), args.input]:
        argv += ["--train", uri]
    if len(sources.get("test", [])) == 1:
        argv += ["--test", sources["test"][0]]
    argv += ["--registry", args.registry, "--model-name", result["model"]["name"]]
    if args.registry_artifacts:
        argv += ["--registry-artifacts", args.registry_artifacts]
    return argv + shlex.split(args.retrain_args)


def decide(result: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """What to do about the result: ``none`` (no drift), ``report`` or ``retrain`` (with the command), and why."""
    if not result["drift"]:
        return {"action": "none", "reason": "no drift: nothing to do"}
    if args.on_drift == "report":
        return {"action": "report", "reason": "drift found; --on-drift report (default): reported only"}
    why_not = ""
    if not result["training"]["sources"].get("train"):
        why_not = "the monitored version records no training files (registered before monitoring existed)"
    elif result["labelled"] < result["rows"]:
        why_not = f"retraining needs a labelled batch: {result['labelled']} of {result['rows']} rows have labels" + (
            " (--ignore-labels given)" if args.ignore_labels else ""
        )
    elif args.input.endswith((".jsonl", ".json")):
        why_not = "the training pipeline reads text;label lines or CSV with a header, not JSON lines"
    if why_not:
        return {"action": "report", "reason": f"drift found but not retrained: {why_not}"}
    argv = retrain_argv(result, args)
    where = f"submitted to --env {args.env}" if args.env else "run here (local runner)"
    return {
        "action": "retrain",
        "dry_run": bool(args.dry_run),
        "argv": argv,
        "command": "emotion-pipeline " + shlex.join(argv),
        "reason": f"drift found; --on-drift retrain: the training pipeline is {where} on the champion's training "
        f"files plus this labelled batch ({result['rows']} rows); registration applies the champion "
        "rule" + ("; --dry-run: nothing started" if args.dry_run else ""),
    }


def log_decision(result: dict[str, Any], output: Path) -> None:
    """Appends the decision, with the verdict and its reason, to ``OUTPUT/decisions.jsonl``."""
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": result["model"],
        "input": result["input"],
        "drift": result["drift"],
        "drift_reason": result["reason"],
        **{k: v for k, v in result["decision"].items() if k != "argv"},
    }
    with (output / "decisions.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def act(decision: dict[str, Any], args: argparse.Namespace) -> int:
    """Runs or submits the retraining when the decision says so (not with --dry-run).

    Returns:
        0, or the training command's exit status.
    """
    if decision["action"] != "retrain" or decision.get("dry_run"):
        return 0
    from pipelines.cli.cloud import add_submit_parser
    from pipelines.cli.local import add_run_parser

    print(f"retraining: {decision['command']}", file=sys.stderr, flush=True)
    parser = argparse.ArgumentParser(prog="emotion-pipeline")
    commands = parser.add_subparsers(dest="command", required=True)
    add_run_parser(commands)
    add_submit_parser(commands)
    parsed = parser.parse_args(decision["argv"])  # the same parsers and checks as the commands themselves
    try:
        status = parsed.handler(parsed)
    except CliError as err:
        raise CliError(f"the retraining command failed ({err}): {decision['command']}") from err
    if status:
        raise CliError(f"the retraining command failed (exit status {status}): {decision['command']}")
    return 0
