"""Issue 27, defect 16: a full disk is one line naming the folder (not about 100 lines of chained ``OSError``
tracebacks) and ``run.json`` says failed (not "running"); a second Ctrl-C during the clean-up does not interrupt it,
and the "stopped by" line is printed."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

import components.runtime.processes as processes
import pipelines.local_run as local_run
from pipelines.cli.main import main

NO_SPACE = OSError(errno.ENOSPC, "No space left on device")


def _run(output: Path, registry: Path) -> int:
    return main(
        [
            "run",
            "--output",
            str(output),
            "--registry",
            str(registry),
            "--automl-models",
            "nb",
            "--automl-budget-minutes",
            "1",
        ]
    )


def _status(output: Path) -> str:
    return json.loads((output / "run.json").read_text(encoding="utf-8"))["status"]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 KiB tmpfs: room for run.json and a first page of run.log, no more."""
    mount = tmp_path / f"tiny-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(mount)], capture_output=True, check=False
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()[:120]})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_one_line_and_the_run_is_marked_failed(
    tiny_disk: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tiny_disk / "out"
    assert _run(output, tmp_path / "registry") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err  # before: about 100 lines of tracebacks
    assert f"no space left on device in {output}" in err
    assert _status(output) == "failed"  # before: "running"


def test_no_room_for_a_new_run_json_still_marks_it_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same at the boundary, without a mount: the log and any new file cannot be written."""
    written = local_run.atomic.write_text

    def no_new_file(path, text):
        if Path(path).name == "run.json" and json.loads(text)["status"] != "running":
            raise NO_SPACE
        written(path, text)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device") from NO_SPACE

    monkeypatch.setattr(local_run.atomic, "write_text", no_new_file)
    monkeypatch.setattr(local_run, "_run_pipeline", full)
    assert _run(tmp_path / "out", tmp_path / "registry") == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"no space left on device in {tmp_path / 'out'}" in err
    assert _status(tmp_path / "out") == "failed"


def test_a_second_ctrl_c_does_not_cut_the_clean_up_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # the first Ctrl-C, while a step runs
        time.sleep(5)  # never reached: the handler raises KeyboardInterrupt at once

    marked = local_run._mark_run

    def mark(folder, status, *args, **kwargs):
        if status == "failed":
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C again, while run.json is marked
        return marked(folder, status, *args, **kwargs)

    def end_tree() -> int:
        os.kill(os.getpid(), signal.SIGINT)  # and again, while the steps are ended
        return 0

    monkeypatch.setattr(local_run, "_run_pipeline", interrupted)
    monkeypatch.setattr(local_run, "_mark_run", mark)
    monkeypatch.setattr(processes, "end_process_tree", end_tree)
    try:
        status = _run(tmp_path / "out", tmp_path / "registry")
    except KeyboardInterrupt:
        pytest.fail("the second Ctrl-C interrupted the clean-up")  # before: a traceback, no "stopped by" line
    err = capsys.readouterr().err.strip()
    assert status == 130 and err.splitlines()[-1].startswith("emotion-pipeline run: stopped by SIGINT")
    assert "more signals during the clean-up ignored" in err and "Traceback" not in err
    assert _status(tmp_path / "out") == "failed"
