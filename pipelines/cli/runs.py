"""``emotion-pipeline runs list|get|cancel``: the cloud runs of Vertex AI (default) or KFP (``--kfp-host``).

The work is done by :mod:`pipelines.runs`; targets, credentials and one-line service errors as for ``submit``
(:mod:`pipelines.cli.cloud`), with the preflight of :mod:`pipelines.preflight` first.
"""

from __future__ import annotations

import argparse
from typing import Any

from pipelines.cli.cloud import _add_target_options, _load_config, _service_calls, _target, preflight_target
from pipelines.cli.errors import UsageError
from pipelines.cloud import CloudError


def add_runs_parser(commands: Any) -> None:
    """``emotion-pipeline runs list|get|cancel``."""
    runs = commands.add_parser(
        "runs",
        help="list, read back (state, tasks, error) or cancel cloud runs",
        epilog="examples:\n  emotion-pipeline runs list --env vertex\n"
        "  emotion-pipeline runs get --env vertex emotion-pipeline-20260105060000\n"
        "  emotion-pipeline runs cancel --kfp-host http://localhost:8080 RUN_ID",
    )
    actions = runs.add_subparsers(dest="runs_action", required=True)
    listing = actions.add_parser("list", help="the newest runs: id, state, start, end, name")
    _add_target_options(listing)
    listing.add_argument("--limit", type=int, default=20, help="at most this many runs")
    listing.add_argument("--name-filter", default="", help="only runs whose name contains this")
    for action, text in (
        ("get", "one run: state, start/end, each task's state and duration, the error"),
        ("cancel", "cancel (Vertex AI) or terminate (KFP) one run"),
    ):
        cmd = actions.add_parser(action, help=text)
        cmd.add_argument("run_id", help="Vertex AI job id or resource name; KFP run id")
        _add_target_options(cmd)
    runs.set_defaults(handler=runs_command)


def runs_command(args: argparse.Namespace) -> int:
    """Prints the runs, one run, or the cancellation sent; exit 0 (``get`` of a failed run: 1)."""
    from pipelines import runs

    target = _target(args, _load_config(args))
    try:
        target.check(runs=False)
        preflight_target(target)
        with _service_calls(target):
            if args.runs_action == "list":
                print(runs.format_run_list(runs.list_runs(target, args.limit, args.name_filter)))
                return 0
            if args.runs_action == "cancel":
                sent = runs.cancel_run(args.run_id, target)
                print(f"cancel requested: {sent} ('emotion-pipeline runs get' shows when it has ended)")
                return 0
            run = runs.get_run(args.run_id, target)
    except CloudError as err:
        raise UsageError(str(err)) from err
    print(runs.format_run(run))
    return 1 if run.state in ("FAILED",) else 0
