"""Progress lines for long steps (AutoML, model search): on the terminal in local runs, in the logs in containers.

Every line starts with ``[progress]`` so the local runner can show it while the rest of a step's log goes to
``run.log`` (see ``pipelines.local_run``); on Vertex AI and KFP it is an ordinary log line.
"""

from __future__ import annotations

import sys
import time

MARKER = "[progress]"


class Progress:
    """Prints ``[progress] <step> <elapsed>s <message>`` lines, flushed at once.

    Example:
        >>> progress = Progress("train_automl")
        >>> progress("candidate 2/5: rf")
    """

    def __init__(self, step: str) -> None:
        self.step = step
        self._start = time.perf_counter()

    @property
    def elapsed_seconds(self) -> float:
        return time.perf_counter() - self._start

    def __call__(self, message: str) -> None:
        print(f"{MARKER} {self.step} {self.elapsed_seconds:7.1f}s {message}", file=sys.stdout, flush=True)
