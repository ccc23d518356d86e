"""The options that choose a run's data and parameters, and the one function that turns them into pipeline
parameters for every command that starts runs (``run``, ``submit``, ``schedule create``).

Precedence, weakest first: the pipeline's defaults (the steps' options dataclasses), the task preset or
``--config`` file, then the command line (``--train``/``--test``, the named options, ``--set KEY=VALUE``).
Every value is checked before anything starts, by the same options dataclasses the steps build.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pipelines.cli.errors import UsageError

#: Where the images keep the demo data (docker/Dockerfile): a cluster run's default training file.
IMAGE_DATA_ROOT = "/opt/emotion-pipeline/data"
IMAGE_DEMO_DATA = f"{IMAGE_DATA_ROOT}/demo_emotions.csv"
TASK_FILES_HINT = "a task's file names are relative to --data-root, default ../shared/data from the current folder"

#: Named options whose destination is the pipeline parameter of the same name (type, help).
NAMED_PARAMETERS: dict[str, tuple[Any, str]] = {
    "seed": (int, "seed of the split, the searches and the bootstrap"),
    "scratch_budget_seconds": (float, "budget of the from-scratch search and refit"),
    "scratch_max_candidates": (int, "candidates drawn from the search space"),
    "scratch_ensemble_size": (int, "majority vote of the best N search candidates; 1 = the single best"),
    "scratch_workers": (int, "search candidates fitted at once (one per core)"),
    "automl_budget_minutes": (float, "hard budget of the AutoML step"),
    "automl_tune_iterations": (int, "tune_model iterations on the best AutoML candidate, within its budget"),
    "transformer_budget_minutes": (float, "budget of the transformer's fine-tuning (with --arms …,transformer)"),
    "bootstrap_resamples": (int, "bootstrap resamples for the 95 %% intervals"),
}


#: Registry options (``--registry``, ``--registry-artifacts``, ``--model-name``) → pipeline parameter.
REGISTRY_OPTIONS: dict[str, tuple[str, str, str]] = {
    "registry_uri": (
        "--registry",
        "URI",
        "model registry: a folder (MLflow, SQLite), an MLflow tracking URI or "
        "vertex://PROJECT/REGION (run: emotion-pipeline-registry beside --output; submit to Vertex AI: "
        "vertex://PROJECT/REGION)",
    ),
    "registry_artifact_uri": (
        "--registry-artifacts",
        "URI",
        "where registered versions' files go (MLflow "
        "artifact location such as gs://bucket/mlflow; Vertex AI staging bucket)",
    ),
    "model_name": ("--model-name", "NAME", "registered model name (default: emotion-<task>)"),
}

#: Options whose destination is a pipeline parameter of the same name.
PIPELINE_OPTIONS = (
    *NAMED_PARAMETERS,
    *REGISTRY_OPTIONS,
    "automl_models",
    "winner_metric",
    "text_column",
    "label_column",
    "encoding",
    "data_format",
    "multi_label",
    "label_map",
    "scratch_search_space",
)


def _comma_list(value: str) -> list[str]:
    items = [item.strip() for item in value.split(",") if item.strip()]
    if not items:
        raise argparse.ArgumentTypeError("give at least one name, comma separated (e.g. lr,nb)")
    return items


class DefaultsFormatter(argparse.RawDescriptionHelpFormatter):
    """Help that shows every option's default; a pipeline parameter's is read from the pipeline when help is shown.

    The pipeline's defaults live in the steps' options dataclasses; reading them only when help is printed keeps
    the command line quick to start (no KFP import) and the defaults in one place.
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or action.help == argparse.SUPPRESS or action.nargs == 0:
            return text
        default = action.default
        if default is None and action.dest in PIPELINE_OPTIONS:
            from components.arms import ARMS
            from pipelines.parameters import pipeline_parameters

            default = pipeline_parameters(tuple(ARMS))[action.dest].default  # every arm's parameters
        if default is None or (isinstance(default, str | list | tuple | dict) and not default):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, list | tuple) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"


def add_arms_option(cmd: argparse.ArgumentParser | Any) -> None:
    """``--arms``: the arms of the run, in order (``run``, ``compile``, ``submit``, ``schedule create``)."""
    from components.arms import ARMS, DEFAULT_ARMS

    cmd.add_argument(
        "--arms",
        type=_comma_list,
        default=None,
        metavar="NAMES",
        help=f"model arms to train and compare, in order: {', '.join(ARMS)} (default: {','.join(DEFAULT_ARMS)})",
    )


