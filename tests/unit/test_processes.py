"""Killable candidate processes: nothing outlives a candidate, and the CPU of what is killed is not lost."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

from components.runtime.processes import TimedRun, run_with_timeout
from components.runtime.profiler import StepProfiler

# A grandchild that burns S seconds of its own CPU, says so in a file, then waits to be killed.
BURN_THEN_SLEEP = (
    "import sys, time\nt = time.process_time()\nwhile time.process_time() - t < {seconds}: pass\n"
    "open(sys.argv[1], 'w').write('burnt')\ntime.sleep(600)"
)
BURN_SECONDS = 1.0
TICKS = 0.05  # slack between /proc CPU figures (10 ms ticks) and the burn measured by the grandchild itself


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie waiting for init to reap it has ended)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _wait_for(predicate, seconds: float = 60.0) -> bool:
    """Polls ``predicate`` until it holds or ``seconds`` pass; no timing is asserted."""
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def _start_burning_worker(folder: Path) -> int:
    """Starts a worker that burns CPU then sleeps; waits until it has burnt; returns its pid."""
    marker = folder / "burnt"
    worker = subprocess.Popen([sys.executable, "-c", BURN_THEN_SLEEP.format(seconds=BURN_SECONDS), str(marker)])
    (folder / "worker").write_text(str(worker.pid), encoding="utf-8")
    while not marker.exists():
        time.sleep(0.02)
    return worker.pid


def _sleep_after_a_worker(folder: Path) -> None:
    _start_burning_worker(folder)
    time.sleep(600)


def _record_and_start_worker(folder: Path) -> int:
    (folder / "candidate").write_text(str(os.getpid()), encoding="utf-8")
    return _start_burning_worker(folder)


def test_a_candidate_that_returns_leaves_no_worker_running(tmp_path: Path):
    run = TimedRun(lambda: _record_and_start_worker(tmp_path), timeout=120)
    assert _wait_for(lambda: (tmp_path / "burnt").exists())
    candidate = int((tmp_path / "candidate").read_text(encoding="utf-8"))
    assert _wait_for(lambda: _gone(candidate))  # it has returned and exited before the caller looks
    status, worker, _ = run.finish()
    assert status == "ok"
    assert _wait_for(lambda: _gone(worker)), "a worker the candidate left running must be killed with its group"


def test_cpu_of_a_worker_left_by_a_candidate_is_in_the_step(tmp_path: Path):
    with StepProfiler("normal exit") as profiler:
        status, _, _ = run_with_timeout(lambda: _start_burning_worker(tmp_path), timeout=120)
    assert status == "ok"
    # The candidate itself only waits; the CPU is its orphaned worker's, burnt before it was killed.
    assert profiler.profile.cpu_seconds >= BURN_SECONDS - TICKS
    assert profiler.profile.killed_cpu_seconds >= BURN_SECONDS - TICKS


def test_cpu_of_grandchildren_killed_at_the_limit_is_in_the_step(tmp_path: Path):
    with StepProfiler("killed") as profiler:
        run = TimedRun(lambda: _sleep_after_a_worker(tmp_path), timeout=600)
        assert _wait_for(lambda: (tmp_path / "burnt").exists())
        run.deadline = time.perf_counter()  # its limit is now: finish() kills it and its worker
        status, result, _ = run.finish()
    assert (status, result) == ("timeout", None)
    worker = int((tmp_path / "worker").read_text(encoding="utf-8"))
    assert _wait_for(lambda: _gone(worker))
    assert profiler.profile.cpu_seconds >= BURN_SECONDS - TICKS
    assert profiler.profile.killed_cpu_seconds >= BURN_SECONDS - TICKS


def test_a_candidate_in_its_own_group_does_not_kill_the_caller():
    status, result, _ = run_with_timeout(lambda: os.getpgid(0), timeout=60)
    assert status == "ok" and result != os.getpgid(0)
    assert psutil.Process().is_running()
