"""The whole pipeline in containers, as a cluster runs it: ``emotion-pipeline run --runner docker`` on the shipped
demo (small budgets), against the same run with the subprocess runner; a model written in the runtime image
loads in the automl image; a bad input gives the same one-line error under both runners."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipelines.rerender import RUN_MARKER

pytestmark = [pytest.mark.container, pytest.mark.slow]

CLI = str(Path(sys.executable).parent / "emotion-pipeline")
SMALL = ["--automl-budget-minutes", "0.5", "--scratch-budget-seconds", "10", "--automl-models", "ridge,nb"]
IMAGE_UID = 10001


@dataclass
class Run:
    """A finished CLI run: exit status, what it printed, how long it took and where it wrote."""

    status: int
    stdout: str
    stderr: str
    seconds: float
    output: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.output / "summary.json").read_text(encoding="utf-8"))

    @property
    def run_dir(self) -> Path:
        (run_dir,) = (self.output / "artifacts").glob("emotion-pipeline-*")
        return run_dir


def run_cli(output: Path, *args: str) -> Run:
    started = time.monotonic()
    done = subprocess.run(
        [CLI, "run", "--output", str(output), *args], capture_output=True, text=True, timeout=900, env=os.environ
    )
    return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started, output)


@pytest.fixture(scope="module")
def docker_run(images: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Run:
    runner = ["--runner", "docker", "--image", images["runtime"], "--automl-image", images["automl"]]
    return run_cli(tmp_path_factory.mktemp("docker") / "out", *SMALL, *runner)


@pytest.fixture(scope="module")
def subprocess_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return run_cli(tmp_path_factory.mktemp("subprocess") / "out", *SMALL)


def _keys(tree: Any, prefix: str = "") -> set[str]:
    if not isinstance(tree, dict):
        return {prefix}
    return {key for name, value in tree.items() for key in _keys(value, f"{prefix}.{name}")}


def test_demo_runs_in_containers_like_in_subprocesses(docker_run: Run, subprocess_run: Run):
    assert docker_run.status == 0, docker_run.stderr[-3000:]
    assert subprocess_run.status == 0, subprocess_run.stderr[-3000:]
    for line in ("summary: ", "html report: ", "winner by macro_f1: ", "log: "):
        assert line in docker_run.stdout, line
    assert (docker_run.output / "report.html").stat().st_size > 10_000
    ours, theirs = docker_run.summary, subprocess_run.summary
    container_only = {k for k in _keys(ours) if "peak_memory_cgroup" in k}
    assert container_only and _keys(ours) - container_only == _keys(theirs)  # the same summary, plus the cgroup peaks
    for key in ("task", "labels", "rows", "data"):
        assert ours[key] == theirs[key], key
    for key in ("accuracy", "macro_f1", "weighted_f1", "per_class", "accuracy_ci", "macro_f1_ci"):
        assert ours["models"]["scratch"][key] == theirs["models"]["scratch"][key], key  # seeded: the same model
    if [r["status"] for r in ours["automl_leaderboard"]] == [r["status"] for r in theirs["automl_leaderboard"]]:
        assert ours["models"]["automl"]["accuracy"] == theirs["models"]["automl"]["accuracy"]  # same candidates
    print(f"\ndemo wall time: docker {docker_run.seconds:.1f} s, subprocess {subprocess_run.seconds:.1f} s")


def test_each_step_ran_in_its_image_and_measured_its_container(docker_run: Run):
    assert docker_run.status == 0, docker_run.stderr[-3000:]
    summary = docker_run.summary
    by_step = {step: group["environment"] for group in summary["environments"] for step in group["steps"]}
    for step in ("ingest", "clean", "train_scratch", "predict_scratch", "evaluate", "register"):
        assert by_step[step]["packages"]["pycaret"] is None, step  # the runtime image has no PyCaret (nor torch)
        assert by_step[step]["packages"]["torch"] is None, step
    for step in ("vectorise", "train_automl", "predict_automl"):  # the AutoML arm's image: PyCaret, no torch
        assert by_step[step]["packages"]["pycaret"] is not None and by_step[step]["packages"]["torch"] is None, step
    for step, figures in summary["steps"].items():
        assert 10 < figures["peak_memory_cgroup_mb"] < 24 * 1024, step  # read from the container's cgroup
    assert (
        summary["models"]["automl"]["peak_memory_cgroup_mb"]
        == summary["steps"]["train_automl"]["peak_memory_cgroup_mb"]
    )
    report = (docker_run.output / "report.html").read_text(encoding="utf-8")
    assert "container peak MB" in report
    profile = json.loads((docker_run.run_dir / "train-scratch" / "step_profile").read_text(encoding="utf-8"))
    assert profile["peak_memory_cgroup_source"].startswith("/sys/fs/cgroup/")


@pytest.mark.skipif(os.geteuid() != 0, reason="as another user, the containers run as that user")
def test_steps_wrote_as_the_images_user(docker_run: Run):
    """Every file the steps wrote belongs to the images' user; the run marker (``run.json``) is the CLI's, on the
    host."""
    written = [path for path in docker_run.run_dir.rglob("*") if path.name != RUN_MARKER]
    assert written and {path.stat().st_uid for path in written} == {IMAGE_UID}
    assert (docker_run.run_dir / RUN_MARKER).stat().st_uid == os.geteuid()


PREDICT = (
    "import joblib, json, sys; model = joblib.load('/model/model'); "
    "print(json.dumps(list(map(str, model.predict(json.loads(sys.argv[1]))))))"
)


def test_model_written_in_the_runtime_image_loads_in_the_automl_image(
    docker_run: Run, images: dict[str, str], run_in: Any
):
    """evaluate (automl image) unpickles what train_scratch (runtime image) wrote: same package versions."""
    assert docker_run.status == 0, docker_run.stderr[-3000:]
    folder = docker_run.run_dir / "train-scratch"
    texts = json.dumps(["i am so happy today", "this makes me furious", "i feel scared of the dark"])
    options = {"volumes": {str(folder): {"bind": "/model", "mode": "ro"}}}
    predictions = {
        target: json.loads(run_in(images[target], ["python", "-c", PREDICT, texts], **options).strip().splitlines()[-1])
        for target in ("runtime", "automl")
    }
    assert predictions["runtime"] == predictions["automl"]
    assert set(predictions["automl"]) <= set(docker_run.summary["labels"])


def _error_line(run: Run) -> str:
    """The run's one-line error without its log's path (which names the run's own folder)."""
    lines = [line for line in run.stderr.splitlines() if line.startswith("emotion-pipeline run: error:")]
    assert len(lines) == 1, run.stderr[-3000:]
    return re.sub(r" \(full log: .+\)$", "", lines[0])


def test_bad_input_gives_the_same_one_line_error_in_containers(images: dict[str, str], tmp_path: Path):
    data = tmp_path / "my data"
    data.mkdir()
    one_class = data / "one.csv"
    one_class.write_text("text,label\n" + "".join(f"sentence {i},joy\n" for i in range(10)), encoding="utf-8")
    one_class.chmod(0o644)
    runner = ["--runner", "docker", "--image", images["runtime"], "--automl-image", images["automl"]]
    in_docker = run_cli(tmp_path / "docker", "--train", str(one_class), *runner)
    in_subprocess = run_cli(tmp_path / "subprocess", "--train", str(one_class))
    for run in (in_docker, in_subprocess):
        assert run.status == 1 and not (run.output / "summary.json").exists()
        assert "Traceback" not in run.stderr
    assert _error_line(in_docker) == _error_line(in_subprocess)
    assert "one.csv: one class only ('joy', 10 rows)" in _error_line(in_docker)  # the mounted file was read


def test_the_transformer_arm_trains_and_predicts_in_its_own_image(images: dict[str, str], tmp_path: Path):
    """``--runner docker --arms scratch,transformer``: train_transformer and predict_transformer run in the
    transformer image (torch, no PyCaret), the shared steps and the scratch arm in the runtime image, and the
    transformer's model reaches the summary and the report like any arm's."""
    from pipelines.docker_run import TRANSFORMER_IMAGE

    transformer = os.environ.get("TRANSFORMER_IMAGE", TRANSFORMER_IMAGE)
    runner = ["--runner", "docker", "--image", images["runtime"], "--automl-image", images["automl"]]
    arms = ["--arms", "scratch,transformer", "--scratch-budget-seconds", "10", "--set", "transformer_max_epochs=1"]
    run = run_cli(tmp_path / "out", *arms, *runner, "--transformer-image", transformer)
    assert run.status == 0, run.stderr[-3000:]
    summary = run.summary
    assert list(summary["models"]) == ["scratch", "transformer"]
    assert summary["models"]["transformer"]["accuracy"] > 1 / len(summary["labels"])  # it learned something
    assert {"train_transformer", "predict_transformer"} <= set(summary["steps"])
    # where each step ran, as it reported: the transformer's steps with torch and without PyCaret, the rest without
    packages = {step: e["environment"]["packages"] for e in summary["environments"] for step in e["steps"]}
    for step in ("train_transformer", "predict_transformer"):
        assert packages[step]["torch"] and packages[step]["pycaret"] is None, step
    for step in ("ingest", "clean", "train_scratch", "predict_scratch", "evaluate"):
        assert packages[step]["torch"] is None and packages[step]["pycaret"] is None, step
    assert "fine-tuned transformer" in (run.output / "report.html").read_text(encoding="utf-8")
