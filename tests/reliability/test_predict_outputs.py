"""Issue 27, defects 1 and 2: ``predict`` never replaces its input, and writes its output atomically (a failure
leaves the previous output, never a partial one; an input without rows is refused and writes nothing)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from components.checks.errors import DataError, ParameterError
from components.models.scoring import predict_with_scores
from components.steps.batch_predict import BatchPredictOptions, predict_file
from pipelines.cli.main import main


class Keyword:
    """joy when the text says happy, else sadness."""

    def predict(self, texts):
        return ["joy" if "happy" in t else "sadness" for t in texts]

    def predict_texts(self, texts):
        return predict_with_scores(self, texts)


def _csv(path: Path, rows: int, pad: int = 0) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([f"i am happy {i} {'x' * pad}", "joy"] for i in range(rows))
    return path


def test_cli_predict_refuses_its_input_as_output_and_keeps_the_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _csv(tmp_path / "a.csv", 5000)
    before = source.read_bytes()
    status = main(
        [
            "predict",
            "--registry",
            str(tmp_path / "none"),
            "--model",
            "m@champion",
            "--input",
            str(source),
            "--output",
            str(source),
            "--chunk-rows",
            "1000",
        ]
    )
    err = capsys.readouterr().err
    assert status == 2 and "is the --input file" in err and len(err.strip().splitlines()) == 1
    assert source.read_bytes() == before


def test_predict_file_refuses_the_input_under_another_name(tmp_path: Path) -> None:
    source = _csv(tmp_path / "a.csv", 50)
    before = source.read_bytes()
    os.link(source, tmp_path / "b.csv")
    for output in (tmp_path / "a.csv", tmp_path / "x" / ".." / "a.csv", tmp_path / "b.csv"):
        with pytest.raises(ParameterError, match="is the input file"):
            predict_file(Keyword(), str(source), str(output), options=BatchPredictOptions(chunk_rows=10))
    assert source.read_bytes() == before


def test_a_bad_byte_late_in_the_input_leaves_the_previous_output(tmp_path: Path) -> None:
    source = _csv(tmp_path / "in.csv", 4000, pad=500)  # 2 MB: read in several blocks
    lines = source.read_bytes().split(b"\n")
    lines[3001] = lines[3001].replace(b"happy", b"hap\xffpy")
    source.write_bytes(b"\n".join(lines))
    output = tmp_path / "out.csv"
    output.write_text("previous complete output\n", encoding="utf-8")
    with pytest.raises(DataError, match="cannot decode"):
        predict_file(Keyword(), str(source), str(output), options=BatchPredictOptions(chunk_rows=1000))
    assert output.read_text(encoding="utf-8") == "previous complete output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_a_malformed_row_late_in_a_csv_is_a_one_line_data_error(tmp_path: Path) -> None:
    source = _csv(tmp_path / "in.csv", 3000)
    lines = source.read_text(encoding="utf-8").split("\n")
    lines[2500] = "a,b,c,d,e"
    source.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataError, match="not a well-formed CSV"):
        predict_file(
            Keyword(),
            str(source),
            str(tmp_path / "out.csv"),
            options=BatchPredictOptions(chunk_rows=1000),
            classes=["joy", "sadness"],
        )
    assert not (tmp_path / "out.csv").exists()


def test_a_header_only_input_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "h.csv"
    source.write_text("text,label\n", encoding="utf-8")
    with pytest.raises(DataError, match="no rows to predict"):
        predict_file(Keyword(), str(source), str(tmp_path / "out.csv"))
    assert not (tmp_path / "out.csv").exists()


def test_a_complete_prediction_replaces_the_previous_output(tmp_path: Path) -> None:
    source = _csv(tmp_path / "in.csv", 30)
    output = tmp_path / "out.jsonl"
    output.write_text("old\n", encoding="utf-8")
    result = predict_file(Keyword(), str(source), str(output), options=BatchPredictOptions(chunk_rows=7))
    assert result.rows == 30 and len(output.read_text(encoding="utf-8").splitlines()) == 30
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.jsonl"]
