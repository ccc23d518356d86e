"""The model commands of ``emotion-pipeline``: ``serve`` (online, Vertex AI's container contract) and ``predict``
(a file of texts, streamed), both with a version from the model registry (``--registry``, ``--model NAME@champion``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipelines.cli.errors import CliError, UsageError

#: The registry ``serve`` and ``predict`` read when --registry is not given: where ``run`` registers by default.
DEFAULT_REGISTRY = "emotion-pipeline-registry"
#: Longest wait for a tracking server's first answer (as a run's default network_timeout_seconds).
NETWORK_TIMEOUT_SECONDS = 30.0
#: The environment variable through which ``serve --workers N`` hands its :class:`ServePlan` to the worker processes.
SERVE_PLAN_ENV = "EMOTION_PIPELINE_SERVE_PLAN"


def _add_model_options(cmd: argparse.ArgumentParser, required: bool = True) -> None:
    cmd.add_argument(
        "--registry",
        default=DEFAULT_REGISTRY,
        metavar="URI",
        help="model registry: a folder (MLflow, SQLite), an MLflow tracking URI or vertex://PROJECT/REGION",
    )
    cmd.add_argument("--registry-artifacts", default="", metavar="URI", help="as given to the run that registered")
    cmd.add_argument(
        "--model",
        required=required,
        metavar="NAME@ALIAS",
        help="registered model: NAME@champion (the champion), NAME@ALIAS or NAME/VERSION, e.g. emotion-demo@champion",
    )


def add_serve_parser(commands: Any) -> None:
    """``emotion-pipeline serve``: a registered version behind the Vertex AI custom-container contract."""
    cmd = commands.add_parser(
        "serve",
        help="serve a registered model over HTTP (Vertex AI custom-container contract)",
        description='Serves POST /predict {"instances": [{"text": ...}]} and GET /health. Routes and port come '
        "from AIP_PREDICT_ROUTE, AIP_HEALTH_ROUTE, AIP_HTTP_PORT when set; on Vertex AI (AIP_STORAGE_URI set and "
        "no --model) the model is the version Vertex AI copied there.",
    )
    _add_model_options(cmd, required=False)
    cmd.add_argument("--port", type=int, default=None, help="port (default: AIP_HTTP_PORT, else 8080)")
    cmd.add_argument(
        "--host", default=None, help="interface (default: 0.0.0.0 when AIP_HTTP_PORT is set, else 127.0.0.1)"
    )
    _add_two_version_options(cmd)
    cmd.set_defaults(handler=serve_command)


def _add_two_version_options(cmd: argparse.ArgumentParser) -> None:
    from pipelines.serving_routes import DEFAULT_SEED, INLINE_MS

    cmd.add_argument(
        "--canary",
        default="",
        metavar="REF:PERCENT",
        help="a challenger (NAME/VERSION or NAME@ALIAS) answering PERCENT %% of the requests, drawn per request",
    )
    cmd.add_argument(
        "--shadow",
        default="",
        metavar="REF",
        help="a challenger predicting every request off the response path (the champion answers); needs --shadow-log",
    )
    cmd.add_argument(
        "--shadow-log", default="", metavar="FILE", help="JSON Lines of both versions' predictions, one per instance"
    )
    cmd.add_argument("--log-texts", action="store_true", help="log the texts too (default: their SHA-256 only)")
    cmd.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the canary's draws")
    cmd.add_argument(
        "--inline-ms",
        type=float,
        default=INLINE_MS,
        metavar="MS",
        help="small requests are predicted on the event loop while the version's recent ones took under MS ms on "
        "average, others in a thread pool (0: always the thread pool)",
    )
    cmd.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes; each loads the models itself (startup: one load per worker, after the check "
        "load in the main process)",
    )


def add_predict_parser(commands: Any) -> None:
    """``emotion-pipeline predict``: batch prediction of a file with a registered version."""
    cmd = commands.add_parser(
        "predict",
        help="predict a file of texts with a registered model (CSV, text;label lines or JSON lines; gs:// too)",
    )
    _add_model_options(cmd)
    cmd.add_argument("--input", required=True, metavar="URI", help="texts: local path, gs:// or https://")
    cmd.add_argument("--output", required=True, metavar="URI", help="predictions: .csv or .jsonl, local or gs://")
    cmd.add_argument("--text-column", default="", help="text column or field (default: guessed)")
    cmd.add_argument("--label-column", default="", help="label column or field, kept as true_label (default: guessed)")
    cmd.add_argument("--chunk-rows", type=int, default=10000, help="rows read, predicted and written at a time")
    cmd.add_argument("--encoding", default="utf-8", help="text encoding of the input")
    cmd.add_argument(
        "--explain",
        action="store_true",
        help="add each row's explanation: the words that pushed it most toward its label, with their weights",
    )
    cmd.add_argument(
        "--explain-top", type=int, default=None, metavar="N", help="words per explanation (with --explain; default 5)"
    )
    cmd.set_defaults(handler=predict_command)


def _open(args: argparse.Namespace) -> Any:
    from components.registry.store import RegistryError, check_registry, is_folder, open_registry

    if (
        is_folder(args.registry)
        and not (Path(args.registry.removeprefix("file://")).expanduser() / "mlflow.db").is_file()
    ):
        raise UsageError(
            f"--registry {args.registry}: no registry there (no mlflow.db); give the folder a run registered into "
            "(emotion-pipeline run --registry DIR; default ./emotion-pipeline-registry beside --output)"
        )
    if str(args.registry).startswith("vertex://"):  # the Vertex AI SDK would print a traceback without them
        from pipelines import preflight

        try:
            preflight.check_google_credentials(f"--registry {args.registry}")
        except preflight.PreflightError as err:
            raise UsageError(str(err)) from err
    try:
        if urlsplit(args.registry).scheme.lower() in ("http", "https"):  # unreachable: said now, not after retries
            check_registry(args.registry, args.registry_artifacts, timeout=NETWORK_TIMEOUT_SECONDS)
    except RegistryError as err:
        raise CliError(str(err)) from None
    try:
        return open_registry(args.registry, args.registry_artifacts, read_only=True)  # predict and serve only read
    except RegistryError as err:
        raise UsageError(str(err)) from err


def load_model(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The model a command names, and what to report about it (name, version, registry).

    Raises:
        UsageError: A bad --model or --registry; CliError: the version cannot be found or loaded.
    """
    from components.registry.store import ModelRef, RegistryError, load_version, redact_text

    try:
        ref = ModelRef.parse(args.model)
    except RegistryError as err:
        raise UsageError(str(err)) from err
    registry = _open(args)
    try:
        model, version, metadata = load_version(registry, ref)
    except RegistryError as err:
        raise CliError(str(err)) from err
    except Exception as err:  # a corrupted, moved or unreadable version, a failing server: one line, redacted
        reason = f"{type(err).__name__}: {redact_text(str(err))}"
        raise CliError(f"{ref}: cannot be loaded from {registry.uri} ({reason})") from None
    info = {"model": version.name, "version": version.version, "registry": registry.uri, "requested": str(ref)}
    return model, {**info, "labels": metadata.get("labels", []), "task": metadata.get("task", "")}


