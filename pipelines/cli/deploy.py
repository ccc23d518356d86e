"""``emotion-pipeline deploy`` and ``undeploy``: a Vertex AI Model Registry version behind a Vertex AI endpoint.

``deploy`` creates the endpoint (or reuses the one with that display name), deploys the version (served from the
image it was registered with: its arm's serving image) with ``--traffic`` % of the endpoint's traffic, the versions
already there sharing the rest in proportion; ``--traffic 100`` (the default) replaces them. ``undeploy`` removes
a version and re-splits the traffic. ``--dry-run`` reads the endpoint and the registry, then prints every request
it would send, one JSON object a line, and sends none. The logic is :mod:`components.registry.endpoints`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from components.registry.endpoints import (
    DEFAULT_MACHINE_TYPE,
    DEFAULT_MAX_REPLICAS,
    DEFAULT_MIN_REPLICAS,
    DEFAULT_TRAFFIC_PERCENT,
    DeployError,
    DeployOptions,
    Outcome,
    VertexSdk,
    check_endpoint_name,
    deploy_version,
    resolve_target,
    undeploy_version,
    vertex_coordinates,
)
from pipelines.cli.errors import CliError, UsageError

#: DeployOptions' fields as the command line names them (its messages are turned into the flag's).
FLAGS = {
    "traffic_percent": "--traffic",
    "machine_type": "--machine-type",
    "min_replicas": "--min-replicas",
    "max_replicas": "--max-replicas",
    "accelerator_type": "--accelerator",
    "accelerator_count": "--accelerator",
}


def _add_common(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--registry", required=True, metavar="vertex://PROJECT/REGION", help="Vertex AI Model Registry")
    cmd.add_argument(
        "--model", required=True, metavar="REF", help="NAME@champion, NAME@ALIAS or NAME/VERSION (e.g. emotion-demo/3)"
    )
    cmd.add_argument("--endpoint", required=True, metavar="NAME", help="the endpoint's display name")
    cmd.add_argument("--dry-run", action="store_true", help="read the endpoint and the registry, print the requests")


def add_deploy_parser(commands: Any) -> None:
    """``emotion-pipeline deploy``: a registered version behind a Vertex AI endpoint (canary or replace)."""
    cmd = commands.add_parser(
        "deploy",
        help="deploy a Vertex AI Model Registry version to a Vertex AI endpoint (canary split or replace)",
        description="Creates the endpoint (or reuses the one with that display name) and deploys the version with "
        "--traffic % of the traffic; the versions deployed there share the rest in proportion to their shares "
        "(integers summing to 100, by the largest remainder); --traffic 100 replaces them.",
    )
    _add_common(cmd)
    cmd.add_argument("--traffic", type=int, default=DEFAULT_TRAFFIC_PERCENT, metavar="PERCENT", help="its share, 1-100")
    cmd.add_argument("--machine-type", default=DEFAULT_MACHINE_TYPE, help="machine of each replica")
    cmd.add_argument("--min-replicas", type=int, default=DEFAULT_MIN_REPLICAS, metavar="N", help="replicas always up")
    cmd.add_argument("--max-replicas", type=int, default=DEFAULT_MAX_REPLICAS, metavar="N", help="most replicas")
    cmd.add_argument(
        "--accelerator",
        default="",
        metavar="TYPE[:COUNT]",
        help="GPU per replica (the transformer arm), e.g. NVIDIA_TESLA_T4:1",
    )
    cmd.set_defaults(handler=deploy_command)


def add_undeploy_parser(commands: Any) -> None:
    """``emotion-pipeline undeploy``: a version off a Vertex AI endpoint, the traffic re-split."""
    cmd = commands.add_parser(
        "undeploy",
        help="remove a version from a Vertex AI endpoint (the others' traffic rescaled to 100 %%)",
        description="Removes the version's deployment; the remaining versions' shares are scaled to 100 %. "
        "Removing the last version, or the only one with traffic, needs --force.",
    )
    _add_common(cmd)
    cmd.add_argument("--force", action="store_true", help="remove it even when it leaves no traffic where it was")
    cmd.set_defaults(handler=undeploy_command)


def deploy_options(args: argparse.Namespace) -> DeployOptions:
    """The options the flags give.

    Raises:
        UsageError: A bad value, naming its flag.
    """
    kind, _, count = args.accelerator.partition(":")
    if count and not count.isdigit():
        raise UsageError(f"--accelerator {args.accelerator}: expected TYPE[:COUNT], e.g. NVIDIA_TESLA_T4:1")
    with _as_usage():
        return DeployOptions(
            traffic_percent=args.traffic,
            machine_type=args.machine_type,
            min_replicas=args.min_replicas,
            max_replicas=args.max_replicas,
            accelerator_type=kind,
            accelerator_count=int(count or 1) if kind else 0,
        )


@contextmanager
def _as_usage() -> Iterator[None]:
    """A DeployError as a UsageError whose message starts with the flag (``--traffic: …``)."""
    try:
        yield
    except DeployError as err:
        message = str(err)
        field = next((f for f in FLAGS if message.startswith((f + ":", f + " "))), "")
        raise UsageError(f"{FLAGS[field]}: {message}" if field else message) from None


@contextmanager
def _service_calls() -> Iterator[None]:
    """The SDKs' errors (Google sign-in, a refused request) as one line (exit status 1)."""
    from pipelines.cli.cloud import ServiceError, service_error_message

    try:
        yield
    except CliError:
        raise
    except Exception as err:
        message = service_error_message(err)
        if message is None:
            raise
        raise ServiceError(message) from err


