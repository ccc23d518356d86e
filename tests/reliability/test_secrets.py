"""Issue 27, defect 7: credentials in a registry URI never leave the command (its messages, libraries' log lines,
the run log)."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest

from pipelines.cli.main import main


def test_predict_with_a_password_in_an_unreachable_registry_never_prints_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], closed_port_url: str
) -> None:
    registry = closed_port_url.replace("/train.csv", "").replace("http://", "http://user:PW@")
    (tmp_path / "in.csv").write_text("text\nhello\n", encoding="utf-8")
    status = main(
        [
            "predict",
            "--registry",
            registry,
            "--model",
            "m@champion",
            "--input",
            str(tmp_path / "in.csv"),
            "--output",
            str(tmp_path / "out.csv"),
        ]
    )
    out, err = capsys.readouterr()
    assert status == 1 and "not reachable" in err and "user:***@" in err
    assert "PW" not in out + err and len(err.strip().splitlines()) == 1


def test_a_library_log_line_through_the_cli_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    from pipelines.cli.secrets import redacted_output

    with redacted_output():
        handler = logging.StreamHandler(sys.stderr)  # as a library configures its logger while the command runs
        logger = logging.getLogger("test-secrets")
        logger.addHandler(handler)
        try:
            logger.warning("API request to http://user:PW@127.0.0.1:1/api/2.0 failed")
        finally:
            logger.removeHandler(handler)
    err = capsys.readouterr().err
    assert "PW" not in err and "http://user:***@127.0.0.1:1/api/2.0" in err


def test_the_run_log_has_no_password() -> None:
    from pipelines.local_run import _Tee

    log, terminal = io.StringIO(), io.StringIO()
    tee = _Tee(log, terminal, verbose=True)
    tee.write("Executing task register: {'registry_uri': 'postgresql://me:PW@db.example/mlflow'}\n")
    assert "PW" not in log.getvalue() + terminal.getvalue() and "me:***@db.example" in log.getvalue()