def _load_from_storage(uri: str) -> tuple[Any, dict[str, Any]]:
    """Vertex AI: the version's folder that Vertex AI copied to ``AIP_STORAGE_URI``."""
    import fsspec

    from components.registry.packaging import load_packaged_model

    target = Path(tempfile.mkdtemp(prefix="aip-model-"))
    fs, path = fsspec.core.url_to_fs(uri)
    fs.get(path.rstrip("/") + "/", str(target), recursive=True)
    model, metadata = load_packaged_model(target)
    return model, {
        "model": metadata.get("task", ""),
        "version": "",
        "registry": uri,
        "labels": metadata.get("labels", []),
    }


@dataclass(frozen=True)
class ServePlan:
    """What ``serve`` loads and how it routes: all a worker process needs to rebuild the application.

    Attributes:
        registry: The registry's URI (and ``registry_artifacts``, as given to the run that registered).
        champion: The champion's reference as given (``NAME@champion``); empty when served from ``storage``.
        challenger: The challenger's reference as given (``--canary``/``--shadow``), or empty.
        mode: ``single``, ``canary`` or ``shadow``.
        percent: The canary's share of requests (0 to 100).
        seed: The seed of the canary's draws.
        log: The log file (``--shadow-log``), or empty.
        log_texts: Log texts beside their hashes.
        storage: ``AIP_STORAGE_URI`` when the champion is the version Vertex AI copied there.
        pinned: Reference as given → ``NAME/VERSION`` it resolved to (workers load those: an alias moved meanwhile
            does not change what they serve).
    """

    registry: str = DEFAULT_REGISTRY
    registry_artifacts: str = ""
    champion: str = ""
    challenger: str = ""
    mode: str = "single"
    percent: float = 0.0
    seed: int = 0
    log: str = ""
    log_texts: bool = False
    storage: str = ""
    pinned: dict[str, str] = dataclasses.field(default_factory=dict)


