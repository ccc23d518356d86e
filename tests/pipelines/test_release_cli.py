"""``emotion-pipeline shadow-report`` and ``emotion-pipeline promote``: what they print, write and refuse."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from shadow_logs import MODEL, answer, record, scored_lines, shadow_lines, two_versions, write_labels, write_log

from components.registry.store import ModelRef, open_registry
from pipelines.cli.main import main


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> dict:
    """emotion-demo versions 1 (champion: logistic regression) and 2 (a weak model), with reference profiles."""
    return two_versions(tmp_path_factory.mktemp("release-registry"), kinds=("weak", "lr"))


def test_shadow_report_prints_markdown_and_writes_json_with_the_verdict(versions, tmp_path: Path, capsys) -> None:
    test = versions["test"]
    texts = test["text"].tolist()
    log = write_log(tmp_path / "shadow.jsonl", [*scored_lines(texts, versions["models"]), "{truncated"])
    labels = write_labels(tmp_path / "labels.jsonl", texts, test["label"].tolist())
    argv = ["shadow-report", "--log", str(log), "--labels", str(labels), "--registry", versions["registry"]]
    assert main([*argv, "--bootstrap-resamples", "200", "--output", str(tmp_path / "out" / "report.json")]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("# Shadow report: emotion-demo") and "- verdict: **promote**" in printed
    assert "Disagreement matrix" in printed and "| challenger | prediction_psi |" in printed
    assert "malformed lines skipped: 1 (line numbers 193)" in printed
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["verdict"] == "promote" and report["labelled"]["instances"] == len(texts)
    assert report["next"].startswith(
        f"emotion-pipeline promote --registry {versions['registry']} --model emotion-demo/2"
    )
    assert (
        "--reason 'shadow report of" in report["next"]
        and "- to promote (by hand): `emotion-pipeline promote" in printed
    )
    assert report["versions"]["challenger"]["version"] == "2" and report["drift"]["champion"]["available"]

    assert main([*argv[:3], "--format", "json", "--output", str(tmp_path / "report.md")]) == 0
    assert json.loads(capsys.readouterr().out)["verdict"] is None  # no labels: no verdict
    written = (tmp_path / "report.md").read_text()
    assert "- verdict: **none** — no verdict without labels" in written and "- champion: not computed" in written


def test_shadow_report_refuses_a_missing_empty_or_mixed_log_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["shadow-report", "--log", str(tmp_path / "none.jsonl")]) == 2
    assert (
        capsys.readouterr().err.strip()
        == f"emotion-pipeline shadow-report: error: --log {tmp_path}/none.jsonl: file not found"
    )
    (tmp_path / "empty.jsonl").write_text("")
    assert main(["shadow-report", "--log", str(tmp_path / "empty.jsonl")]) == 1
    assert "no shadow or canary record in the log" in capsys.readouterr().err
    rows = shadow_lines(["a", "b"], ["joy", "joy"], ["joy", "joy"]) + shadow_lines(["c"], ["joy"], ["joy"], ("3", "2"))
    rows[-1]["request_id"] = "later"
    write_log(tmp_path / "mixed.jsonl", rows)
    assert main(["shadow-report", "--log", str(tmp_path / "mixed.jsonl")]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "mixes several champion versions: '1' (2 records from line 1)" in err
    assert main(["shadow-report", "--log", str(tmp_path / "mixed.jsonl"), "--output", "r.html"]) == 2
    assert "expected a .md or .json file" in capsys.readouterr().err
    assert main(["shadow-report", "--log", str(tmp_path / "mixed.jsonl"), "--metric", "recall"]) == 2
    assert "metric must be" in capsys.readouterr().err


def test_shadow_report_with_an_unusable_registry_still_reports(tmp_path: Path, capsys) -> None:
    log = write_log(tmp_path / "log.jsonl", shadow_lines(["a", "b"], ["joy", "fear"], ["joy", "joy"]))
    assert main(["shadow-report", "--log", str(log), "--registry", str(tmp_path / "no-registry")]) == 0
    out = capsys.readouterr().out
    assert "agreement: **50.0%**" in out and "champion drift not computed: --registry" in out
    assert "no registry there" in out


def test_promote_by_hand_dry_run_no_op_and_refusals(versions, tmp_path: Path, capsys) -> None:
    shutil.copytree(versions["registry"], tmp_path / "registry")
    registry = str(tmp_path / "registry")
    base = ["promote", "--registry", registry]
    assert main([*base, "--model", f"{MODEL}/2", "--reason", "shadow", "--dry-run"]) == 0
    assert "would move emotion-demo@champion -> version 2 (before: 1" in capsys.readouterr().out
    assert open_registry(registry).champion(MODEL).version == "1"

    assert main([*base, "--model", f"{MODEL}/2", "--reason", "won the shadow test (shadow.md)"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("emotion-demo@champion -> version 2 (before: 1;")
    assert json.loads(out[1])["promotion_reason"] == "won the shadow test (shadow.md)"
    store = open_registry(registry)
    assert store.champion(MODEL).version == "2"
    assert store.resolve(ModelRef.parse(f"{MODEL}/2")).tags["promotion"] == "manual"

    assert main([*base, "--model", f"{MODEL}/2", "--reason", "again"]) == 0
    assert "already version 2" in capsys.readouterr().out
    assert main([*base, "--model", f"{MODEL}/7", "--reason", "x"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "emotion-demo/7: not in the registry" in err
    assert main([*base, "--model", f"{MODEL}@champion", "--reason", "x"]) == 2
    assert "expected NAME/VERSION" in capsys.readouterr().err
    assert main([*base, "--model", f"{MODEL}/1", "--reason", " "]) == 2
    assert "--reason" in capsys.readouterr().err
    assert main(["promote", "--registry", str(tmp_path / "none"), "--model", f"{MODEL}/1", "--reason", "x"]) == 2
    assert "no registry there" in capsys.readouterr().err
    assert store.champion(MODEL).version == "2"


def test_a_canary_report_shows_each_side_alone_and_no_verdict(tmp_path: Path, capsys) -> None:
    texts = [f"text {i}" for i in range(30)]
    truth = ["joy", "fear", "love"] * 10
    rows = []
    for i, text in enumerate(texts):
        if i % 3 == 0:
            rows.append(record(i, text, None, answer("2", truth[i]), mode="canary", answered_by="challenger"))
        else:
            champion = truth[i] if i % 3 == 1 else "joy"  # right on half of its 20
            rows.append(record(i, text, answer("1", champion), None, mode="canary", answered_by="champion"))
    log = write_log(tmp_path / "canary.jsonl", rows)
    labels = tmp_path / "labels.csv"
    labels.write_text("text,label\n" + "".join(f"{t},{y}\n" for t, y in zip(texts, truth, strict=True)))
    assert main(["shadow-report", "--log", str(log), "--labels", str(labels), "--bootstrap-resamples", "100"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Canary report: emotion-demo") and "- verdict: **none** — no verdict" in out
    assert "answered by one version only" in out and "Disagreement matrix" not in out
    assert "| champion | 20 | 0.5 |" in out and "| challenger | 10 | 1.0 |" in out
