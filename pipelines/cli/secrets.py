"""Credentials never leave the command: everything it writes to stdout and stderr has ``user:password@`` in URIs
redacted (its own messages, a library's log lines, a traceback), as the run log has (``pipelines/local_run.py``)."""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterator
from typing import TextIO

from components.registry.store import redact_text


class RedactingStream(io.TextIOBase):
    """A text stream that writes to ``target`` with credentials redacted, a line at a time (a URI split between two
    writes is still found)."""

    def __init__(self, target: TextIO) -> None:
        self._target, self._pending = target, ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            complete, _, self._pending = self._pending.rpartition("\n")
            self._target.write(redact_text(complete + "\n"))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._target.write(redact_text(self._pending))
            self._pending = ""
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    def fileno(self) -> int:
        return self._target.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._target, "encoding", "utf-8")


@contextlib.contextmanager
def redacted_output() -> Iterator[None]:
    """stdout and stderr redacted while the block runs (then flushed and restored)."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingStream(out), RedactingStream(err)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        sys.stdout, sys.stderr = out, err