def serve_plan(args: argparse.Namespace, storage: str = "") -> ServePlan:
    """The plan of a ``serve`` command line, checked before anything loads.

    Raises:
        UsageError: --canary and --shadow together, a bad PERCENT, --shadow without --shadow-log, a log elsewhere
            than in an existing folder, logging options without a challenger, --workers below 1.
    """
    if args.canary and args.shadow:
        raise UsageError("--canary and --shadow exclude each other: give one challenger")
    mode, challenger, percent = "single", "", 0.0
    if args.canary:
        mode, challenger, percent = "canary", *_canary(args.canary)
    elif args.shadow:
        mode, challenger = "shadow", args.shadow
    if mode == "single" and (args.shadow_log or args.log_texts):
        raise UsageError("--shadow-log and --log-texts need a challenger (--canary REF:PERCENT or --shadow REF)")
    if mode == "shadow" and not args.shadow_log:
        raise UsageError("--shadow needs --shadow-log FILE: the challenger's predictions are only recorded there")
    if args.shadow_log and not Path(args.shadow_log).expanduser().resolve().parent.is_dir():
        raise UsageError(f"--shadow-log {args.shadow_log}: its folder does not exist")
    if args.workers < 1:
        raise UsageError(f"--workers {args.workers}: expected 1 or more")
    if mode != "single" and not args.model:
        raise UsageError(f"--{mode} needs --model NAME@ALIAS (the champion) from the same registry")
    return ServePlan(
        registry=args.registry,
        registry_artifacts=args.registry_artifacts,
        champion=args.model or "",
        challenger=challenger,
        mode=mode,
        percent=percent,
        seed=args.seed,
        log=str(Path(args.shadow_log).expanduser().resolve()) if args.shadow_log else "",
        log_texts=args.log_texts,
        storage="" if args.model else storage,
    )


def _canary(text: str) -> tuple[str, float]:
    """``REF:PERCENT`` → (REF, PERCENT); PERCENT a number from 0 to 100."""
    ref, _, share = text.rpartition(":")
    try:
        percent = float(share)
    except ValueError:
        percent = float("nan")
    if not ref or not 0 <= percent <= 100:
        raise UsageError(f"--canary {text}: expected REF:PERCENT with PERCENT from 0 to 100 (e.g. emotion-demo/2:10)")
    return ref, percent


def load_deployment(plan: ServePlan) -> tuple[Any, dict[str, Any]]:
    """Loads the plan's versions and opens its log.

    Returns:
        The :class:`~pipelines.serving_routes.Deployment` and what the health route reports about the champion.

    Raises:
        UsageError: A bad reference, registry or log file; CliError: a version cannot be found or loaded.
    """
    from pipelines.serving_routes import Deployment, PredictionLog, Routing, ServedVersion

    def version(ref: str) -> tuple[ServedVersion, dict[str, Any]]:
        args = argparse.Namespace(
            registry=plan.registry, registry_artifacts=plan.registry_artifacts, model=plan.pinned.get(ref, ref)
        )
        model, info = load_model(args) if ref else _load_from_storage(plan.storage)
        return ServedVersion(ref, info["model"], str(info["version"]), model), info

    champion, info = version(plan.champion)
    challenger = version(plan.challenger)[0] if plan.challenger else None
    try:
        log = PredictionLog(plan.log) if plan.log else None
    except OSError as err:
        raise UsageError(f"--shadow-log {plan.log}: cannot be written ({err.strerror})") from None
    routing = Routing(plan.mode, plan.percent, plan.seed, plan.log_texts)
    return Deployment(champion, challenger, routing, log), {**info, "requested": plan.champion or plan.storage}


def worker_app() -> Any:
    """The application of one ``serve --workers N`` worker process: the plan and settings the main process put in
    :data:`SERVE_PLAN_ENV`, its models loaded here (uvicorn's app factory)."""
    from pipelines.serving import ServeSettings, build_app

    given = json.loads(os.environ[SERVE_PLAN_ENV])
    plan, settings = ServePlan(**given["plan"]), ServeSettings(**given["settings"])
    deployment, info = load_deployment(plan)
    return build_app(None, info, settings, deployment)