def selected_arms(args: argparse.Namespace) -> tuple[str, ...]:
    """The run's arms from ``--arms`` (the default arms when not given).

    Raises:
        UsageError: An unknown or repeated arm.
    """
    from components.arms import ArmError, select_arms

    try:
        return tuple(arm.name for arm in select_arms(getattr(args, "arms", None)))
    except ArmError as err:
        raise UsageError(f"--{err}") from err


def add_parameter_options(cmd: argparse.ArgumentParser, *, cluster: bool) -> None:
    """The data and model options of a command that starts runs (``cluster``: files as the cluster sees them)."""
    _add_data_options(cmd, cluster=cluster)
    models = cmd.add_argument_group("models and evaluation")
    add_arms_option(models)
    for name, (kind, text) in NAMED_PARAMETERS.items():
        models.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None, help=text)
    models.add_argument(
        "--automl-models",
        type=_comma_list,
        default=None,
        metavar="IDS",
        help="PyCaret ids, tried in this order within the budget",
    )
    models.add_argument(
        "--scratch-search-space",
        type=Path,
        default=None,
        metavar="JSON",
        help="file with a list of dicts of value lists (components/arms/scratch/train.py)",
    )
    models.add_argument(
        "--winner-metric",
        choices=["macro_f1", "accuracy", "weighted_f1"],
        default=None,
        help="metric that decides the winner",
    )
    registry = cmd.add_argument_group("registry")
    for dest, (flag, metavar, text) in REGISTRY_OPTIONS.items():
        registry.add_argument(flag, dest=dest, default=None, metavar=metavar, help=text)
    cmd.add_argument(
        "--set",
        action="append",
        default=[],
        dest="overrides",
        metavar="KEY=VALUE",
        help="any pipeline parameter, VALUE read as YAML: --set leakage=keep --set automl_folds=5; repeatable",
    )


def _add_data_options(cmd: argparse.ArgumentParser, *, cluster: bool) -> None:
    """The data options: task, files, columns, format and labels."""
    from pipelines.tasks import DEFAULT_DATA_ROOT, shipped_tasks

    where = "as the cluster sees it (gs://…, or a path in the image)" if cluster else "local path, gs:// or https://"
    data = cmd.add_argument_group("data")
    tasks = ", ".join(shipped_tasks())
    data.add_argument(
        "--task",
        default="",
        help=f"task preset ({tasks}; default demo); with --train or --config, just the name recorded in the summary",
    )
    data.add_argument("--config", type=Path, default=None, metavar="FILE", help="task file (YAML, like the presets)")
    data.add_argument(
        "--data-root",
        default=None,
        metavar="DIR",
        help=f"folder or URI a preset's file names are relative to (default: {DEFAULT_DATA_ROOT})",
    )
    data.add_argument("--train", action="append", default=[], metavar="URI", help=f"training file, {where}; repeatable")
    data.add_argument("--test", default="", metavar="URI", help="held-out file (default: a stratified split)")
    data.add_argument(
        "--text-column",
        default=None,
        help="text column: a name, or a number from 0 in a file without a header; guessed when not given",
    )
    data.add_argument("--label-column", default=None, help="label column, like --text-column; guessed when not given")
    data.add_argument("--encoding", default=None, help="text encoding of the files")
    data.add_argument(
        "--format",
        dest="data_format",
        choices=["auto", "csv", "tsv", "semicolon", "jsonl", "parquet"],
        default=None,
        help="file format (auto: by name, then content; gzip/bz2/xz/zstd files are read too); --set separator=| "
        "for another separator, --set header=no for a file without a header (columns by number: --text-column 0)",
    )
    data.add_argument(
        "--multi-label",
        dest="multi_label",
        choices=["refuse", "first", "explode", "drop"],
        default=None,
        help="a label listing several (2,27, as in GoEmotions): refuse, keep the first, explode into a row per "
        "label, or drop the row (counted in the data report)",
    )
    data.add_argument("--label-map", default=None, metavar="OLD=NEW,...", help="rename labels, e.g. happy=joy")


