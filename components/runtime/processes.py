"""Run a function in a forked process that is killed when it runs over its time limit.

Python cannot stop a running scikit-learn ``fit`` from the outside, so anything that must honour a hard budget
(an AutoML candidate, a search candidate) runs here: the child is forked (the caller's data is shared, not
pickled), gets its own process group, sends its result back through a pipe, and is killed with ``SIGKILL``
together with any worker it started when the timeout passes. The group is killed whenever a run finishes, also
after the child returned normally: a worker it left running would otherwise outlive it, orphaned.

Killed workers die orphaned (their parent dies with them), so no process of the caller's tree reaps them and
their CPU time would never reach the caller's ``RUSAGE_CHILDREN``: the group is stopped (``SIGSTOP``), each
member's CPU time (own and reaped children's) is read, then the group is killed. The candidate itself is left out:
the caller reaps it, so its time reaches the OS accounting. :func:`killed_cpu_seconds` is the running total, which
:class:`~components.runtime.profiler.StepProfiler` adds to a step's CPU. POSIX only (``fork``).

:class:`TimedRun` starts one such child and lets the caller do other things (start more children, wait for
any of them with :func:`wait_any`); :func:`run_with_timeout` is the one-at-a-time form.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from typing import Any

import psutil

TIMEOUT = "timeout"
#: Environment variable naming the process that owns a run (``PID:CREATE_TIME``), set by :func:`own_process_tree`.
OWNER_VARIABLE = "EMOTION_PIPELINE_OWNER"
# User and system CPU seconds of killed processes that nothing in this process's tree could reap.
_KILLED_CPU = [0.0, 0.0]


def killed_cpu_seconds() -> tuple[float, float]:
    """User and system CPU seconds of the workers this process killed with a candidate's group, so far.

    Returns:
        ``(user, system)``: running totals since this process started (take differences for one step).
    """
    return _KILLED_CPU[0], _KILLED_CPU[1]


def die_with_parent() -> None:
    """Asks Linux to SIGKILL this process when the thread that started it ends (``PR_SET_PDEATHSIG``), so a
    worker never outlives its step, even when the step is killed; nothing elsewhere."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


def end_process_tree(grace_seconds: float = 3.0) -> int:
    """Ends every descendant of this process (whatever its process group): ``SIGTERM``, then ``SIGKILL`` for
    those still alive after ``grace_seconds``.

    Returns:
        How many processes were ended.
    """
    ended: set[int] = set()
    for _ in range(2):  # a second pass catches a process started while the first one ran
        tree = [p for p in psutil.Process().children(recursive=True) if p.pid not in ended]
        for process in tree:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        _, alive = psutil.wait_procs(tree, timeout=grace_seconds)
        for process in alive:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(alive, timeout=grace_seconds)
        ended |= {p.pid for p in tree}
    return len(ended)


def own_process_tree() -> None:
    """Marks this process as the owner of the processes it starts (``EMOTION_PIPELINE_OWNER`` in its environment,
    inherited by them): their :func:`end_with_parent` watches their ancestors up to this process, never beyond,
    so a run survives the exit of the shell that started it and still ends with this process."""
    me = psutil.Process()
    os.environ[OWNER_VARIABLE] = f"{me.pid}:{me.create_time()}"


def _up_to_owner(ancestors: list[tuple[int, float]], owner: str) -> list[tuple[int, float]]:
    """The ancestors (nearest first) up to and including the owner; all of them when the owner is not among them."""
    pid, _, created = owner.partition(":")
    for index, (ancestor, started) in enumerate(ancestors):
        if str(ancestor) == pid and f"{started}" == created:
            return ancestors[: index + 1]
    return ancestors


def end_with_parent(interval_seconds: float = 0.5) -> threading.Event:
    """Watches this process's ancestors from a daemon thread: when one dies (the command that started this step
    was killed, even with SIGKILL; kfp.local runs a step under ``sh -c``, so its parent may live on), ends this
    process's whole tree and exits (status 1).

    Only the ancestors up to the process that owns the run (:func:`own_process_tree`, the CLI) are watched: the
    shell that started the CLI, or ``nohup``, may exit while the run goes on.

    Returns:
        An event; set it to stop watching.
    """
    ancestors = [(p.pid, p.create_time()) for p in psutil.Process().parents() if p.pid > 1]
    ancestors = _up_to_owner(ancestors, os.environ.get(OWNER_VARIABLE, ""))
    parent, stop = os.getppid(), threading.Event()

    def alive(pid: int, created: float) -> bool:
        try:
            return psutil.Process(pid).create_time() == created
        except psutil.Error:
            return False

    def watch() -> None:
        while not stop.wait(interval_seconds):
            if os.getppid() != parent or not all(alive(pid, created) for pid, created in ancestors):
                end_process_tree(grace_seconds=1.0)
                os._exit(1)

    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()
    return stop


