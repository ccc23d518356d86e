"""Run the pipeline on this machine with KFP's local runners: no cluster, no cloud.

By default each step runs as its own Python subprocess of the current interpreter
(``SubprocessRunner(use_venv=False)``), exactly the code that runs in the containers. With ``docker`` images
given, each step runs in a container of its image instead (``DockerRunner``, see :mod:`pipelines.docker_run`),
as on a cluster. Artifacts go under ``<output>/artifacts``, the steps' logs to ``<output>/run.log``; the
terminal shows one line a step and the steps' progress lines.

Caching: kfp.local (2.17) caches like the services do when asked (``enable_caching``): a task whose component,
image, command and inputs are unchanged is served from ``<output>/artifacts/.kfp_cache`` instead of running,
unless the task has caching off (fingerprint, register, promote, log_experiment). The subprocess runner ignores
the image, but the cache key includes it, so those runs name the image after the code the steps import
(:func:`local_image`): a changed step module or package version is a cache miss, as a new image tag is on a
cluster. Runs on Docker images are not cached: their ``:dev`` tags are reused by every rebuild, so a key on the
tag could serve a result of an older image.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import hashlib
import io
import json
import logging
import os
import re
import sys
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from components.arms import DEFAULT_ARMS
from components.io import atomic
from components.registry.store import redact_text
from components.runtime.progress import MARKER as PROGRESS_MARKER
from pipelines.docker_run import (
    ContainerSetupError,
    DockerImages,
    prepare_docker_run,
    use_exit_code_preserving_containers,
)
from pipelines.emotion_pipeline import build_pipeline
from pipelines.env_config import STEP_NAMES
from pipelines.rerender import RUN_MARKER

DEMO_DATA = Path(__file__).parent / "data" / "demo_emotions.csv"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_SHOWN = ("Running pipeline", "Executing task", "cache hit", "finished with status", PROGRESS_MARKER)
_CACHE_HIT = re.compile(r"Task (\S+) cache hit")
COMPONENTS_DIR = Path(__file__).resolve().parents[1] / "components"


class PipelineRunError(RuntimeError):
    """A step of a local run failed; the message names the step and the log to read."""


@dataclass
class LocalRunResult:
    """Where a finished local run left its results."""

    output_dir: Path
    summary_path: Path
    run_dir: Path
    log_path: Path
    html_report_path: Path | None = None
    cached_steps: tuple[str, ...] = ()

    @property
    def reports(self) -> list[Path]:
        """Markdown/HTML reports the run wrote (data report, leaderboard, run report …)."""
        return sorted(p for p in self.run_dir.rglob("*") if p.is_file() and p.name in _REPORT_NAMES)


_REPORT_NAMES = {"data_report", "search_report", "leaderboard", "report", "evaluation_report", "html_report"}


class _Tee(io.TextIOBase):
    """Writes everything to the log file and echoes the lines a person wants to see."""

    def __init__(self, log: TextIO, terminal: TextIO, verbose: bool) -> None:
        self._log, self._terminal, self._verbose = log, terminal, verbose
        self._pending = ""
        self.error: OSError | None = None  # the log could not be written (a full disk): raised when the run ends

    def write(self, text: str) -> int:
        text = redact_text(text)  # kfp.local logs every task's parameters (registry_uri among them)
        if self.error is None:
            try:
                self._log.write(_ANSI.sub("", text))
                self._log.flush()
            except OSError as err:  # not raised here: logging would print a traceback for every line after
                self.error = err
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if self._verbose or any(key in line for key in _SHOWN):
                self._terminal.write(line.strip() + "\n" if not self._verbose else line + "\n")
        self._terminal.flush()
        return len(text)


def local_image() -> str:
    """The image name local runs give the steps: ``emotion-pipeline:src-<hash>`` of the step code (every file under
    ``components/``) and the versions of the packages the steps use, so the local cache key changes with them."""
    from components.runtime.profiler import PACKAGES, environment_info

    digest = hashlib.sha256()
    for path in sorted(p for p in COMPONENTS_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(COMPONENTS_DIR)).encode() + b"\0" + path.read_bytes() + b"\0")
    versions = environment_info(PACKAGES).get("packages", {})
    digest.update(repr(sorted(versions.items())).encode())
    return f"emotion-pipeline:src-{digest.hexdigest()[:16]}"


def run_locally(
    parameters: dict[str, Any],
    output_dir: Path,
    verbose: bool = False,
    docker: DockerImages | None = None,
    cache: bool = True,
    arms: tuple[str, ...] = DEFAULT_ARMS,
) -> LocalRunResult:
    """Runs the whole pipeline locally and copies its summary to ``<output_dir>/summary.json``.

    Args:
        parameters: Pipeline parameters (``train_uris`` required).
        output_dir: Folder for artifacts, the log and the summary.
        verbose: Echo every log line instead of one line a step.
        docker: Run every step in a container of these images (``DockerRunner``); None: in subprocesses.
        cache: Reuse the results of steps whose code and inputs are unchanged since an earlier run into the same
            ``output_dir`` (see the module docstring; subprocess runs only); False reruns every step.
        arms: The arms to train and compare, in order.

    Returns:
        The paths of the results.

    Raises:
        PipelineRunError: A step failed, or (``ContainerSetupError``) the engine, an image or an input file is
            not usable by the containers; nothing is left at ``summary.json``.
    """
    from components.runtime.processes import own_process_tree

    own_process_tree()  # the steps end with this process, not with the shell that started it
    output_dir.mkdir(parents=True, exist_ok=True)
    summary_path = output_dir / "summary.json"
    summary_path.unlink(missing_ok=True)  # a failed run must not leave an older result looking like its own
    html_path = output_dir / "report.html"
    html_path.unlink(missing_ok=True)
    log_path = output_dir / "run.log"
    with _failed_on_error(output_dir) as started:
        pipeline, parameters = _init_runner(parameters, (output_dir / "artifacts").resolve(), docker, cache, arms)
        with network_ledger(output_dir):
            task = _run_pipeline(pipeline, parameters, log_path, verbose)
        produced = Path(task.output.path)
        atomic.write_bytes(summary_path, produced.read_bytes())
        if (produced.parent / "html_report").is_file():  # the profile step's HTML, with a name browsers open
            atomic.write_bytes(html_path, (produced.parent / "html_report").read_bytes())
        run_dir = produced.parent.parent
        _mark_run(run_dir, "finished", started, run_dir)
        _mark_run(output_dir, "finished", started, run_dir)
    cached = _in_pipeline_order(_CACHE_HIT.findall(log_path.read_text("utf-8")))
    return LocalRunResult(
        output_dir, summary_path, run_dir, log_path, html_path if html_path.is_file() else None, cached
    )


@contextlib.contextmanager
def network_ledger(output_dir: Path) -> Iterator[Path]:
    """The run's network ledger (``<output>/.network-ledger.json``, named to the steps in the environment): the
    seconds each input URI has spent in failed attempts, so that fingerprint and ingest share one deadline per URI
    (:mod:`components.io.remote`). Removed, and the variable unset, when the run ends."""
    from components.io.remote import LEDGER_ENV

    ledger = (output_dir / ".network-ledger.json").resolve()
    previous = os.environ.get(LEDGER_ENV)
    ledger.unlink(missing_ok=True)
    os.environ[LEDGER_ENV] = str(ledger)
    try:
        yield ledger
    finally:
        if previous is None:
            os.environ.pop(LEDGER_ENV, None)
        else:
            os.environ[LEDGER_ENV] = previous
        for path in (ledger, ledger.with_name(ledger.name + ".lock")):
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)


def _in_pipeline_order(tasks: list[str]) -> tuple[str, ...]:
    """Task names (``train-automl``) once each, in the pipeline's step order: kfp.local runs independent steps in
    an order that varies between runs (``train-scratch`` and ``vectorise`` both follow ``clean``)."""
    order = {name.replace("_", "-"): i for i, name in enumerate(STEP_NAMES)}
    return tuple(sorted(dict.fromkeys(tasks), key=lambda task: (order.get(task, len(order)), task)))


def _init_runner(
    parameters: dict[str, Any], pipeline_root: Path, docker: DockerImages | None, cache: bool, arms: tuple[str, ...]
) -> tuple[Any, dict[str, Any]]:
    """Sets up kfp.local's runner; returns the pipeline to call and its parameters (paths mapped for Docker)."""
    import kfp.local

    if docker is None:
        runner: Any = kfp.local.SubprocessRunner(use_venv=False)
        pipeline = build_pipeline(arms, image=local_image())
    else:
        try:
            setup = prepare_docker_run(docker, parameters, pipeline_root, arms)
        except ContainerSetupError as err:
            raise PipelineRunError(str(err)) from err
        use_exit_code_preserving_containers()
        runner, parameters = kfp.local.DockerRunner(**setup.run_args), setup.parameters
        arm_images = {"automl": docker.automl_image, "transformer": docker.transformer_image}
        pipeline = build_pipeline(arms, docker.image, arm_images)
    kfp.local.init(runner=runner, pipeline_root=str(pipeline_root), enable_caching=cache and docker is None)
    return pipeline, parameters


