"""Monitoring on the real files of ../shared/data, through the command line (skipped where they are absent, as every
real-data test is).

A champion trained on 80 % of dair-ai's ``train.txt`` (stratified, seeded; the other 20 % its held-out rows) must see
no drift on ``val.txt`` (the same distribution), drift on the tweets of ``emotions_test.csv`` (other vocabulary,
shorter texts, other labels), and drift on ``val.txt`` with a class removed or its texts truncated.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from monitor_models import DAIR_TRAIN, DAIR_VAL, TWEETS, fit_svm, read_dair, register_champion, split

from pipelines.cli.main import main

pytestmark = pytest.mark.skipif(
    not all(p.is_file() for p in (DAIR_TRAIN, DAIR_VAL, TWEETS)),
    reason=f"real data not found in {DAIR_TRAIN.parents[1]} (see ../shared/data/README.md)",
)


@pytest.fixture(scope="module")
def champion(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("dair")
    train, test = split(read_dair(DAIR_TRAIN))
    return register_champion(folder, fit_svm(train), train, test, name="emotion-dair")


def monitor(champion: tuple[str, str], batch: Path | str, output: Path, *extra: str) -> dict:
    registry, model = champion
    status = main(
        ["monitor", "--registry", registry, "--model", model, "--input", str(batch), "--output", str(output), *extra]
    )
    assert status == 0
    return json.loads((output / "monitor.json").read_text(encoding="utf-8"))


def verdicts(result: dict) -> dict[str, str]:
    return {c["name"]: c["verdict"] for c in result["checks"]}


def write_dair(rows: pd.DataFrame, path: Path) -> Path:
    path.write_text("".join(f"{t};{lab}\n" for t, lab in zip(rows["text"], rows["label"], strict=True)))
    return path


def test_no_drift_on_val(champion: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    result = monitor(champion, DAIR_VAL, tmp_path)
    assert result["drift"] is False, result["reason"]
    assert set(verdicts(result).values()) == {"ok"} and len(result["checks"]) == 8
    assert result["rows"] == result["labelled"] == 2000
    out = capsys.readouterr().out
    assert "drift:    false" in out and "decision: none" in out


def test_drift_on_the_tweets(champion: tuple[str, str], tmp_path: Path) -> None:
    result = monitor(champion, TWEETS, tmp_path, "--ignore-labels")
    assert result["drift"] is True
    found = verdicts(result)
    assert {found[n] for n in ("oov_rate", "length_psi", "prediction_psi", "confidence_psi")} == {"drift"}
    assert result["labelled"] == 0 and result["rows"] == 40000
    labelled = monitor(champion, TWEETS, tmp_path / "labelled")  # its 13 labels: most unknown to the champion
    assert {verdicts(labelled)[n] for n in ("unseen_labels", "accuracy", "macro_f1")} == {"drift"}


def test_a_class_removed_or_truncated_texts_are_caught(champion: tuple[str, str], tmp_path: Path) -> None:
    val = read_dair(DAIR_VAL)
    no_joy = write_dair(val[val["label"] != "joy"], tmp_path / "no_joy.txt")
    cut = write_dair(val.assign(text=val["text"].str.split().str[:8].str.join(" ")), tmp_path / "cut.txt")
    result = monitor(champion, no_joy, tmp_path / "a", "--ignore-labels")
    assert result["drift"] is True and verdicts(result)["prediction_psi"] == "drift"
    assert verdicts(result)["length_psi"] == "ok"
    result = monitor(champion, cut, tmp_path / "b", "--ignore-labels")
    assert result["drift"] is True and verdicts(result)["length_psi"] == "drift"
    result = monitor(champion, cut, tmp_path / "c")  # with labels: the accuracy drop shows too
    assert verdicts(result)["accuracy"] == "drift"


def test_retrain_dry_run_says_what_would_run(
    champion: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    val = read_dair(DAIR_VAL)
    no_joy = write_dair(val[val["label"] != "joy"], tmp_path / "no_joy.txt")
    result = monitor(champion, no_joy, tmp_path, "--on-drift", "retrain", "--dry-run")
    decision = result["decision"]
    assert decision["action"] == "retrain" and decision["dry_run"] is True
    argv = decision["argv"]
    assert argv[:1] == ["run"] and argv.count("--train") == 2 and "--test" not in argv  # its test rows were split
    assert argv[argv.index("--train") + 1] == str(DAIR_TRAIN) and str(no_joy) in argv
    assert argv[argv.index("--model-name") + 1] == "emotion-dair"
    assert "command:  emotion-pipeline run" in capsys.readouterr().out
    logged = [json.loads(line) for line in (tmp_path / "decisions.jsonl").read_text().splitlines()]
    assert logged[-1]["action"] == "retrain" and "drift found" in logged[-1]["reason"]
