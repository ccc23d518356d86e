"""``emotion-pipeline report`` of a cloud run: its artifacts downloaded, then rendered as for a local run."""

from __future__ import annotations

import argparse
from pathlib import Path

from pipelines.cli.cloud import _load_config, _service_calls, _target, preflight_target
from pipelines.cli.errors import CliError, UsageError
from pipelines.cloud import CloudError


def report_cloud_command(args: argparse.Namespace) -> int:
    """Downloads the run's artifacts into ``--download-to`` and writes ``report.html``, ``report.md`` and
    ``summary.json`` there (Vertex AI job id, or a ``gs://`` run folder).

    Returns:
        0 written. Raises CliError (exit 1) for a run without its artifacts; UsageError for a target that cannot work.
    """
    from pipelines import preflight
    from pipelines.cloud_report import CloudRunError, report_cloud_run
    from pipelines.rerender import RunNotFoundError

    source = args.run_dir
    dest = args.download_to or Path("cloud-runs") / source.rstrip("/").rsplit("/", 1)[-1]
    target = None
    try:
        if source.startswith("gs://"):
            preflight.check_google_credentials(source)
        elif "://" not in source:
            for name in ("kfp_host", "pipeline_root", "service_account", "experiment", "network"):
                setattr(args, name, getattr(args, name, ""))
            args.encryption_spec_key_name, args.failure_policy = "", ""
            target = _target(args, _load_config(args))
            target.check(runs=False)
            preflight_target(target)
        with _service_calls(target):
            written = report_cloud_run(source, dest, target, output=args.output)
    except preflight.PreflightError as err:
        raise UsageError(str(err)) from err
    except CloudError as err:
        raise UsageError(str(err)) from err
    except (CloudRunError, RunNotFoundError) as err:
        raise CliError(str(err)) from err
    print(f"run:          {source}")
    print(f"artifacts:    {written.folder}")
    print(f"html report:  {written.rendered.html_path}")
    print(f"markdown:     {written.rendered.markdown_path}")
    print(f"summary:      {written.summary_path}")
    return 0
