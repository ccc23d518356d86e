"""Run a function in a forked process that is killed when it runs over its time limit.

Python cannot stop a running scikit-learn ``fit`` from the outside, so anything that must honour a hard budget
(an AutoML candidate, a search candidate) runs here: the child is forked (the caller's data is shared, not
pickled), gets its own process group, sends its result back through a pipe, and is killed with ``SIGKILL``
together with any worker it started when the timeout passes. POSIX only (``fork``).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

TIMEOUT = "timeout"


def run_with_timeout(work: Callable[[], Any], timeout: float) -> tuple[str, Any, float]:
    """Runs ``work()`` in a forked process; kills its process group after ``timeout`` seconds.

    Returns:
        ``(status, result, seconds)``: status ``ok`` (result is what ``work`` returned, sent through a pipe),
        ``timeout`` or ``error: …`` (result is ``None``).
    """
    context = multiprocessing.get_context("fork")  # the caller's data is shared with the child, not pickled
    receiver, sender = context.Pipe(duplex=False)

    def target() -> None:
        os.setpgid(0, 0)  # its own process group, so a kill also reaches any worker it started
        try:
            sender.send(("ok", work()))
        except BaseException as err:  # report every failure to the parent instead of dying silently
            sender.send((f"error: {type(err).__name__}: {err}", traceback.format_exc(limit=3)))
        finally:
            sender.close()

    start = time.perf_counter()
    process = context.Process(target=target, daemon=True)
    process.start()
    with contextlib.suppress(OSError):  # set the group from both sides: whichever runs first wins the race
        os.setpgid(process.pid, process.pid)
    sender.close()
    try:
        if receiver.poll(max(timeout, 0.0)):
            try:
                status, result = receiver.recv()
            except EOFError:  # the child died without a word (e.g. killed by the OS for memory)
                status, result = f"error: candidate process exited with code {process.exitcode}", None
        else:
            status, result = TIMEOUT, None
    finally:
        if process.is_alive():
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:  # no group yet (killed before setpgid ran): kill the process itself
                process.kill()
        process.join()
        receiver.close()
    if status.startswith("error"):
        result = None
    return status, result, round(time.perf_counter() - start, 3)
