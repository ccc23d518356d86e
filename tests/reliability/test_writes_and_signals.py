"""Defects 6 and 8 of issue 18: results written atomically (a failure leaves no file that looks complete), a bad
--output refused before the run, and SIGTERM (or SIGKILL) of the CLI ending every process it started."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from reliability_helpers import run_cli

from components.io import atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.write_bytes(b"old complete model")

    class FullDisk:
        def to_parquet(self, path: Path, index: bool) -> None:
            Path(path).write_bytes(b"half")
            raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        atomic.write_parquet(target, FullDisk())
    assert target.read_bytes() == b"old complete model"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_a_complete_write_replaces_the_file(tmp_path: Path) -> None:
    atomic.write_json(tmp_path / "a" / "x.json", {"k": 1})
    assert (tmp_path / "a" / "x.json").read_text(encoding="utf-8") == '{\n  "k": 1\n}'
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["x.json"]


def test_a_sparse_matrix_is_written_under_its_own_name_and_reads_back(tmp_path: Path) -> None:
    from scipy import sparse

    matrix = sparse.random(50, 7, density=0.2, format="csr", dtype="float32", random_state=0)
    atomic.write_sparse(tmp_path / "train_features", matrix)  # a KFP artifact path has no ".npz" suffix
    assert [p.name for p in tmp_path.iterdir()] == ["train_features"]
    assert (sparse.load_npz(tmp_path / "train_features") != matrix).nnz == 0


def test_an_output_that_is_a_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").write_text("not a folder", encoding="utf-8")
    outcome = run_cli(tmp_path, capsys)
    assert outcome.status == 2 and "--output" in outcome.err and "is a file, expected a folder" in outcome.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_output_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "out").mkdir(mode=0o500)
    outcome = run_cli(tmp_path, capsys)
    assert outcome.status == 2 and "is not writable" in outcome.err


def test_report_into_an_unwritable_place_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from pipelines.cli.main import main

    run = Path(__file__).resolve().parents[1] / "data" / "report_run"
    shutil.copytree(run, tmp_path / "artifacts" / "r")
    (tmp_path / "blocker").write_text("a file", encoding="utf-8")
    assert main(["report", str(tmp_path), "--output", str(tmp_path / "blocker" / "r.html")]) == 1
    assert "cannot write the report" in capsys.readouterr().err


def _start_run(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "pipelines.cli.main",
        "run",
        "--output",
        str(tmp_path / "out"),
        "--automl-models",
        "lr",
        "--no-cache",
        *args,
    ]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _tree_once(cli: subprocess.Popen[str], processes: int) -> list[psutil.Process]:
    """The CLI's process tree once it has ``processes`` (waiting at most 120 s, a guard, not a check)."""
    for _ in range(1200):
        tree = psutil.Process(cli.pid).children(recursive=True)
        if len(tree) >= processes:
            return tree
        time.sleep(0.1)
    raise AssertionError("no step started")


def _running(tree: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_sigterm_ends_a_running_step_and_its_sampler_before_the_cli_exits(tmp_path: Path) -> None:
    cli = _start_run(tmp_path)
    tree = _tree_once(cli, 2)  # a step's executor and its sampler
    cli.send_signal(signal.SIGTERM)
    assert cli.wait(timeout=60) == 128 + signal.SIGTERM
    assert not _running(tree)  # ended before the CLI exited (before: alive for 10-25 s)
    assert "stopped by SIGTERM" in (cli.stderr.read() if cli.stderr else "")
    assert '"status": "failed"' in (tmp_path / "out" / "run.json").read_text(encoding="utf-8")
    assert not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL])
def test_a_step_waiting_on_the_network_ends_with_the_cli(
    stop: signal.Signals, silent_server: str, tmp_path: Path
) -> None:
    # The fingerprint step waits up to 300 s for the silent server: only ending with the CLI stops it sooner.
    cli = _start_run(tmp_path, "--train", silent_server, "--set", "network_timeout_seconds=300")
    tree = _tree_once(cli, 1)
    time.sleep(1)  # the step is running (and watching its parent)
    cli.send_signal(stop)
    cli.wait(timeout=60)
    if stop == signal.SIGTERM:
        assert not _running(tree)
    _, alive = psutil.wait_procs(tree, timeout=30)  # a guard far below the 300 s the step would otherwise wait
    assert not alive, alive
