"""Issue 27, defect 12: one deadline per URI across attempts and steps. A server that accepts and never answers took
185 s to fail a run at the default settings (3 attempts of a HEAD and a GET, each with its own limits), and ingest
would have waited again; now the failed attempts on a URI take at most 1.25 × network_timeout_seconds in all, and a
later step of the run does not ask a URI whose deadline an earlier step spent."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_helpers import run_cli_process

from components.checks.errors import DataError
from components.io.remote import DEADLINE_FACTOR, LEDGER_ENV, NetworkOptions, file_info, read_bytes
from components.steps.fingerprint import fingerprint_uris
from components.steps.ingest import IngestOptions, ingest_sources


class SilentServer:
    """Accepts connections on 127.0.0.1 and never answers; counts them. Its accept loop stops with the test."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0), backlog=64)
        self.socket.settimeout(0.1)
        self.accepted: list[socket.socket] = []
        self.stop = threading.Event()
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/train.csv"
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set() and len(self.accepted) < 200:
            try:
                self.accepted.append(self.socket.accept()[0])
            except OSError:
                continue

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        for connection in self.accepted:
            connection.close()
        self.socket.close()


@pytest.fixture
def server() -> Iterator[SilentServer]:
    silent = SilentServer()
    yield silent
    silent.close()


def _attempts(message: str) -> int:
    found = re.search(r"after (\d+) attempts", message)
    return int(found.group(1)) if found else 1


@pytest.mark.parametrize("read", [read_bytes, file_info], ids=["ingest-read", "fingerprint-info"])
def test_retries_stop_at_the_uri_deadline(server: SilentServer, read) -> None:
    options = NetworkOptions(timeout_seconds=0.5, retries=10, backoff_seconds=0)
    with pytest.raises(DataError, match=r"no answer within 0\.5 s .*its deadline is 0\.625 s") as raised:
        read(server.url, options)
    assert _attempts(str(raised.value)) <= 2  # before: all 11 attempts (each of fingerprint's a HEAD and a GET)
    assert len(server.accepted) <= 2 * _attempts(str(raised.value))


def test_ingest_does_not_wait_again_for_a_uri_fingerprint_gave_up_on(
    server: SilentServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(LEDGER_ENV, str(tmp_path / "ledger.json"))  # as a run names it to its steps
    network = NetworkOptions(timeout_seconds=0.5, retries=2, backoff_seconds=0)
    with pytest.raises(DataError, match="its deadline"):
        fingerprint_uris([server.url], network=network)
    asked = len(server.accepted)
    options = IngestOptions(network_timeout_seconds=0.5, network_retries=2)
    with pytest.raises(DataError, match=r"train\.csv: no answer: .* by an earlier step of this run"):
        ingest_sources([server.url], options=options)
    assert len(server.accepted) == asked  # before: three more attempts


def test_the_default_deadline_fails_a_run_within_a_minute() -> None:
    defaults = NetworkOptions()
    assert defaults.deadline_seconds == DEADLINE_FACTOR * defaults.timeout_seconds == 37.5  # the catalogue measures it


def test_a_run_gives_a_silent_server_one_deadline(server: SilentServer, tmp_path: Path) -> None:
    outcome = run_cli_process(
        tmp_path, "--train", server.url, "--set", "network_timeout_seconds=1", "--set", "network_retries=5"
    )
    assert outcome.status == 1 and f"{server.url}: no answer within 1 s" in outcome.err
    assert "its deadline is 1.25 s" in outcome.err
    assert len(server.accepted) <= 4  # before: 6 attempts of a HEAD and a GET (12 connections, about 45 s)
    assert not (tmp_path / "out" / ".network-ledger.json").exists()
