"""Issue 27, defect 3: a run started in the background survives the exit of the shell that started it, and its
steps still end with the command that runs them (``end_with_parent``; issue 18's guarantee)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
# The command (as the CLI: marks itself the owner of what it starts) starting a step under ``sh -c`` (as kfp.local).
OWNER = """
import subprocess, sys, time
from components.runtime.processes import own_process_tree
own_process_tree()
open(sys.argv[1] + "/owner", "w").write(str(__import__("os").getpid()))
subprocess.Popen(["sh", "-c", f"{sys.executable} -c \\"$STEP\\" {sys.argv[1]}"])
time.sleep(600)
"""
# The step: watches its parents, then writes a heartbeat every 0.1 s.
STEP = """
import os, sys, time
from components.runtime.processes import end_with_parent
end_with_parent(interval_seconds=0.1)
open(sys.argv[1] + "/step", "w").write(str(os.getpid()))
while True:
    open(sys.argv[1] + "/beat", "w").write(str(time.time()))
    time.sleep(0.1)
"""


def _wait_for(predicate, seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_step_survives_the_shell_that_started_the_run_and_ends_with_the_run(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "STEP": STEP}
    shell = subprocess.run(  # the shell starts the run in the background and exits once the step is up
        [
            "bash",
            "-c",
            f'nohup {sys.executable} -c "$OWNER" {tmp_path} >/dev/null 2>&1 & '
            f"while [ ! -s {tmp_path}/step ]; do sleep 0.05; done",
        ],
        env={**env, "OWNER": OWNER},
        timeout=120,
        check=False,
    )
    assert shell.returncode == 0
    owner, step = (int((tmp_path / name).read_text(encoding="utf-8")) for name in ("owner", "step"))
    try:
        time.sleep(1.0)  # the watch (every 0.1 s) has seen the shell gone
        assert _alive(step), "the step died with the shell that started the run"
        os.kill(owner, signal.SIGKILL)
        assert _wait_for(lambda: not _alive(step)), "the step outlived the command that started it"
    finally:
        for pid in (owner, step):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
