"""Defects 1, 2 and 9 of issue 18: a remote file that never answers, gs:// without credentials, a failure reported as
"file not found". Every network read has a time limit and bounded retries; a failure names the URI and the cause."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_helpers import run_cli_process

from components.checks.errors import DataError
from components.io.remote import NetworkOptions, explain, file_info, read_bytes
from components.steps.fingerprint import fingerprint_uris
from components.steps.ingest import IngestOptions, ingest_sources

FAST = NetworkOptions(timeout_seconds=0.5, retries=1, backoff_seconds=0)


def test_a_server_that_never_answers_times_out_naming_the_uri(silent_server: str) -> None:
    with pytest.raises(DataError, match=r"127\.0\.0\.1:\d+/train\.csv: no answer within 0\.5 s .*after 2 attempts"):
        read_bytes(silent_server, FAST)
    with pytest.raises(DataError, match="no answer within"):  # the fingerprint step asks first (before: a hang)
        fingerprint_uris([silent_server], network=FAST)


def test_ingest_passes_its_network_options(silent_server: str) -> None:
    options = IngestOptions(network_timeout_seconds=0.5, network_retries=0)
    with pytest.raises(DataError, match=r"train\.csv: no answer within 0\.5 s \(network_timeout_seconds\)$"):
        ingest_sources([silent_server], options=options)


def test_a_refused_connection_is_retried_then_named(closed_port_url: str) -> None:
    with pytest.raises(DataError, match=r"train\.csv: connection failed .*after 2 attempts"):
        file_info(closed_port_url, FAST)


def test_gs_without_credentials_says_so(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-key.json"))
    with pytest.raises(DataError, match=r"gs://bucket/train\.csv: no Google Cloud credentials found"):
        read_bytes("gs://bucket/train.csv", FAST)


@pytest.mark.parametrize(
    ("error", "cause", "transient"),
    [
        (FileNotFoundError("x"), "file not found", False),
        (PermissionError("x"), "access denied", False),
        (TimeoutError(), "no answer within 0.5 s", True),
        (ConnectionResetError("reset"), "connection failed", True),
        (OSError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"), "the server's TLS certificate", False),
        (OSError("Name or service not known"), "the host name could not be resolved", True),
    ],
)
def test_causes_are_told_apart(error: Exception, cause: str, transient: bool) -> None:
    assert explain(error, FAST)[0].startswith(cause) and explain(error, FAST)[1] is transient


def test_a_certificate_failure_under_fsspecs_file_not_found_is_not_called_missing() -> None:
    try:
        try:
            raise OSError("certificate verify failed: self signed certificate")
        except OSError as inner:
            raise FileNotFoundError("https://host/x.csv") from inner
    except FileNotFoundError as err:
        assert explain(err, FAST)[0].startswith("the server's TLS certificate could not be verified")


@pytest.mark.parametrize(("name", "value"), [("network_timeout_seconds", float("nan")), ("network_retries", -1)])
def test_network_options_are_checked(name: str, value: float) -> None:
    with pytest.raises(ValueError, match=name):
        IngestOptions(**{name: value})


def test_cli_run_on_a_silent_server_fails_with_the_uri_instead_of_hanging(silent_server: str, tmp_path: Path) -> None:
    outcome = run_cli_process(
        tmp_path, "--train", silent_server, "--set", "network_timeout_seconds=1", "--set", "network_retries=0"
    )
    assert outcome.status == 1
    assert f"{silent_server}: no answer within 1 s" in outcome.err
    assert "summary.json" not in outcome.files