def _group_members(group: int) -> list[psutil.Process]:
    members = []
    for pid in psutil.pids():
        with contextlib.suppress(OSError):
            if os.getpgid(pid) == group:
                members.append(psutil.Process(pid))
    return members


def kill_group(group: int, reaped: int) -> None:
    """Kills process group ``group``, first adding the CPU time of its members except ``reaped`` to the total.

    Args:
        group: The process group (the candidate's pid).
        reaped: The member the caller reaps itself (its CPU reaches the OS accounting), left out of the total.
    """
    try:
        os.killpg(group, signal.SIGSTOP)  # frozen: their CPU time cannot grow between reading and killing
    except ProcessLookupError:  # nobody left in the group
        return
    for member in _group_members(group):
        if member.pid == reaped:
            continue
        with contextlib.suppress(psutil.Error):
            times = member.cpu_times()
            _KILLED_CPU[0] += times.user + times.children_user
            _KILLED_CPU[1] += times.system + times.children_system
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


class TimedRun:
    """``work()`` running in a forked child with a deadline ``timeout`` seconds from now.

    Args:
        work: What the child runs; its return value is sent back through a pipe (it must pickle).
        timeout: Seconds the child may run before :meth:`finish` kills it.
    """

    def __init__(self, work: Callable[[], Any], timeout: float) -> None:
        context = multiprocessing.get_context("fork")  # the caller's data is shared with the child, not pickled
        self._receiver, sender = context.Pipe(duplex=False)

        def target() -> None:
            os.setpgid(0, 0)  # its own process group, so a kill also reaches any worker it started
            die_with_parent()
            try:
                sender.send(("ok", work()))
            except BaseException as err:  # report every failure to the parent instead of dying silently
                sender.send((f"error: {type(err).__name__}: {err}", traceback.format_exc(limit=3)))
            finally:
                sender.close()

        self.started = time.perf_counter()
        self.deadline = self.started + max(timeout, 0.0)
        self._process = context.Process(target=target, daemon=True)
        self._process.start()
        with contextlib.suppress(OSError):  # set the group from both sides: whichever runs first wins the race
            os.setpgid(self._process.pid, self._process.pid)
        sender.close()

    def ready(self) -> bool:
        """True when the child has sent its result (or died), or its deadline has passed."""
        return self._receiver.poll(0) or time.perf_counter() >= self.deadline

    def finish(self) -> tuple[str, Any, float]:
        """Waits until the result or the deadline, then kills the child's process group (see the module docstring).

        Returns:
            ``(status, result, seconds)``: status ``ok`` (result is what ``work`` returned), ``timeout`` or
            ``error: …`` (result is ``None``).
        """
        try:
            if self._receiver.poll(max(self.deadline - time.perf_counter(), 0.0)):
                try:
                    status, result = self._receiver.recv()
                except EOFError:  # the child died without a word (e.g. killed by the OS for memory)
                    status, result = f"error: candidate process exited with code {self._process.exitcode}", None
            else:
                status, result = TIMEOUT, None
        finally:
            # Always, before the child is reaped (its pid, the group's id, cannot be reused until then): a worker
            # it started may still run after the child returned.
            try:
                kill_group(self._process.pid, reaped=self._process.pid)
            except OSError:  # no group yet (killed before setpgid ran): kill the process itself
                self._process.kill()
            self._process.join()
            self._receiver.close()
        if status.startswith("error"):
            result = None
        return status, result, round(time.perf_counter() - self.started, 3)

    def fileno(self) -> int:
        """The pipe's descriptor, so that :func:`multiprocessing.connection.wait` can wait on several runs."""
        return self._receiver.fileno()


def wait_any(runs: Sequence[TimedRun]) -> list[TimedRun]:
    """Blocks until at least one run has its result or has reached its deadline; returns those that are ready."""
    while True:
        ready = [run for run in runs if run.ready()]
        if ready:
            return ready
        wait(list(runs), timeout=max(min(run.deadline for run in runs) - time.perf_counter(), 0.0))


def run_with_timeout(work: Callable[[], Any], timeout: float) -> tuple[str, Any, float]:
    """Runs ``work()`` in a forked process; kills its process group after ``timeout`` seconds.

    Returns:
        ``(status, result, seconds)``: status ``ok`` (result is what ``work`` returned, sent through a pipe),
        ``timeout`` or ``error: …`` (result is ``None``).
    """
    return TimedRun(work, timeout).finish()
