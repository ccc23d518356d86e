"""Defects 4, 5, 11 and 13 of issue 18: NUL bytes, labels differing in case, HTML from the data in the Markdown
reports, a label_map naming an unknown label, the columns used and relative paths recorded."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from reliability_helpers import write_lines

from components.checks.errors import DataError
from components.steps.clean import CleaningOptions, clean_splits, render_data_report
from components.steps.evaluate import EvaluateOptions, evaluate_models, render_evaluation_report
from components.steps.ingest import IngestOptions, ingest_sources
from pipelines.cli.main import build_parser
from pipelines.cli.parameters import build_run_parameters

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"


def frame(rows: list[tuple[str, str]], source: str = "f.csv") -> pd.DataFrame:
    return pd.DataFrame({"text": [t for t, _ in rows], "label": [y for _, y in rows], "source": source})


def rows(n: int, labels: tuple[str, ...] = ("joy", "fear")) -> list[tuple[str, str]]:
    return [(f"sentence {i} {labels[i % len(labels)]} number {i * 7}", labels[i % len(labels)]) for i in range(n)]


def test_a_nul_byte_no_longer_cuts_a_text_and_is_counted(tmp_path: Path) -> None:
    for name, header, sep in (("with_header.csv", ["text,label"], ","), ("semicolon.txt", [], ";")):
        path = tmp_path / name
        body = [f"the kit\0chen is {y}{sep}{y}" if i == 0 else f"{t}{sep}{y}" for i, (t, y) in enumerate(rows(40))]
        write_lines(path, *header, *body)
        train, test = ingest_sources([str(path)], options=IngestOptions(test_size=0.5, seed=0))
        both = pd.concat([train, test])
        assert both["text"].str.contains("kit\0chen is joy", regex=False).any(), name
        result = clean_splits(train, test, CleaningOptions(min_class_count=1))
        texts = pd.concat([result.train, result.test])["text"]
        assert texts.str.contains("the kit chen is joy", regex=False).any()
        counted = sum(result.stats[split]["changed"].get("control_characters", 0) for split in ("train", "test"))
        assert counted == 1
        assert "control characters" in render_data_report(result.stats)


def test_labels_differing_only_in_case_are_reported() -> None:
    train = frame(rows(40, ("joy", "Joy", "fear")))
    result = clean_splits(train, frame(rows(9, ("joy", "Joy", "fear"))), CleaningOptions(min_class_count=1))
    assert result.stats["label_case_variants"] == {"joy": ["Joy", "joy"]}
    report = render_data_report(result.stats)
    assert "**Warning:** labels Joy, joy differ only in case" in report
    merged = clean_splits(train, frame(rows(9, ("joy", "Joy", "fear"))), CleaningOptions(label_map={"Joy": "joy"}))
    assert merged.stats["label_case_variants"] == {} and merged.stats["labels"] == ["fear", "joy"]


def test_a_label_map_naming_an_unknown_label_is_refused() -> None:
    with pytest.raises(DataError, match=r"label_map: \['hapy'\] not among the data's labels \['fear', 'joy'\]"):
        clean_splits(frame(rows(40)), frame(rows(10)), CleaningOptions(label_map={"hapy": "joy"}))


def test_html_from_texts_labels_and_files_is_escaped_in_the_markdown_reports() -> None:
    labels = (IMG, "fear")
    train = frame([(f"{SCRIPT} {t}", y) for t, y in rows(40, labels)], source=f"{SCRIPT}.csv")
    train.attrs["columns"] = {f"{SCRIPT}.csv": {"text": SCRIPT, "label": IMG}}
    conflicting = frame([("same text here", IMG), ("same text here", "fear")] * 2)
    result = clean_splits(
        pd.concat([train, conflicting]), frame(rows(10, labels)), CleaningOptions(conflict_policy="drop")
    )
    report = render_data_report(result.stats)
    texts, labels_seen = [t for t, _ in rows(10, labels)], [y for _, y in rows(10, labels)]

    class Constant:
        def predict(self, texts: list[str]) -> list[str]:
            return [IMG] * len(texts)

    evaluation = evaluate_models({"scratch": Constant()}, texts, labels_seen, options=EvaluateOptions())
    for markdown in (report, render_evaluation_report(evaluation)):
        assert "<script" not in markdown and "<img" not in markdown
        assert "&lt;img src=x onerror=alert(1)&gt;" in markdown


def parse(*argv: str):
    return build_parser().parse_args(["run", *argv])


def test_relative_paths_are_recorded_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_lines(tmp_path / "train.csv", "text,label", *(f"{t},{y}" for t, y in rows(40)))
    monkeypatch.chdir(tmp_path)
    parameters = build_run_parameters(parse("--train", "train.csv", "--test", "./train.csv"), cluster=False)
    assert parameters["train_uris"] == [str(tmp_path / "train.csv")]
    assert parameters["test_uri"] == str(tmp_path / "train.csv")


def test_the_columns_used_are_recorded(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path / "t.csv", "id,Text,content,Emotion", *(f"{i},{t},other,{y}" for i, (t, y) in enumerate(rows(40)))
    )
    train, test = ingest_sources([str(path)], options=IngestOptions(text_column="Text", seed=0))
    stats = clean_splits(train, test, CleaningOptions(min_class_count=1)).stats
    assert stats["columns"] == {str(path): {"text": "Text", "label": "Emotion"}}
    assert f"`{path}`: text `Text`, label `Emotion`" in render_data_report(stats)


def test_a_test_file_equal_to_the_training_file_names_leakage_not_label_map() -> None:
    with pytest.raises(DataError, match=r"leakage: every training row left was also in the other split") as caught:
        clean_splits(frame(rows(40)), frame(rows(40)), CleaningOptions(min_class_count=1))
    assert "label_map" not in str(caught.value)
    with pytest.raises(DataError, match=r"every test row left was also in the other split"):
        clean_splits(frame(rows(40)), frame(rows(40)), CleaningOptions(min_class_count=1, leakage="drop_test"))
