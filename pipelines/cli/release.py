"""The release commands of ``emotion-pipeline``: ``shadow-report`` reads a shadow (or canary) log of ``serve`` and
says whether the challenger should replace the champion; ``promote`` moves the champion alias by hand, recorded on
the version as the pipeline records an automatic promotion (who, when, why, the champion before).

The verdict is the champion rule ``register`` applies (:mod:`components.stats.promotion`): promote only when the
whole paired bootstrap interval of ``challenger − champion`` is above 0. ``shadow-report`` only reports; moving the
alias is ``promote``'s job, which a person runs after reading the report.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from pipelines.cli.errors import CliError, UsageError

FORMATS = ("markdown", "json")
OUTPUT_SUFFIXES = {".md": "markdown", ".json": "json"}
#: ShadowReportOptions fields given as their own flags.
REPORT_FLAGS = {
    "metric": "the metric the champion rule decides on (register uses evaluate's winner metric, macro_f1 by default)",
    "bootstrap_resamples": "resamples of the bootstrap intervals",
    "confidence": "coverage of those intervals",
    "seed": "seed of the resampling",
    "psi_threshold": "PSI at or above which the predicted labels or the confidence have drifted (as monitor)",
    "text_column": "text column or field of --labels (default: guessed)",
    "label_column": "label column or field of --labels (default: guessed)",
    "encoding": "text encoding of --labels",
}


def add_shadow_report_parser(commands: Any) -> None:
    """``emotion-pipeline shadow-report``: agreement, drift and (with labels) the verdict of a shadow log."""
    from components.steps.shadow_report import ShadowReportOptions

    cmd = commands.add_parser(
        "shadow-report",
        help="read a shadow or canary log of serve: agreement, drift, and with labels the champion rule's verdict",
        description="Reads the JSON Lines log serve writes with a challenger (shadow: both versions answer; canary: "
        "one does): records, requests, each version's label shares and errors, the agreement rate and the "
        "disagreement matrix (shadow), each version's prediction drift against its registered reference profile "
        "(--registry), and with --labels both versions' accuracy and macro-F1, the paired bootstrap interval of "
        "challenger - champion and the verdict of the champion rule register applies. Prints Markdown (--format "
        "json: JSON); --output writes report.md or report.json. It only reports: promote moves the alias.",
    )
    cmd.add_argument("--log", required=True, metavar="FILE", help="the shadow or canary log (JSON Lines)")
    cmd.add_argument("--labels", default="", metavar="FILE", help="texts with labels: CSV, text;label or JSON lines")
    cmd.add_argument(
        "--registry",
        default="",
        metavar="URI",
        help="the versions' registry (their reference profiles, for drift): a folder, an MLflow tracking URI or "
        "vertex://PROJECT/REGION; empty: no drift",
    )
    cmd.add_argument("--registry-artifacts", default="", metavar="URI", help="as given to the run that registered")
    cmd.add_argument("--output", type=Path, default=None, metavar="FILE", help="also write the report: .md or .json")
    cmd.add_argument("--format", choices=FORMATS, default="markdown", help="what is printed")
    for name, text in REPORT_FLAGS.items():
        default = getattr(ShadowReportOptions, name)
        cmd.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default, help=text)
    cmd.set_defaults(handler=shadow_report_command)


def add_promote_parser(commands: Any) -> None:
    """``emotion-pipeline promote``: moves the champion alias to a version by hand, with a reason."""
    from pipelines.cli.lifecycle import DEFAULT_REGISTRY

    cmd = commands.add_parser(
        "promote",
        help="make a registered version the champion by hand (recorded: who, when, why, the champion before)",
        description="Moves NAME's champion alias to VERSION and records it on the version as the pipeline records an "
        "automatic promotion: tags promoted, promotion (manual), promoted_by, promoted_at, promotion_reason, "
        "previous_champion_version (Vertex AI: labels), and a line in its description.",
    )
    cmd.add_argument(
        "--registry",
        default=DEFAULT_REGISTRY,
        metavar="URI",
        help="model registry: a folder (MLflow, SQLite), an MLflow tracking URI or vertex://PROJECT/REGION",
    )
    cmd.add_argument("--registry-artifacts", default="", metavar="URI", help="as given to the run that registered")
    cmd.add_argument("--model", required=True, metavar="NAME/VERSION", help="the version, e.g. emotion-demo/3")
    cmd.add_argument("--reason", required=True, metavar="TEXT", help="why (recorded with the promotion)")
    cmd.add_argument("--dry-run", action="store_true", help="check and say what would be done; change nothing")
    cmd.set_defaults(handler=promote_command)


def _report_options(args: argparse.Namespace) -> Any:
    from components.checks.errors import ParameterError
    from components.steps.shadow_report import ShadowReportOptions

    try:
        return ShadowReportOptions(**{name: getattr(args, name) for name in REPORT_FLAGS})
    except ParameterError as err:
        raise UsageError(str(err)) from err


def _check_inputs(args: argparse.Namespace) -> None:
    """A local --log or --labels that does not exist, and an --output of another kind, are refused in one line."""
    for flag, uri in (("--log", args.log), ("--labels", args.labels)):
        if uri and "://" not in uri and not Path(uri).is_file():
            raise UsageError(f"{flag} {uri}: file not found")
    if args.output is not None and args.output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UsageError(f"--output {args.output}: expected a .md or .json file")


def _registry(args: argparse.Namespace) -> tuple[Any, str]:
    """The registry of --registry, or None and why (no --registry, or it cannot be opened: said in the report)."""
    from pipelines.cli.lifecycle import _open

    if not args.registry:
        return None, ""
    try:
        return _open(args), ""
    except CliError as err:
        return None, f"--registry {args.registry}: {err}"


def shadow_report_command(args: argparse.Namespace) -> int:
    """Reports on the log, prints it (Markdown or JSON) and writes --output."""
    from components.checks.errors import DataError
    from components.io import atomic
    from components.reporting.shadow import render_shadow_markdown
    from components.steps.shadow_report import shadow_report

    options = _report_options(args)
    _check_inputs(args)
    registry, problem = _registry(args)
    with tempfile.TemporaryDirectory(prefix="shadow-report-") as workdir:
        try:
            report = shadow_report(
                args.log,
                labels_uri=args.labels,
                registry=registry,
                registry_problem=problem,
                options=options,
                workdir=Path(workdir),
            )
        except DataError as err:
            raise CliError(str(err)) from err
    if report["verdict"] == "promote":
        report["next"] = promote_hint(report, args)
    texts = {"markdown": render_shadow_markdown(report), "json": json.dumps(report, indent=2, ensure_ascii=False)}
    print(texts[args.format].rstrip("\n"))
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(args.output, texts[OUTPUT_SUFFIXES[args.output.suffix.lower()]] + "\n")
    return 0


def promote_hint(report: dict[str, Any], args: argparse.Namespace) -> str:
    """The ``promote`` command a ``promote`` verdict suggests (a person runs it after reading the report)."""
    import shlex

    version = report["versions"]["challenger"]["version"]
    argv = ["emotion-pipeline", "promote", "--model", f"{report['model']}/{version}"]
    if args.registry:
        argv[2:2] = ["--registry", args.registry]
    argv += ["--reason", f"{report['mode']} report of {args.log}: {report['reason']}"[:300]]
    return shlex.join(argv)


def _open_writable(args: argparse.Namespace) -> Any:
    """The registry to promote in: checked as ``predict`` checks it (a folder must hold a registry), then opened
    for writing."""
    from components.registry.store import RegistryError, open_registry
    from pipelines.cli.lifecycle import _open

    _open(args)
    try:
        return open_registry(args.registry, args.registry_artifacts)
    except RegistryError as err:
        raise UsageError(str(err)) from err


def promote_command(args: argparse.Namespace) -> int:
    """Moves the champion alias to --model's version (or says it is already there, or what --dry-run would do)."""
    from components.registry.promotion import MANUAL, current_user, promote
    from components.registry.store import ModelRef, RegistryError

    try:
        ref = ModelRef.parse(args.model)
    except RegistryError as err:
        raise UsageError(str(err)) from err
    if not ref.version:
        raise UsageError(f"--model {args.model}: expected NAME/VERSION (e.g. emotion-demo/3), not an alias")
    if not args.reason.strip():
        raise UsageError("--reason: give why the version is promoted (recorded with the promotion)")
    registry = _open_writable(args)
    try:
        done = promote(
            registry,
            ref.name,
            ref.version,
            reason=args.reason,
            promoted_by=current_user(),
            promotion=MANUAL,
            dry_run=args.dry_run,
        )
    except RegistryError as err:
        raise CliError(str(err)) from err
    print(done.message)
    if done.changed:
        print(json.dumps(done.tags(), ensure_ascii=False))
    return 0
