"""Issue 27, defect 4: a second run into an --output folder a run is writing is refused at once, naming the first;
the first run's log and summary are left as they are."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reliability_helpers import run_cli

ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from pathlib import Path
from pipelines.run_lock import output_lock
with output_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(600)
"""


def test_a_second_run_into_a_busy_output_is_refused_naming_the_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "out"
    output.mkdir()
    (output / "run.log").write_text("the first run's log\n", encoding="utf-8")
    (output / "summary.json").write_text("{}", encoding="utf-8")
    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(output)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert first.stdout is not None and first.stdout.readline().strip() == "locked"
        began = time.perf_counter()
        outcome = run_cli(tmp_path, capsys)
        assert time.perf_counter() - began < 60, "refused at once, not after a run"  # a hang guard, not a timing
    finally:
        first.kill()
        first.wait()
    assert outcome.status == 2
    assert "in use by another run" in outcome.err and f"pid {first.pid}" in outcome.err
    assert len(outcome.err.strip().splitlines()) == 1
    assert (output / "run.log").read_text(encoding="utf-8") == "the first run's log\n"
    assert (output / "summary.json").read_text(encoding="utf-8") == "{}"


def test_the_lock_goes_with_a_killed_run(tmp_path: Path) -> None:
    from pipelines.run_lock import output_lock

    first = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert first.stdout is not None and first.stdout.readline().strip() == "locked"
    first.kill()
    first.wait()
    with output_lock(tmp_path):  # no stale lock after SIGKILL
        pass
