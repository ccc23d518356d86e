"""Formats users really have (issue 18): TSV and other separators (sniffed or --format), JSON Lines, Parquet,
gzip/zstd-compressed files, files without a header with columns by number, and the multi-label policy (labels
such as ``2,27``, as in GoEmotions), counted in the data report; the columns used are recorded."""

from __future__ import annotations

import bz2
import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
import zstandard
from reliability_helpers import run_cli

from components.checks.errors import DataError
from components.io.formats import FileLayout
from components.steps.clean import CleaningOptions, clean_splits, render_data_report
from components.steps.ingest import IngestOptions, ingest_sources, read_labelled_texts

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "dair_ai_emotion"
#: dair-ai labels → GoEmotions ids (the ids GoEmotions' TSV files carry)
GOEMOTIONS_IDS = {"anger": "2", "fear": "14", "joy": "17", "love": "18", "sadness": "25", "surprise": "26"}


def rows(n: int = 60) -> list[tuple[str, str]]:
    labels = ("joy", "fear", "anger")
    return [(f'he said "sentence {i}", about {labels[i % 3]}; really {i * 7}', labels[i % 3]) for i in range(n)]


def frame(n: int = 60) -> pd.DataFrame:
    return pd.DataFrame(rows(n), columns=["text", "label"])


def tsv(n: int = 60, multi_every: int = 0) -> str:
    lines = []
    for i, (text, label) in enumerate(rows(n)):
        ids = GOEMOTIONS_IDS[label] + (",27" if multi_every and i % multi_every == 0 else "")
        lines.append(f"{text}\t{ids}\tid{i}")
    return "\n".join(lines) + "\n"


def read(path: Path, **options: str) -> pd.DataFrame:
    layout = FileLayout(**{k: v for k, v in options.items() if k in FileLayout.__dataclass_fields__})
    given = {k: v for k, v in options.items() if k in ("text_column", "label_column", "encoding")}
    return read_labelled_texts(str(path), layout=layout, **given)


def test_a_headerless_tsv_is_sniffed_and_read_by_position(tmp_path: Path) -> None:
    path = tmp_path / "goemotions.tsv"
    path.write_text(tsv(), encoding="utf-8")
    got = read(path)
    assert got["text"].iloc[0] == 'he said "sentence 0", about joy; really 0' and got["label"].iloc[0] == "17"
    assert got.attrs["columns"][str(path)] == {
        "text": "0 (by position, no header)",
        "label": "1 (by position, no header)",
    }
    (tmp_path / "renamed.txt").write_text(tsv(), encoding="utf-8")  # sniffed by content, not by name
    assert read(tmp_path / "renamed.txt")["label"].tolist() == got["label"].tolist()


def test_columns_by_number_and_another_separator(tmp_path: Path) -> None:
    path = tmp_path / "piped.txt"
    path.write_text("".join(f"x{i}|{y}|{t}\n" for i, (t, y) in enumerate(rows())), encoding="utf-8")
    got = read(path, separator="|", header="no", text_column="2", label_column="1")
    assert got["label"].iloc[1] == "fear" and got["text"].iloc[1].startswith('he said "sentence 1"')


@pytest.mark.parametrize("policy", ["first", "explode", "drop"])
def test_multi_label_policies_are_applied_and_counted(tmp_path: Path, policy: str) -> None:
    path = tmp_path / "goemotions.tsv"
    path.write_text(tsv(60, multi_every=5), encoding="utf-8")  # 12 rows with 2 labels
    train, test = ingest_sources([str(path)], options=IngestOptions(multi_label=policy, test_size=0.3, seed=0))
    expected_rows = {"first": 60, "explode": 72, "drop": 48}[policy]
    assert len(train) + len(test) == expected_rows
    assert not pd.concat([train, test])["label"].str.contains(",").any()
    stats = clean_splits(train, test, CleaningOptions(min_class_count=1, unseen_test_labels="drop")).stats
    assert stats["multi_label"][str(path)] == {
        "policy": policy,
        "rows": 12,
        "rows_before": 60,
        "rows_after": expected_rows,
    }
    assert f"policy `{policy}`: 60 rows became {expected_rows}" in render_data_report(stats)


def test_multi_label_rows_are_refused_by_default_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "goemotions.tsv"
    path.write_text(tsv(60, multi_every=7), encoding="utf-8")
    with pytest.raises(
        DataError,
        match=r"goemotions\.tsv: row 1 has several labels \('17,27'; 9 such rows\); "
        r"choose the multi_label policy",
    ):
        read(path)