def serve_command(args: argparse.Namespace) -> int:
    """Loads the versions, then serves until interrupted (in ``--workers`` processes, each loading them again)."""
    from pipelines.serving import RequestError, serve, serve_workers, settings_from_env

    try:
        settings = dataclasses.replace(
            settings_from_env(args.port, args.host), workers=args.workers, inline_ms=args.inline_ms
        )
    except RequestError as err:
        raise UsageError(str(err)) from err
    storage = os.environ.get("AIP_STORAGE_URI", "")
    if not args.model and not storage:
        raise UsageError("--model NAME@ALIAS is required (e.g. emotion-demo@champion) unless AIP_STORAGE_URI is set")
    plan = serve_plan(args, storage)
    _check_port_free(settings.host, settings.port)
    deployment, info = load_deployment(plan)
    _announce(deployment, info, settings)
    if settings.workers == 1:
        serve(None, info, settings, deployment)
        return 0
    pinned = {
        side.ref: f"{side.name}/{side.version}"
        for side in (deployment.champion, deployment.challenger)
        if side is not None and side.ref and side.version
    }
    deployment.close()
    given = {
        "plan": dataclasses.asdict(dataclasses.replace(plan, pinned=pinned)),
        "settings": dataclasses.asdict(settings),
    }
    os.environ[SERVE_PLAN_ENV] = json.dumps(given)  # the worker processes inherit it
    serve_workers(f"{__name__}:worker_app", settings)
    return 0


def _announce(deployment: Any, info: dict[str, Any], settings: Any) -> None:
    """One line on stderr: what is served where (and the challenger, its mode and log)."""
    champion = deployment.champion
    line = f"serving {champion.name} version {champion.version} from {info['registry']}"
    if deployment.challenger is not None:
        challenger = deployment.challenger
        share = f" on {deployment.routing.percent:g} % of requests" if deployment.routing.mode == "canary" else ""
        line += f", {deployment.routing.mode} {challenger.ref} (version {challenger.version}){share}"
        if deployment.log is not None:
            line += f" logged to {deployment.log.path}"
    workers = f" ({settings.workers} workers)" if settings.workers > 1 else ""
    print(
        f"{line} on http://{settings.host}:{settings.port}{workers} (POST {settings.predict_route}, GET "
        f"{settings.health_route})",
        file=sys.stderr,
        flush=True,
    )


def _check_port_free(host: str, port: int) -> None:
    """Refuses a port another process listens on before the model is loaded (exit status 2, one line)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise UsageError(f"--port {port}: cannot listen on {host}:{port} ({err.strerror})") from None


def _explain_options(args: argparse.Namespace) -> dict[str, Any]:
    """``explain`` and ``explain_top`` of :class:`BatchPredictOptions` from ``--explain [--explain-top N]``."""
    if args.explain_top is None:
        return {"explain": args.explain}
    if not args.explain:
        raise UsageError("--explain-top: give --explain too (it sets the words per explanation)")
    if args.explain_top < 1:
        raise UsageError(f"--explain-top must be >= 1 word, got {args.explain_top}")
    return {"explain": True, "explain_top": args.explain_top}


def predict_command(args: argparse.Namespace) -> int:
    """Predicts the input file and prints rows, time, accuracy (labelled input) and where the predictions are."""
    from components.checks.errors import DataError, ParameterError
    from components.models.explain import ExplanationUnavailable
    from components.steps.batch_predict import BatchPredictOptions, predict_file, same_file

    explain = _explain_options(args)
    try:
        options = BatchPredictOptions(
            text_column=args.text_column,
            label_column=args.label_column,
            chunk_rows=args.chunk_rows,
            encoding=args.encoding,
            **explain,
        )
    except ParameterError as err:
        raise UsageError(str(err)) from err
    if same_file(args.input, args.output):  # refused before the model loads: the input is never touched
        raise UsageError(f"--output {args.output} is the --input file: give another output (the input is kept)")
    model, info = load_model(args)
    try:
        result = predict_file(model, args.input, args.output, options=options, classes=info["labels"])
    except ParameterError as err:
        raise UsageError(str(err)) from err
    except DataError as err:
        raise CliError(str(err)) from err
    except ExplanationUnavailable as err:
        raise CliError(f"--explain: version {info['version']} of {info['model']} cannot be explained: {err}") from err
    print(f"model:   {info['model']} version {info['version']} ({info['requested']}, {info['registry']})")
    print(f"rows:    {result.rows} in {result.seconds:.1f} s ({result.rows / max(result.seconds, 1e-9):.0f} rows/s)")
    if result.accuracy is not None:
        print(f"accuracy: {result.accuracy:.4f} ({result.correct}/{result.labelled} labelled rows)")
    print(f"output:  {result.output_uri}")
    return 0
