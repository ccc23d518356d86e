"""SIGINT and SIGTERM for a command that cleans up when stopped: the first one interrupts (``KeyboardInterrupt``),
any further one while the clean-up runs is recorded and otherwise ignored, so a second Ctrl-C cannot cut the
clean-up short (processes ended, ``run.json`` marked failed, the "stopped by" line printed).

Handlers can only be set in the main thread: elsewhere both context managers change nothing.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

STOPPING = (signal.SIGINT, signal.SIGTERM)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _handlers(handler: signal.Handlers | object) -> Iterator[None]:
    previous = {signum: signal.getsignal(signum) for signum in STOPPING}
    for signum in STOPPING:
        signal.signal(signum, handler)  # type: ignore[arg-type]
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def interrupts_once() -> Iterator[list[int]]:
    """While the block runs, the first SIGINT or SIGTERM raises ``KeyboardInterrupt`` and every later one is only
    recorded (the clean-up runs to its end). Yields the signals received, in order; the handlers are restored after.

    ``KeyboardInterrupt`` is raised for SIGTERM too: ``subprocess.Popen``'s exit (kfp.local waits for a step in
    one) waits for the child to finish after any other exception, the exact ``KeyboardInterrupt`` type excepted.
    """
    received: list[int] = []
    if not _main_thread():
        yield received
        return

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    def first(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        for stopping in STOPPING:
            signal.signal(stopping, record)
        raise KeyboardInterrupt

    with _handlers(first):
        yield received


@contextlib.contextmanager
def signals_deferred(received: list[int] | None = None) -> Iterator[list[int]]:
    """While the block runs, SIGINT and SIGTERM are recorded (in ``received``, yielded) and otherwise ignored; the
    previous handlers are restored after, without replaying them: the block is the clean-up of a stopping command."""
    received = [] if received is None else received
    if not _main_thread():
        yield received
        return
    with _handlers(lambda signum, frame: received.append(signum)):
        yield received