def vertex_sdk() -> VertexSdk:
    """The aiplatform classes the requests are sent with (tests replace aiplatform's)."""
    return VertexSdk()


def _prepare(args: argparse.Namespace) -> tuple[str, str]:
    """Checks the registry and endpoint flags, then Google credentials (reads need them, dry or not)."""
    from pipelines import preflight

    with _as_usage():
        project, location = vertex_coordinates(args.registry)
        check_endpoint_name(args.endpoint)
    try:
        preflight.check_google_credentials(f"Vertex AI (project {project})")
    except preflight.PreflightError as err:
        raise UsageError(str(err)) from err
    return project, location


def _target(args: argparse.Namespace) -> Any:
    from components.registry.store import open_registry

    with _as_usage():
        return resolve_target(open_registry(args.registry), args.model)


def _report(outcome: Outcome, dry_run: bool, done: str) -> int:
    if dry_run:
        print("\n".join(outcome.lines()))
        print(f"dry run: {len(outcome.requests)} requests not sent", file=sys.stderr)
        return 0
    for request in outcome.requests:
        print(f"sent: {request.as_json()}")
    print(done)
    return 0


def deploy_command(args: argparse.Namespace) -> int:
    """Deploys ``--model`` to ``--endpoint`` (or prints the requests: ``--dry-run``)."""
    options = deploy_options(args)
    _prepare(args)
    with _service_calls():
        target = _target(args)
        with _as_usage():
            outcome = deploy_version(vertex_sdk(), target, args.endpoint, options, dry_run=args.dry_run)
    done = f"{target.model_name}/{target.version} deployed to endpoint {args.endpoint!r} ({options.traffic_percent} %)"
    return _report(outcome, args.dry_run, done)


def undeploy_command(args: argparse.Namespace) -> int:
    """Removes ``--model`` from ``--endpoint`` (or prints the requests: ``--dry-run``)."""
    _prepare(args)
    with _service_calls():
        target = _target(args)
        with _as_usage():
            outcome = undeploy_version(vertex_sdk(), target, args.endpoint, args.force, dry_run=args.dry_run)
    done = f"{target.model_name}/{target.version} removed from endpoint {args.endpoint!r}"
    return _report(outcome, args.dry_run, done)
