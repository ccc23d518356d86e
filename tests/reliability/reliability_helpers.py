"""Helpers of the reliability catalogue: the real CLI, a small good training file, a server that never answers."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipelines.cli.main import main

#: Files only a step after a refusing ingest would write, and the run's result.
RESULTS = {"summary.json", "summary", "report", "report.html", "clean_train", "data_stats", "model", "evaluation"}


@dataclass
class Outcome:
    """What a CLI call gave: exit status, stderr, the --output folder and every file left under it."""

    status: int
    err: str
    output: Path

    @property
    def files(self) -> set[str]:
        return {p.name for p in self.output.rglob("*") if p.is_file()}


def write_lines(path: Path, *rows: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(rows) + "\n").encode(encoding))
    return path


def good_rows(n: int = 40) -> list[str]:
    return [f"sentence number {i} about {('joy', 'fear')[i % 2]} things,{('joy', 'fear')[i % 2]}" for i in range(n)]


def run_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str, command: str = "run") -> Outcome:
    """``emotion-pipeline run --output tmp/out …`` in this process, with a small AutoML budget."""
    output = tmp_path / "out"
    if command == "run":
        args = ("--output", str(output), "--automl-models", "nb", "--automl-budget-minutes", "1", *args)
    status = main([command, *args])
    return Outcome(status, capsys.readouterr().err, output)


def run_cli_process(tmp_path: Path, *args: str, guard_seconds: float = 180) -> Outcome:
    """The CLI as a separate process; ``guard_seconds`` only stops a hang (a hang fails the test)."""
    output = tmp_path / "out"
    command = [sys.executable, "-m", "pipelines.cli.main", "run", "--output", str(output), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=guard_seconds, check=False)
    return Outcome(done.returncode, done.stderr, output)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An HTTP URL whose server accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                time.sleep(0.01)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/train.csv"
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


@pytest.fixture
def closed_port_url() -> str:
    """An HTTP URL on a loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/train.csv"
