"""One run at a time in an ``--output`` folder: the run holds an OS lock on ``<output>/.run.lock`` while it lasts.

The lock is ``flock``-based (:mod:`filelock`): it goes with the process, so a run killed even with SIGKILL leaves
no stale lock. Who holds it (pid, start time, command) is in ``<output>/.run.lock.json``, for the refusal message.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from components.io import atomic

LOCK_NAME = ".run.lock"


class OutputInUseError(RuntimeError):
    """Another run writes into the folder; the message names it."""


@contextlib.contextmanager
def output_lock(folder: Path) -> Iterator[None]:
    """Holds the folder's run lock while the block runs (the folder is created).

    Raises:
        OutputInUseError: Another process holds it (raised at once, never waited for).
    """
    import filelock

    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(folder / LOCK_NAME, timeout=0)
    holder = folder / f"{LOCK_NAME}.json"
    try:
        lock.acquire()
    except filelock.Timeout:
        raise OutputInUseError(
            f"--output {folder}: in use by another run ({_holder(holder)}); wait for it to end or give another --output"
        ) from None
    try:
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        atomic.write_json(holder, {"pid": os.getpid(), "started": started, "command": " ".join(sys.argv)})
        yield
    finally:
        holder.unlink(missing_ok=True)
        lock.release()


def _holder(path: Path) -> str:
    """``pid 123, started 2026-…, command …`` of the run holding the lock, as far as it is known."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {record['pid']}, started {record['started']}: {str(record['command'])[:200]}"
    except (OSError, ValueError, KeyError, TypeError):
        return "starting"
