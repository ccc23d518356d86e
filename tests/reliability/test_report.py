"""Defects 3, 12 and 9 (report) of issue 18: ``report`` on a folder whose last run failed, on malformed artifacts,
and on a run that lacks one artifact."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from reliability_helpers import good_rows, run_cli, write_lines

from pipelines.cli.main import main

RUN = Path(__file__).resolve().parents[1] / "data" / "report_run"
RUN_NAME = "emotion-pipeline-2026-01-02-00-00-00-000000"


@pytest.fixture
def finished(tmp_path: Path) -> Path:
    """A --output folder holding one finished run, as ``run`` leaves it (with its run marker)."""
    output = tmp_path / "out"
    shutil.copytree(RUN, output / "artifacts" / RUN_NAME)
    marker = {"status": "finished", "started": "2026-01-02T00:00:00+00:00", "run_dir": f"artifacts/{RUN_NAME}"}
    (output / "run.json").write_text(json.dumps(marker), encoding="utf-8")
    return output


def test_report_after_a_failed_rerun_refuses_the_earlier_runs_artifacts(
    finished: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(finished)]) == 0  # the finished run reports
    (finished / "report.html").unlink()
    capsys.readouterr()
    bad = write_lines(tmp_path / "one_class.csv", "text,label", *(f"text {i},joy" for i in range(20)))
    failed = run_cli(tmp_path, capsys, "--train", str(bad))  # the same --output: fails at ingest
    assert failed.status == 1
    assert json.loads((finished / "run.json").read_text(encoding="utf-8"))["status"] == "failed"
    assert main(["report", str(finished)]) == 1
    err = capsys.readouterr().err
    assert "the last run into this folder did not finish (status 'failed'" in err
    assert not (finished / "report.html").exists()


def test_report_on_a_run_still_running_is_refused(finished: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (finished / "run.json").write_text('{"status": "running", "started": "2026-01-03T00:00:00+00:00"}', "utf-8")
    assert main(["report", str(finished)]) == 1
    assert "status 'running', started 2026-01-03" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("artifact", "content", "message"),
    [
        ("evaluate/evaluation", '{"models": 3}', "malformed artifacts, the report cannot be built"),
        ("evaluate/evaluation", "[1, 2]", "evaluation: malformed artifact, expected a JSON object, got list"),
        ("clean/data_stats", '{"train": {}}', "malformed artifacts, the report cannot be built"),
        ("ingest/step_profile", '"text"', "step_profile: malformed artifact, expected a JSON object"),
        ("evaluate/evaluation", "{not json", "evaluation: not valid JSON"),
    ],
)
def test_malformed_artifacts_are_named_without_a_traceback(
    finished: Path, artifact: str, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (finished / "artifacts" / RUN_NAME / artifact).write_text(content, encoding="utf-8")
    assert main(["report", str(finished)]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (finished / "report.html").exists()


def test_one_missing_artifact_is_the_only_one_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(RUN, tmp_path / "artifacts" / RUN_NAME)
    (tmp_path / "artifacts" / RUN_NAME / "evaluate" / "evaluation").unlink()
    assert main(["report", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "lacks evaluate/evaluation)" in err and "step_profile" not in err


def test_good_rows_are_usable() -> None:  # the helper the failing-run case relies on
    assert len(good_rows()) == 40