def build_run_parameters(args: argparse.Namespace, *, cluster: bool, target: str = "local") -> dict[str, Any]:
    """The pipeline parameters of a run from the command line, checked before anything starts.

    Args:
        args: The parsed options of :func:`add_parameter_options`.
        cluster: The steps run on a cluster or Vertex AI: local relative paths are refused, and the demo
            task reads the demo data inside the images.
        target: ``local``, ``kfp`` or ``vertex`` (whose pipeline also takes the deploy step's parameters).

    Returns:
        Every parameter the command line or the task sets (the pipeline's defaults fill in the rest).

    Raises:
        UsageError: An unknown task or parameter, a value a step would refuse, or a missing file.
    """
    from components.checks.errors import ParameterError
    from pipelines.parameters import check_run_parameters, coerce
    from pipelines.tasks import DATA_PARAMETERS, TaskError, select_task

    arms = selected_arms(args)
    if not cluster:
        _check_arm_stacks(arms)
    given = _given_parameters(args)
    data = {key: value for key, value in given.items() if key in DATA_PARAMETERS}
    demo = cluster and args.task in ("", "demo") and not (args.train or args.config)
    data_root = args.data_root or (IMAGE_DATA_ROOT if demo else None)
    try:
        parameters = select_task(args.task, args.config, args.train, args.test, data_root, data)
        # a task's setting for an arm this run does not have (the demo's automl_budget_minutes) does not apply;
        # the command line's own are still refused (coerce names the arm)
        parameters = {k: v for k, v in parameters.items() if k in given or not _other_arms_parameter(k, arms)}
        parameters |= {
            key: coerce(key, value, arms, target) for key, value in given.items() if key not in DATA_PARAMETERS
        }
        check_run_parameters(parameters, arms, target)
    except (TaskError, ParameterError) as err:
        raise UsageError(_with_option_name(str(err), args)) from err
    (_check_cluster_paths if cluster else _check_local_files)(parameters, args)
    return parameters


def _other_arms_parameter(name: str, arms: tuple[str, ...]) -> bool:
    """Whether ``name`` is a parameter of an arm that is not one of ``arms`` (``automl_budget_minutes``)."""
    from components.arms import ARMS

    return any(name.startswith(arm.prefix) for arm in ARMS.values() if arm.name not in arms)


def _check_arm_stacks(arms: tuple[str, ...]) -> None:
    """Refuses a local run of an arm whose libraries are not installed here, with the command that installs them."""
    from components.arms import ARMS

    missing = [problem for problem in (ARMS[name].missing() for name in arms) if problem]
    if missing:
        raise UsageError("; ".join(missing))


def _with_option_name(message: str, args: argparse.Namespace) -> str:
    """A step's message about pipeline parameter ``name`` with the option that gave it (``--seed``,
    ``--set name``), so the user sees what to change on the command line."""
    name = message.split(" ", 1)[0].rstrip(":")
    flag = "--" + name.replace("_", "-")
    named = {dest: flag for dest, (flag, _, _) in REGISTRY_OPTIONS.items()} | {"data_format": "--format"}
    if name in PIPELINE_OPTIONS and getattr(args, name, None) is not None:
        option = named.get(name, flag)
    elif any(item.split("=", 1)[0].strip() == name for item in args.overrides):
        option = f"--set {name}"
    else:
        return message
    return f"{option}: {message}"


def _given_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """Parameters named on the command line: ``--set`` first, the named options over them."""
    from pipelines.tasks import TaskError, parse_assignment, parse_label_map

    try:
        given = dict(parse_assignment(item) for item in args.overrides)
        if args.label_map:
            given["label_map"] = parse_label_map(args.label_map)
    except TaskError as err:
        raise UsageError(str(err)) from err
    for name in PIPELINE_OPTIONS[:-2]:  # label_map and scratch_search_space: parsed above and below
        if getattr(args, name) is not None:
            given[name] = getattr(args, name)
    if args.scratch_search_space is not None:
        given["scratch_search_space"] = _read_search_space(args.scratch_search_space)
    return given


def _read_search_space(path: Path) -> list[Any]:
    try:
        space = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise UsageError(f"--scratch-search-space {path}: {err}") from err
    space = [space] if isinstance(space, dict) else space
    if not isinstance(space, list) or not all(isinstance(entry, dict) for entry in space):
        raise UsageError(f"--scratch-search-space {path}: expected a list of objects")
    return space


