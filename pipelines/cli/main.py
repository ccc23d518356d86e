"""``emotion-pipeline``: run the pipeline on this machine, compile it, submit or schedule it on a cluster.

Examples:
    emotion-pipeline run            # demo data, local runner, ./emotion-pipeline-output
    emotion-pipeline run --task emotion14 --data-root ../shared/data
    emotion-pipeline run --train train.txt --test val.txt --automl-budget-minutes 5 --set leakage=keep
    emotion-pipeline run --runner docker   # every step in a container of its image (scripts/build_images.sh)
    emotion-pipeline report emotion-pipeline-output   # re-render the HTML report of a finished run
    emotion-pipeline serve --model emotion-demo@champion --port 8080   # the registered champion over HTTP
    emotion-pipeline predict --model emotion-demo@champion --input texts.csv --output predictions.jsonl
    emotion-pipeline monitor --model emotion-demo@champion --input new_texts.csv --on-drift retrain --dry-run
    emotion-pipeline shadow-report --log shadow.jsonl --labels labelled.csv --registry REG --output shadow.md
    emotion-pipeline promote --model emotion-demo/3 --reason "won the shadow test (shadow.md)"   # by hand
    emotion-pipeline compile --output pipeline.yaml --image europe-docker.pkg.dev/p/r/emotion:1.0
    emotion-pipeline submit --env kind --kfp-host http://localhost:8080
    emotion-pipeline submit --env vertex --train gs://bucket/train.csv --wait --timeout 7200
    emotion-pipeline schedule create --env vertex --cron "0 6 * * 1" --train gs://bucket/train.csv
    emotion-pipeline upload --env vertex --tag $(git rev-parse --short HEAD) --tag latest
    emotion-pipeline deploy --registry vertex://P/R --model emotion-demo@champion --endpoint emotion --traffic 10
    emotion-pipeline undeploy --registry vertex://P/R --model emotion-demo/3 --endpoint emotion
    emotion-pipeline runs list --env vertex            # state, start, end of the newest runs
    emotion-pipeline runs get --env vertex RUN_ID      # each task's state and duration, the failing task's error
    emotion-pipeline report gs://BUCKET/pipeline-root/PROJECT_NUMBER/RUN_ID   # report.html of a cloud run

Exit status: 0 done, 1 the run or a service failed, 2 the command line cannot work as given.
"""

from __future__ import annotations

import argparse
import errno
import signal
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from pipelines.cli.cloud import add_compile_parser, add_schedule_parser, add_submit_parser, add_upload_parser
from pipelines.cli.deploy import add_deploy_parser, add_undeploy_parser
from pipelines.cli.errors import CliError, one_line
from pipelines.cli.lifecycle import add_predict_parser, add_serve_parser
from pipelines.cli.local import add_report_parser, add_run_parser
from pipelines.cli.monitor import add_monitor_parser
from pipelines.cli.parameters import DefaultsFormatter
from pipelines.cli.release import add_promote_parser, add_shadow_report_parser
from pipelines.cli.runs import add_runs_parser
from pipelines.cli.secrets import redacted_output


class _Parser(argparse.ArgumentParser):
    """Every sub-command's help shows the defaults (see :class:`DefaultsFormatter`)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


def _version() -> str:
    try:
        return version("emotion-pipeline")
    except PackageNotFoundError:  # run from a checkout that was not installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The command line: one sub-command per job, each with its handler in ``handler``."""
    parser = argparse.ArgumentParser(
        prog="emotion-pipeline",
        description=__doc__.split("\n")[0],
        epilog=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    add_run_parser(commands)
    add_report_parser(commands)
    add_compile_parser(commands)
    add_submit_parser(commands)
    add_schedule_parser(commands)
    add_runs_parser(commands)
    add_upload_parser(commands)
    add_serve_parser(commands)
    add_predict_parser(commands)
    add_monitor_parser(commands)
    add_shadow_report_parser(commands)
    add_promote_parser(commands)
    add_deploy_parser(commands)
    add_undeploy_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``emotion-pipeline`` console script.

    Returns:
        The exit status: 0 done, 1 the command failed, 2 a usage error (argparse's own errors exit 2 too).
    """
    args = build_parser().parse_args(argv)
    with redacted_output():
        return _handle(args)


def _handle(args: argparse.Namespace) -> int:
    """Runs the command's handler: its errors as one line, SIGINT and SIGTERM as the end of its process tree (a
    second one during that clean-up is ignored: the clean-up ends and says so), a full disk as one line."""
    from components.runtime.signals import interrupts_once, signals_deferred

    with interrupts_once() as received:
        try:
            return args.handler(args)
        except CliError as err:
            print(f"emotion-pipeline {args.command}: error: {one_line(str(err))}", file=sys.stderr)
            return err.exit_status
        except KeyboardInterrupt:
            from components.runtime.processes import end_process_tree

            with signals_deferred(received):  # as every signal after the first
                ended = end_process_tree()
            stop = signal.Signals(received[0]) if received else signal.SIGINT
            more = f" ({len(received) - 1} more signals during the clean-up ignored)" if len(received) > 1 else ""
            print(
                f"emotion-pipeline {args.command}: stopped by {stop.name}; {ended} processes ended{more}",
                file=sys.stderr,
            )
            return 128 + stop
        except OSError as err:
            if err.errno != errno.ENOSPC:
                raise
            where = f" writing {err.filename}" if err.filename else ""
            print(f"emotion-pipeline {args.command}: error: no space left on device{where}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
