"""The ingest and clean KFP components called directly (``python_func``) with artifacts on tmp files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kfp import dsl

from components.arms import select_arms
from components.checks.errors import DataError, ParameterError
from components.kfp_components import build_components

STEPS = build_components(select_arms())


def artifact(kind, folder: Path, name: str):
    return kind(name=name, uri=str(folder / name), metadata={})


def run_ingest(tmp_path: Path, train_uris: list[str], **kwargs):
    out = tmp_path / "ingest"
    out.mkdir(exist_ok=True)
    outputs = {
        "train": artifact(dsl.Dataset, out, "train"),
        "test": artifact(dsl.Dataset, out, "test"),
        "step_profile": artifact(dsl.Artifact, out, "step_profile"),
        "step_metrics": artifact(dsl.Metrics, out, "step_metrics"),
    }
    STEPS.ingest.python_func(train_uris=train_uris, **outputs, **kwargs)
    return outputs


def run_clean(tmp_path: Path, train: dsl.Dataset, test: dsl.Dataset, **kwargs):
    out = tmp_path / "clean"
    out.mkdir(exist_ok=True)
    outputs = {
        "clean_train": artifact(dsl.Dataset, out, "clean_train"),
        "clean_test": artifact(dsl.Dataset, out, "clean_test"),
        "data_stats": artifact(dsl.Artifact, out, "data_stats"),
        "data_report": artifact(dsl.Markdown, out, "data_report"),
        "data_metrics": artifact(dsl.Metrics, out, "data_metrics"),
        "step_profile": artifact(dsl.Artifact, out, "step_profile"),
        "step_metrics": artifact(dsl.Metrics, out, "step_metrics"),
    }
    STEPS.clean.python_func(train=train, test=test, **outputs, **kwargs)
    return outputs


def tweets(path: Path, rows: int = 40) -> str:
    labels = ("worry", "fun")
    lines = ["tweet_id,sentiment,author,content"]
    lines += [f"{i},{labels[i % 2]},user{i},@friend tweet &amp; number {i:02d} http://t.co/{i}" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def sentences(path: Path, rows: int = 40) -> str:
    labels = ("joy", "fear")
    path.write_text(
        "Text,Emotion\n" + "".join(f"Sentence {i:02d} here,{labels[i % 2]}\n" for i in range(rows)), encoding="utf-8"
    )
    return str(path)


def test_ingest_then_clean_two_sources_with_a_split(tmp_path):
    uris = [sentences(tmp_path / "s.csv"), tweets(tmp_path / "t.csv")]
    ingested = run_ingest(tmp_path, uris, test_size=0.25, seed=3, keep_extra_columns=True)
    train = pd.read_parquet(ingested["train"].path)
    assert len(train) == 60 and len(pd.read_parquet(ingested["test"].path)) == 20
    assert {"text", "label", "source", "tweet_id", "author"} == set(train.columns)
    assert ingested["train"].metadata["rows"] == 60 and ingested["train"].metadata["sources"] == uris
    assert json.loads(Path(ingested["step_profile"].path).read_text())["step"] == "ingest"
    # the step's own time and memory as its Metrics (shown on the step in the UIs), also written as a file
    metrics = ingested["step_metrics"].metadata
    assert set(metrics) == {"wall_seconds", "cpu_seconds", "peak_memory_mb", "mean_cpu_percent", "max_processes"}
    assert metrics["wall_seconds"] > 0 and metrics["peak_memory_mb"] > 10
    assert json.loads(Path(ingested["step_metrics"].path).read_text()) == metrics

    cleaned = run_clean(tmp_path, ingested["train"], ingested["test"], label_map={"fun": "joy"}, min_class_count=5)
    clean_train = pd.read_parquet(cleaned["clean_train"].path)
    assert set(clean_train["label"]) == {"joy", "fear", "worry"}
    assert clean_train["text"].str.contains("xxuser tweet & number").any()
    assert not clean_train["text"].str.contains("http|&amp;|@friend").any()
    stats = json.loads(Path(cleaned["data_stats"].path).read_text())
    assert stats["train"]["rows_out"] == len(clean_train) == cleaned["clean_train"].metadata["rows"]
    assert stats["train"]["changed"]["label_map"] == 15 and stats["options"]["label_map"] == {"fun": "joy"}
    assert Path(cleaned["data_report"].path).read_text().startswith("# Data report")
    metrics = cleaned["data_metrics"].metadata
    assert metrics["train_rows_in"] == 60 and metrics["test_rows_out"] == stats["test"]["rows_out"]
    assert metrics["labels"] == 3


def test_clean_reports_and_removes_leakage(tmp_path):
    train_file = sentences(tmp_path / "train.csv")
    test_file = tmp_path / "test.csv"
    test_file.write_text("text,label\nSentence 01 here!,fear\nsomething new,joy\n", encoding="utf-8")
    ingested = run_ingest(tmp_path, [train_file], test_uri=str(test_file))
    cleaned = run_clean(tmp_path, ingested["train"], ingested["test"])
    stats = json.loads(Path(cleaned["data_stats"].path).read_text())
    assert stats["leakage"]["texts"] == 1 and stats["train"]["dropped"]["leakage"] == 1
    assert cleaned["data_metrics"].metadata["leaked_train_rows"] == 1
    assert "sentence 01 here" not in set(pd.read_parquet(cleaned["clean_train"].path)["text"])


def empty_file(path: Path) -> str:
    path.write_text("\n", encoding="utf-8")
    return str(path)


def no_outputs(folder: Path) -> bool:
    return not folder.exists() or not [p for p in folder.iterdir() if p.name not in ("step_profile", "step_metrics")]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: str(d / "missing.csv"), "file not found"),
        (lambda d: str(d), "is a directory"),
        (lambda d: empty_file(d / "e.csv"), "file is empty"),
    ],
)
def test_ingest_refuses_bad_input_without_writing_datasets(tmp_path, make, message):
    good = sentences(tmp_path / "good.csv")
    with pytest.raises(DataError, match=message):
        run_ingest(tmp_path, [good, make(tmp_path)])
    assert no_outputs(tmp_path / "ingest")


def test_ingest_refuses_a_bad_test_file_after_good_training_files_without_writing(tmp_path):
    latin = tmp_path / "latin.csv"
    latin.write_bytes("text,label\ncafé,joy\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin\.csv: cannot decode as utf-8"):
        run_ingest(tmp_path, [sentences(tmp_path / "good.csv")], test_uri=str(latin))
    assert no_outputs(tmp_path / "ingest")


def test_clean_refuses_unseen_test_labels_without_writing(tmp_path):
    test_file = tmp_path / "test.csv"
    test_file.write_text("text,label\nwhat a surprise,surprise\n", encoding="utf-8")
    ingested = run_ingest(tmp_path, [sentences(tmp_path / "train.csv")], test_uri=str(test_file))
    with pytest.raises(DataError, match="labels not in the training data"):
        run_clean(tmp_path, ingested["train"], ingested["test"])
    assert no_outputs(tmp_path / "clean")


def test_clean_refuses_a_bad_parameter_without_writing(tmp_path):
    ingested = run_ingest(tmp_path, [sentences(tmp_path / "train.csv")])
    with pytest.raises(ParameterError, match="conflict_policy must be one of"):
        run_clean(tmp_path, ingested["train"], ingested["test"], conflict_policy="vote")
    assert no_outputs(tmp_path / "clean")