def test_json_lines_with_label_lists(tmp_path: Path) -> None:
    path = tmp_path / "data.jsonl"
    lines = [
        json.dumps({"id": i, "text": t, "labels": [GOEMOTIONS_IDS[y], 27] if i % 4 == 0 else [GOEMOTIONS_IDS[y]]})
        for i, (t, y) in enumerate(rows())
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = read(path, label_column="labels", multi_label="first")
    assert got["label"].iloc[0] == "17" and got["text"].iloc[1].startswith('he said "sentence 1"')
    assert got.attrs["multi_label"][str(path)]["rows"] == 15


def test_parquet_and_compressed_files(tmp_path: Path) -> None:
    frame().to_parquet(tmp_path / "data.parquet")
    csv_bytes = frame().to_csv(index=False).encode()
    (tmp_path / "data.csv.gz").write_bytes(gzip.compress(csv_bytes))
    (tmp_path / "data.csv.bz2").write_bytes(bz2.compress(csv_bytes))
    (tmp_path / "data.tsv.zst").write_bytes(zstandard.ZstdCompressor().compress(tsv().encode()))
    (tmp_path / "plain").write_bytes(gzip.compress(csv_bytes))  # compression told by content, not name
    expected = frame()["text"].tolist()
    for name in ("data.parquet", "data.csv.gz", "data.csv.bz2", "plain"):
        assert read(tmp_path / name)["text"].tolist() == expected, name
    assert read(tmp_path / "data.tsv.zst", multi_label="first")["label"].iloc[0] == "17"


@pytest.mark.parametrize(
    ("content", "options", "message"),
    [
        (b"\x1f\x8b\x08\x00broken", {}, "gzip-compressed, but cannot be decompressed"),
        (b"PAR1 not really parquet", {}, "not a valid Parquet file"),
        (b"{not json}\n", {}, "not a valid JSON Lines file"),
        ("text,label\nok,joy\n".encode("utf-16"), {}, "UTF-16 byte-order mark: set --encoding utf-16"),
        (bytes(range(256)) * 8, {}, "it looks binary"),
        (b"t\x00e\x00x\x00t\x00" * 50, {"encoding": "ascii"}, "many NUL bytes"),
    ],
)
def test_broken_or_binary_files_get_the_right_advice(tmp_path: Path, content: bytes, options, message: str) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message):
        read(path, **options)


@pytest.mark.parametrize(
    ("key", "value"), [("data_format", "xlsx"), ("header", "maybe"), ("multi_label", "all"), ("separator", "ab")]
)
def test_layout_parameters_are_checked(key: str, value: str) -> None:
    with pytest.raises(ValueError, match=key):
        IngestOptions(**{key: value})


def test_explode_needs_conflicting_labels_kept(tmp_path: Path, capsys) -> None:
    outcome = run_cli(tmp_path, capsys, "--multi-label", "explode")
    assert outcome.status == 2 and "--multi-label: multi_label: explode gives a text one row per label" in outcome.err
    assert "set conflict_policy=keep" in outcome.err


def test_the_cli_refuses_a_multi_label_file_naming_the_row(tmp_path: Path, capsys) -> None:
    path = tmp_path / "goemotions.tsv"
    path.write_text(tsv(60, multi_every=7), encoding="utf-8")
    outcome = run_cli(tmp_path, capsys, "--train", str(path))
    assert outcome.status == 1
    assert "row 1 has several labels ('17,27'; 9 such rows)" in outcome.err and "--set multi_label=first" in outcome.err
    assert "summary.json" not in outcome.files


def goemotions_style(tmp_path: Path, split: str, rows_wanted: int) -> Path:
    """A GoEmotions-style TSV (no header; text, label ids, id; one row in 10 with two labels) from real rows."""
    if not (SHARED / f"{split}.txt").is_file():
        pytest.skip(f"real data not found at {SHARED}")
    real = [line.rsplit(";", 1) for line in (SHARED / f"{split}.txt").read_text("utf-8").splitlines()[:rows_wanted]]
    path = tmp_path / f"goemotions_{split}.tsv"
    path.write_text(
        "".join(f"{t}\t{GOEMOTIONS_IDS[y]}{',27' if i % 10 == 0 else ''}\tee{i}\n" for i, (t, y) in enumerate(real)),
        encoding="utf-8",
    )
    return path


@pytest.mark.slow
def test_the_cli_runs_on_a_goemotions_style_tsv_with_the_explode_policy(tmp_path: Path, capsys) -> None:
    train, test = goemotions_style(tmp_path, "train", 1500), goemotions_style(tmp_path, "val", 400)
    outcome = run_cli(
        tmp_path,
        capsys,
        "--train",
        str(train),
        "--test",
        str(test),
        "--multi-label",
        "explode",
        "--scratch-budget-seconds",
        "20",
        "--set",
        "unseen_test_labels=drop",
        "--set",
        "conflict_policy=keep",
    )
    assert outcome.status == 0, outcome.err
    summary = json.loads((outcome.output / "summary.json").read_text(encoding="utf-8"))
    assert summary["data"]["multi_label"][str(train)]["rows"] == 150
    assert summary["data"]["columns"][str(train)]["text"] == "0 (by position, no header)"
    assert "27" in summary["labels"]