#: What a step's failure says of a full disk (its own OSError is in its log, not in this process).
_NO_SPACE = re.compile(r"\[Errno 28\]|No space left on device", re.IGNORECASE)


@contextlib.contextmanager
def _failed_on_error(output_dir: Path) -> Iterator[str]:
    """Marks the run ``running`` (yields when it started); on any error or interruption marks it ``failed``, with
    SIGINT and SIGTERM held off meanwhile. A full disk becomes one :class:`PipelineRunError` naming the folder."""
    from components.runtime.signals import signals_deferred

    started = ""
    try:
        started = _mark_run(output_dir, "running")
        yield started
    except BaseException as err:
        with signals_deferred():  # a second Ctrl-C does not cut the clean-up short
            _mark_failed(output_dir, started)
        if (isinstance(err, OSError) and err.errno == errno.ENOSPC) or (
            isinstance(err, PipelineRunError) and _NO_SPACE.search(str(err))
        ):
            step = "" if isinstance(err, OSError) else f": {_ANSI.sub('', str(err))[:300]}"
            raise PipelineRunError(
                f"no space left on device in {output_dir} (free some, or give another --output; run.json says "
                f"failed){step}"
            ) from None
        raise


def _mark_failed(folder: Path, started: str) -> None:
    """``run.json`` says ``failed``: written atomically, else over the old marker in place (a full disk has no
    room for a new file, but the old one's), else left as it is (said by the error that is raised)."""
    try:
        _mark_run(folder, "failed", started)
        return
    except OSError:
        pass
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    record = json.dumps({"status": "failed", "started": started or now, "ended": now}, indent=2).encode()
    with contextlib.suppress(OSError), open(folder / RUN_MARKER, "r+b") as marker:
        marker.write(record)
        marker.truncate(len(record))