def _check_local_files(parameters: dict[str, Any], args: argparse.Namespace) -> None:
    """Refuses a missing local file; makes local paths absolute (the summary records where the data was)."""
    for uri in [*parameters["train_uris"], parameters["test_uri"]]:
        if uri and "://" not in uri and not Path(uri).is_file():
            what = "is a directory, expected a file" if Path(uri).is_dir() else "no such file"
            hint = "" if uri in args.train or uri == args.test else f" ({TASK_FILES_HINT})"
            raise UsageError(f"{uri}: {what}{hint}")
    parameters["train_uris"] = [_absolute(uri) for uri in parameters["train_uris"]]
    parameters["test_uri"] = _absolute(parameters["test_uri"])


def _absolute(uri: str) -> str:
    return str(Path(uri).expanduser().resolve()) if uri and "://" not in uri else uri


def _check_cluster_paths(parameters: dict[str, Any], args: argparse.Namespace) -> None:
    for uri in [*parameters["train_uris"], parameters["test_uri"]]:
        if uri and "://" not in uri and not uri.startswith("/"):
            raise UsageError(
                f"{uri}: a relative path on this machine is not visible to the cluster; upload it "
                "(gs://bucket/file) or give a path inside the image"
            )


def build_batch_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The parameters of an ``emotion-batch-predict`` or ``emotion-monitor`` run (``--pipeline``):
    ``--registry``/``--registry-artifacts`` and ``--set``.

    Raises:
        UsageError: A training-data option, an unknown parameter, a wrong type, a value the step would refuse, or a
            required parameter (registry_uri, model, input_uri, and output_uri for batch-predict) missing.
    """
    from components.checks.errors import ParameterError
    from components.registry.store import ModelRef, RegistryError
    from pipelines.tasks import TaskError, parse_assignment

    pipeline = getattr(args, "pipeline", "batch-predict")
    required, declared, options = _lifecycle_pipeline(pipeline)
    given_data = [
        flag
        for flag, value in (
            ("--train", args.train),
            ("--test", args.test),
            ("--task", args.task),
            ("--config", args.config),
        )
        if value
    ]
    if given_data:
        raise UsageError(f"{given_data[0]}: not an option of the {pipeline} pipeline; give --set input_uri=URI")
    try:
        params = dict(parse_assignment(item) for item in args.overrides)
    except TaskError as err:
        raise UsageError(str(err)) from err
    params |= {key: getattr(args, key) for key in REGISTRY_OPTIONS if key != "model_name" and getattr(args, key)}
    for key, value in params.items():
        if key not in declared:
            raise UsageError(f"{key}: the {pipeline} pipeline has no such parameter; it has {sorted(declared)}")
        expected = type(declared[key]) if declared[key] is not None else str
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            params[key] = value = float(value)
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise UsageError(f"{key} must be {expected.__name__}, got {value!r}")
    missing = [key for key in required if not params.get(key)]
    if missing:
        raise UsageError(
            f"{pipeline} needs {', '.join(missing)} (--registry URI, --set model=NAME@champion, "
            "--set input_uri=gs://…" + (", --set output_uri=gs://….jsonl)" if "output_uri" in required else ")")
        )
    try:
        ModelRef.parse(params["model"])
        options(**{k: params[k] for k in declared if k in params and k in options.__dataclass_fields__})
    except (RegistryError, ParameterError) as err:
        raise UsageError(str(err)) from err
    return params


def _lifecycle_pipeline(pipeline: str) -> tuple[tuple[str, ...], dict[str, Any], type]:
    """Required parameters, declared parameters (name → default) and the step's options class of a pipeline."""
    if pipeline == "monitor":
        from components.steps.monitor import MonitorOptions
        from pipelines.monitor_pipeline import REQUIRED, monitor_parameters

        return REQUIRED, monitor_parameters(), MonitorOptions
    from components.steps.batch_predict import BatchPredictOptions
    from pipelines.batch_pipeline import REQUIRED as BATCH_REQUIRED
    from pipelines.batch_pipeline import batch_parameters

    return BATCH_REQUIRED, batch_parameters(), BatchPredictOptions
