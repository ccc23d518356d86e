"""Batch prediction: every input shape in, CSV or JSON lines out, one row per input in order, streamed in chunks."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from components.checks.errors import DataError, ParameterError
from components.models.scoring import predict_with_scores
from components.steps.batch_predict import BatchPredictOptions, predict_file, read_chunks


class Keyword:
    """joy when the text says happy, else sadness; records the chunk sizes it was given."""

    def __init__(self) -> None:
        self.chunks: list[int] = []

    def predict(self, texts):
        return ["joy" if "happy" in t else "sadness" for t in texts]

    def predict_texts(self, texts):
        self.chunks.append(len(texts))
        return predict_with_scores(self, texts)


ROWS = [("i am happy", "joy"), ("so sad", "sadness"), ("happy, happy; day", "joy"), ("blue", "joy")]


def _write(path: Path, shape: str) -> Path:
    if shape == "semicolon":
        path.write_text("".join(f"{t};{label}\n" for t, label in ROWS), encoding="utf-8")
    elif shape == "csv":
        pd.DataFrame(ROWS, columns=["Text", "Emotion"]).to_csv(path, index=False)
    elif shape == "jsonl":
        path.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in ROWS), encoding="utf-8")
    else:  # plain lines, no labels
        path.write_text("".join(f"{t.replace(';', ',')}\n" for t, _ in ROWS), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("shape", "name"), [("semicolon", "in.txt"), ("csv", "in.csv"), ("jsonl", "in.jsonl"), ("plain", "in.txt")]
)
def test_every_input_shape_to_csv_and_jsonl(tmp_path: Path, shape: str, name: str) -> None:
    source = _write(tmp_path / name, shape)
    model = Keyword()
    result = predict_file(
        model, str(source), str(tmp_path / "out" / "p.csv"), options=BatchPredictOptions(chunk_rows=3)
    )
    assert result.rows == 4 and model.chunks == [3, 1]
    out = pd.read_csv(tmp_path / "out" / "p.csv", keep_default_na=False)
    assert out["label"].tolist() == ["joy", "sadness", "joy", "sadness"]
    assert list(out.columns[:4]) == ["text", "label", "score_joy", "score_sadness"]
    if shape == "plain":
        assert result.accuracy is None and "true_label" not in out
    else:
        assert out["text"].tolist() == [t for t, _ in ROWS] and out["true_label"].tolist() == [lb for _, lb in ROWS]
        assert result.accuracy == 0.75 and result.metrics()["accuracy"] == 0.75
    lines = predict_file(Keyword(), str(source), str(tmp_path / "p.jsonl"))
    records = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert lines.rows == len(records) == 4
    assert records[0]["label"] == "joy" and records[0]["scores"] == {"joy": 1.0, "sadness": 0.0}


def test_columns_can_be_named_and_scores_cover_the_given_classes(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    pd.DataFrame({"id": [1, 2], "content": ["happy", "x"], "gold": ["joy", "joy"]}).to_csv(source, index=False)
    options = BatchPredictOptions(label_column="gold")
    result = predict_file(Keyword(), str(source), str(tmp_path / "p.csv"), options=options, classes=["anger"])
    assert result.accuracy == 0.5
    assert pd.read_csv(tmp_path / "p.csv").columns.tolist() == [
        "text",
        "label",
        "score_anger",
        "score_joy",
        "score_sadness",
        "true_label",
    ]


def test_bad_inputs_and_outputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        predict_file(Keyword(), str(tmp_path / "missing.csv"), str(tmp_path / "never.csv"))
    assert not (tmp_path / "never.csv").exists()  # the input is checked before anything is written
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="empty"):
        list(read_chunks(str(tmp_path / "empty.txt")))
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\nnot json\n')
    with pytest.raises(DataError, match="line 2 is not JSON"):
        list(read_chunks(str(tmp_path / "bad.jsonl")))
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="no text column"):
        list(read_chunks(str(tmp_path / "cols.csv")))
    with pytest.raises(ParameterError, match=r"\.csv or \.jsonl"):
        predict_file(Keyword(), str(_write(tmp_path / "in.txt", "semicolon")), str(tmp_path / "out.parquet"))
    with pytest.raises(ParameterError, match="chunk_rows"):
        BatchPredictOptions(chunk_rows=0)


def test_a_large_file_is_streamed_in_chunks(tmp_path: Path) -> None:
    source = tmp_path / "big.txt"
    with source.open("w", encoding="utf-8") as out:
        for i in range(25_000):
            out.write(f"text number {i} {'happy' if i % 2 else 'sad'};{'joy' if i % 2 else 'sadness'}\n")
    model = Keyword()
    result = predict_file(model, str(source), str(tmp_path / "big.jsonl"), options=BatchPredictOptions(chunk_rows=4000))
    assert result.rows == 25_000 and result.accuracy == 1.0
    assert max(model.chunks) == 4000 and len(model.chunks) == 7  # never more than a chunk in memory


class Explained(Keyword):
    """Keyword, explained: "happy" pushed it (weight 1 per occurrence) when it says joy; records each ``top``."""

    def __init__(self) -> None:
        super().__init__()
        self.tops: list[int] = []

    def explain_texts(self, texts, top=5):
        self.tops.append(top)
        return [[{"feature": "happy", "weight": float(t.count("happy"))}] if "happy" in t else [] for t in texts]


def test_explanations_are_a_field_in_json_lines_and_a_json_column_in_csv(tmp_path: Path) -> None:
    source = _write(tmp_path / "in.txt", "semicolon")
    model, options = Explained(), BatchPredictOptions(chunk_rows=3, explain=True, explain_top=2)
    predict_file(model, str(source), str(tmp_path / "p.csv"), options=options)
    out = pd.read_csv(tmp_path / "p.csv", keep_default_na=False)
    assert out.columns.tolist()[-2:] == ["true_label", "explanation"]
    happy = [{"feature": "happy", "weight": 1.0}]
    twice = [{"feature": "happy", "weight": 2.0}]
    assert [json.loads(cell) for cell in out["explanation"]] == [happy, [], twice, []]
    predict_file(model, str(source), str(tmp_path / "p.jsonl"), options=options)
    records = [json.loads(line) for line in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert records[2]["explanation"] == [{"feature": "happy", "weight": 2.0}] and records[1]["explanation"] == []
    assert model.tops == [2, 2, 2, 2]  # two chunks, two files
    predict_file(model, str(source), str(tmp_path / "plain.jsonl"))
    assert "explanation" not in json.loads((tmp_path / "plain.jsonl").read_text().splitlines()[0])
    assert model.tops == [2, 2, 2, 2]  # not asked: not explained
    with pytest.raises(ParameterError, match="explain_top must be >= 1"):
        BatchPredictOptions(explain=True, explain_top=0)