def _mark_run(folder: Path, status: str, started: str = "", run_dir: Path | None = None) -> str:
    """Writes the run marker (``run.json``: status, start and end, the pipeline run folder) that ``report`` reads.

    Returns:
        When the run started (ISO 8601, UTC).
    """
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    record: dict[str, Any] = {"status": status, "started": started or now}
    if status != "running":
        record["ended"] = now
    if run_dir is not None:
        record["run_dir"] = str(run_dir.resolve().relative_to(folder.resolve())) if run_dir != folder else "."
    atomic.write_text(folder / RUN_MARKER, json.dumps(record, indent=2))
    return record["started"]


def _run_pipeline(pipeline: Any, parameters: dict[str, Any], log_path: Path, verbose: bool) -> Any:
    """Runs the pipeline with its output teed to the log; a failed step becomes a :class:`PipelineRunError`."""
    with (
        _log_file(log_path) as log,
        contextlib.redirect_stdout(tee := _Tee(log, sys.stdout, verbose)),
        _cache_hits_shown(),
        warnings.catch_warnings(),
    ):
        # The steps run on this interpreter or on the images, both with this package installed: the warning is moot.
        warnings.filterwarnings("ignore", message=".*custom or non-Python base image.*", category=RuntimeWarning)
        # Task display names are for the Vertex AI and KFP UIs; the local runner names tasks by their ids.
        warnings.filterwarnings(
            "ignore", message=r".*settings \['display_name'\] have no effect.*", category=UserWarning
        )
        try:
            task = pipeline(**parameters)
        except RuntimeError as err:
            if tee.error is not None:  # the log could not be written: that is the cause
                raise tee.error from None
            cause = _last_error(log_path)
            raise PipelineRunError(f"{_ANSI.sub('', str(err))}: {cause} (full log: {log_path})") from err
        if tee.error is not None:
            raise tee.error
        return task


@contextlib.contextmanager
def _log_file(path: Path) -> Iterator[TextIO]:
    """The run's log, open for writing; closing it never raises (a full disk is said once, by :class:`_Tee`)."""
    log = path.open("w", encoding="utf-8")
    try:
        yield log
    finally:
        with contextlib.suppress(OSError):
            log.close()


@contextlib.contextmanager
def _cache_hits_shown() -> Iterator[None]:
    """kfp.local logs a cache hit at INFO outside the logging setup it makes for each task, where the root logger
    drops it: while the run lasts, those lines (only those) go to the current stdout (the log and the terminal)."""

    class Hits(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if "cache hit" in message:
                print(f"{record.levelname} - {message}", flush=True)

    root, handler = logging.getLogger(), Hits(logging.INFO)
    level = root.level
    root.addHandler(handler)
    root.setLevel(min(level or logging.WARNING, logging.INFO))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


_ERROR_LINE = re.compile(r"^\s*((?:\w+\.)*\w*(?:Error|Exception)): (.+)$")


def _last_error(log_path: Path) -> str:
    """The last ``SomeError: message`` line a failed step logged (its traceback's conclusion)."""
    errors = [m.group(0).strip() for m in map(_ERROR_LINE.match, log_path.read_text("utf-8").splitlines()) if m]
    return errors[-1] if errors else "no error message in the log"
