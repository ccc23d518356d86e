"""The model commands of ``emotion-pipeline``: ``serve`` (online, Vertex AI's container contract) and ``predict``
(a file of texts, streamed), both with a version from the model registry (``--registry``, ``--model NAME@champion``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipelines.cli.errors import CliError, UsageError

#: The registry ``serve`` and ``predict`` read when --registry is not given: where ``run`` registers by default.
DEFAULT_REGISTRY = "emotion-pipeline-registry"
#: Longest wait for a tracking server's first answer (as a run's default network_timeout_seconds).
NETWORK_TIMEOUT_SECONDS = 30.0


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
        description="Serves POST /predict {\"instances\": [{\"text\": ...}]} and GET /health. Routes and port come "
        "from AIP_PREDICT_ROUTE, AIP_HEALTH_ROUTE, AIP_HTTP_PORT when set; on Vertex AI (AIP_STORAGE_URI set and "
        "no --model) the model is the version Vertex AI copied there.",
    )  # fmt: skip
    _add_model_options(cmd, required=False)
    cmd.add_argument("--port", type=int, default=None, help="port (default: AIP_HTTP_PORT, else 8080)")
    cmd.add_argument(
        "--host", default=None, help="interface (default: 0.0.0.0 when AIP_HTTP_PORT is set, else 127.0.0.1)"
    )
    cmd.set_defaults(handler=serve_command)


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


def serve_command(args: argparse.Namespace) -> int:
    """Loads the model, then serves until interrupted."""
    from pipelines.serving import RequestError, serve, settings_from_env

    try:
        settings = settings_from_env(args.port, args.host)
    except RequestError as err:
        raise UsageError(str(err)) from err
    _check_port_free(settings.host, settings.port)
    storage = os.environ.get("AIP_STORAGE_URI", "")
    if args.model:
        model, info = load_model(args)
    elif storage:
        model, info = _load_from_storage(storage)
    else:
        raise UsageError("--model NAME@ALIAS is required (e.g. emotion-demo@champion) unless AIP_STORAGE_URI is set")
    print(f"serving {info['model']} version {info['version']} from {info['registry']} on "
          f"http://{settings.host}:{settings.port} (POST {settings.predict_route}, GET {settings.health_route})",
          file=sys.stderr, flush=True)  # fmt: skip
    serve(model, info, settings)
    return 0


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
