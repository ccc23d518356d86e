"""``emotion-pipeline report RUN_DIR`` re-renders a finished run's reports; ``run`` prints the HTML report."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from pipelines.cli.main import main
from pipelines.rerender import find_run

RUN = Path(__file__).resolve().parents[1] / "data" / "report_run"


@pytest.fixture
def output_dir(tmp_path: Path) -> Path:
    """A local run's --output folder: artifacts/<pipeline run>/<task>/<artifact>, plus an older broken run."""
    shutil.copytree(RUN, tmp_path / "artifacts" / "emotion-pipeline-2026-01-02-00-00-00-000000")
    (tmp_path / "artifacts" / "emotion-pipeline-2026-01-01-00-00-00-000000" / "ingest").mkdir(parents=True)
    return tmp_path


def test_report_rerenders_html_and_markdown(output_dir: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["report", str(output_dir), "--task", "emotion6"]) == 0
    printed = capsys.readouterr().out
    html = output_dir / "report.html"
    assert f"html report: {html}" in printed
    assert "emotion-pipeline-2026-01-02" in printed
    assert html.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "Emotion pipeline report: emotion6" in html.read_text(encoding="utf-8")
    assert "# Emotion pipeline: emotion6" in (output_dir / "report.md").read_text(encoding="utf-8")


def test_report_to_a_chosen_file_from_a_pipeline_run_folder(output_dir: Path, tmp_path: Path):
    run = output_dir / "artifacts" / "emotion-pipeline-2026-01-02-00-00-00-000000"
    target = tmp_path / "elsewhere" / "r.html"
    assert main(["report", str(run), "--output", str(target)]) == 0
    assert "Emotion pipeline report: custom" in target.read_text(encoding="utf-8")
    assert find_run(run) == run


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        (["report", "{tmp}/missing"], "no such folder", 1),
        (["report", "{tmp}"], "no finished run found", 1),
        (["report", "{run}", "--output", "{tmp}/r.md"], "give an .html file", 2),  # a usage error
    ],
)
def test_report_errors_name_the_problem(
    output_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str, status: int
):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = [a.format(tmp=empty, run=output_dir) for a in args]
    assert main(args) == status
    assert message in capsys.readouterr().err
    assert not (empty / "report.html").exists()


def test_report_rejects_a_corrupt_artifact(output_dir: Path, capsys: pytest.CaptureFixture[str]):
    run = output_dir / "artifacts" / "emotion-pipeline-2026-01-02-00-00-00-000000"
    (run / "evaluate" / "evaluation").write_text("{not json", encoding="utf-8")
    assert main(["report", str(output_dir)]) == 1
    assert "evaluation: not valid JSON" in capsys.readouterr().err
    assert not (output_dir / "report.html").exists()


@pytest.mark.slow
def test_run_prints_the_html_report_and_report_rerenders_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "out"
    # The budget is a ceiling, not a duration: nb on the demo's training rows takes about a second, but PyCaret's
    # import and setup alone took 10 s of a 12 s budget on a loaded machine, which left nb none.
    assert main(["run", "--output", str(out), "--automl-budget-minutes", "1", "--automl-models", "nb"]) == 0
    printed = capsys.readouterr().out
    assert f"html report: {out / 'report.html'}" in printed
    first = (out / "report.html").read_text(encoding="utf-8")
    assert "Naive Bayes" in first  # the leaderboard reached the report
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["headline"]["automl_vs_scratch_train_time"] > 0

    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0
    again = (out / "report.html").read_text(encoding="utf-8")
    assert "Emotion pipeline report: demo" in again
    # Same data, same text and tables, same charts. The time stamp differs, and matplotlib's layout of a chart
    # (axis offsets, to a few pixels) was seen to differ between the step's process and this one under load,
    # so the drawings are compared by name, not byte for byte.
    svg = re.compile(r"<svg\b.*?</svg>", re.S)

    def text_and_charts(html: str) -> tuple[str, list[str]]:
        body = html.rsplit("report generated", 1)[0]
        return svg.sub("<svg/>", body), re.findall(r'<svg role="img" aria-label="([^"]+)"', body)

    assert text_and_charts(again) == text_and_charts(first)
    assert len(text_and_charts(first)[1]) >= 4
