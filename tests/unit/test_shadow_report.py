"""shadow-report's logic: reading a shadow or canary log (schema of issue 25), agreement, drift against each
version's reference profile, and with labels the champion rule's verdict (the one ``register`` applies)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from shadow_logs import answer, record, scored_lines, sha, shadow_lines, two_versions, write_labels, write_log

from components.checks.errors import DataError, ParameterError
from components.registry.store import open_registry
from components.stats.bootstrap import paired_difference
from components.stats.promotion import describe_difference, promotion_verdict
from components.steps.evaluate import EvaluateOptions
from components.steps.register import RegisterOptions
from components.steps.shadow_report import (
    ShadowReportOptions,
    parse_record,
    read_labels,
    read_log,
    shadow_report,
    text_sha256,
)

FAST = ShadowReportOptions(bootstrap_resamples=200)


@pytest.fixture(scope="module")
def versions(tmp_path_factory) -> dict:
    """Versions 1 (logistic regression, champion) and 2 (a weak model) of emotion-demo, with profiles."""
    return two_versions(tmp_path_factory.mktemp("shadow-registry"))


def test_the_defaults_are_the_register_steps_own() -> None:
    options, register = ShadowReportOptions(), RegisterOptions()
    assert (options.bootstrap_resamples, options.confidence, options.seed) == (
        register.bootstrap_resamples,
        register.confidence,
        register.seed,
    )
    assert options.metric == EvaluateOptions().winner_metric
    with pytest.raises(ParameterError, match="metric"):
        ShadowReportOptions(metric="recall")


def test_a_record_of_the_schema_is_parsed_and_a_bad_one_named() -> None:
    good = record(0, "I am happy", answer("1", "joy", {"joy": 0.9, "sadness": 0.1}), answer("2", error="boom\nmore"))
    parsed = parse_record(json.dumps(good), 7)
    assert parsed.line == 7 and parsed.mode == "shadow" and parsed.text_sha256 == sha("I am happy")
    assert parsed.answers["champion"].label == "joy" and parsed.answers["challenger"].error == "boom"
    blank = record(0, "t", answer("1", "joy"), answer("2", error=" \n "))
    assert parse_record(json.dumps(blank), 1).answers["challenger"].error == "(an empty error)"
    bad = {
        "{": "not JSON",
        "[1]": "not a JSON object",
        '{"request_id": "a", "model": "m", "text_sha256": "x", "instance": "0"}': "instance",
        '{"request_id": "a", "model": "m", "text_sha256": "x", "instance": 0, "mode": "dark"}': "mode",
    }
    for line, reason in bad.items():
        with pytest.raises(ValueError, match=reason):
            parse_record(line, 1)
    no_challenger = record(0, "t", answer("1", "joy"), None)
    with pytest.raises(ValueError, match="both champion and challenger"):
        parse_record(json.dumps(no_challenger), 1)
    canary_wrong_side = record(0, "t", answer("1", "joy"), None, mode="canary", answered_by="challenger")
    with pytest.raises(ValueError, match="challenger is null"):
        parse_record(json.dumps(canary_wrong_side), 1)


def test_malformed_lines_are_skipped_and_counted_with_their_numbers(tmp_path: Path) -> None:
    rows = shadow_lines(["a b", "c d", "e f"], ["joy", "joy", "fear"], ["joy", "fear", "fear"])
    log = write_log(tmp_path / "log.jsonl", [rows[0], "garbage", rows[1], '{"mode": "shadow"}', rows[2], rows[2]])
    summary = read_log(str(log))
    assert summary.records == 3 and summary.duplicates == 1 and summary.malformed == 2
    assert [item["line"] for item in summary.malformed_lines] == [2, 4]
    assert "not JSON" in summary.malformed_lines[0]["reason"]
    (tmp_path / "binary.jsonl").write_bytes(b"\xff\xfe\n" + (tmp_path / "log.jsonl").read_bytes())
    assert read_log(str(tmp_path / "binary.jsonl")).malformed_lines[0] == {"line": 1, "reason": "not UTF-8"}


def test_an_empty_missing_or_mixed_log_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        read_log(str(tmp_path / "none.jsonl"))
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(DataError, match="no shadow or canary record"):
        read_log(str(tmp_path / "empty.jsonl"))
    write_log(tmp_path / "junk.jsonl", ["junk"])
    with pytest.raises(DataError, match="1 malformed lines"):
        read_log(str(tmp_path / "junk.jsonl"))
    first = shadow_lines(["a", "b"], ["joy", "joy"], ["joy", "joy"], versions=("1", "2"))
    later = shadow_lines(["c"], ["joy"], ["joy"], versions=("1", "3"))
    later[0]["request_id"] = "other"
    write_log(tmp_path / "mixed.jsonl", [*first, *later])
    with pytest.raises(DataError, match=r"mixes several challenger versions: '2' \(2 records from line 1\), '3' "):
        read_log(str(tmp_path / "mixed.jsonl"))
    other = record(9, "x", answer("1", "joy"), answer("2", "joy"), model="emotion-other")
    write_log(tmp_path / "models.jsonl", [*first, other])
    with pytest.raises(
        DataError, match=r"mixes several models: 'emotion-demo'.*'emotion-other' \(1 records from line 3"
    ):
        read_log(str(tmp_path / "models.jsonl"))


def test_shadow_agreement_matrix_shares_and_challenger_errors(tmp_path: Path) -> None:
    rows = shadow_lines(["t1", "t2", "t3", "t4"], ["joy", "joy", "fear", "love"], ["joy", "fear", "fear", "joy"])
    rows.append(record(4, "t5", answer("1", "joy"), answer("2", error="CUDA out of memory")))
    report = shadow_report(str(write_log(tmp_path / "log.jsonl", rows)), options=FAST)
    assert (report["mode"], report["model"], report["records"], report["requests"]) == ("shadow", "emotion-demo", 5, 5)
    agreement = report["agreement"]
    assert (agreement["paired"], agreement["agree"], agreement["rate"]) == (4, 2, 0.5)
    assert agreement["matrix"]["labels"] == ["fear", "joy", "love"]
    assert agreement["matrix"]["rows"] == [[1, 0, 0], [1, 1, 0], [0, 1, 0]]  # champion rows, challenger columns
    champion, challenger = report["versions"]["champion"], report["versions"]["challenger"]
    assert champion["label_shares"] == {"fear": 0.2, "joy": 0.6, "love": 0.2} and champion["errors"] == 0
    assert challenger["errors"] == 1 and challenger["error_examples"] == [{"error": "CUDA out of memory", "count": 1}]
    assert challenger["label_counts"] == {"fear": 2, "joy": 2}
    assert report["drift"]["champion"] == {"available": False, "reason": "no --registry given"}
    assert report["verdict"] is None and "without labels" in report["reason"]
    assert any("failed on 1 instances" in note for note in report["notes"])


def test_labels_are_joined_by_the_texts_utf8_sha256_and_the_verdict_is_the_register_rule(tmp_path: Path) -> None:
    texts = [f"текст {i} émotion" for i in range(60)]
    truth = ["joy", "fear", "love"] * 20
    champion = [label if i % 3 else "sadness" for i, label in enumerate(truth)]  # wrong on a third
    challenger = list(truth)  # always right
    log = write_log(tmp_path / "log.jsonl", shadow_lines(texts, champion, challenger))
    labels = write_labels(tmp_path / "labels.jsonl", [*texts, "never served"], [*truth, "joy"])
    assert text_sha256(texts[0]) == sha(texts[0])
    report = shadow_report(str(log), labels_uri=str(labels), options=FAST)
    labelled = report["labelled"]
    assert labelled["matched_instances"] == 60 and labelled["instances"] == 60
    assert labelled["label_rows"] == {"rows": 61, "unlabelled": 0, "conflicting": 0, "labelled": 61}
    expected = paired_difference(truth, challenger, champion, metric="macro_f1", resamples=200)
    same = promotion_verdict(expected, describe_difference(expected, "champion v1", "60 labelled shadow instances"))
    assert report["verdict"] == same.verdict == "promote" and report["reason"] == same.reason
    assert labelled["differences"]["macro_f1"]["interval"] == list(expected.interval)
    assert labelled["differences"]["accuracy"]["challenger"] == 1.0
    assert labelled["differences"]["accuracy"]["champion"] == pytest.approx(2 / 3, abs=1e-4)

    worse = write_log(tmp_path / "worse.jsonl", shadow_lines(texts, challenger, champion))
    kept = shadow_report(str(worse), labels_uri=str(labels), options=FAST)
    assert kept["verdict"] == "keep" and "worse than the champion" in kept["reason"]
    tie = write_log(tmp_path / "tie.jsonl", shadow_lines(texts, champion, champion))
    assert "contains 0" in shadow_report(str(tie), labels_uri=str(labels), options=FAST)["reason"]


def test_a_labels_file_without_labels_or_matches_is_said(tmp_path: Path) -> None:
    (tmp_path / "plain.csv").write_text("text\nhello\n")
    with pytest.raises(DataError, match="no labelled row"):
        read_labels(str(tmp_path / "plain.csv"), FAST)
    (tmp_path / "labels.csv").write_text("text,label\nhello,joy\nhello,fear\n")
    found, counts = read_labels(str(tmp_path / "labels.csv"), FAST)
    assert found == {sha("hello"): "joy"} and counts["conflicting"] == 1
    log = write_log(tmp_path / "log.jsonl", shadow_lines(["other"], ["joy"], ["joy"]))
    report = shadow_report(str(log), labels_uri=str(tmp_path / "labels.csv"), options=FAST)
    assert report["verdict"] is None and "no labelled instance" in report["reason"]
    assert any("no instance of the log has its text" in note for note in report["notes"])


def test_canary_is_not_paired_each_side_alone_and_no_verdict(tmp_path: Path) -> None:
    texts = [f"t{i}" for i in range(40)]
    truth = ["joy", "fear", "fear", "joy"] * 10  # the champion (always joy) answers the even ones: half right
    rows = []
    for i, (text, label) in enumerate(zip(texts, truth, strict=True)):
        if i % 2:
            rows.append(record(i, text, None, answer("2", label), mode="canary", answered_by="challenger"))
        else:
            rows.append(record(i, text, answer("1", "joy"), None, mode="canary", answered_by="champion"))
    labels = write_labels(tmp_path / "labels.jsonl", texts, truth)
    report = shadow_report(str(write_log(tmp_path / "log.jsonl", rows)), labels_uri=str(labels), options=FAST)
    assert report["mode"] == "canary" and report["agreement"]["rate"] is None
    assert "answered by one version only" in report["agreement"]["note"]
    assert report["versions"]["champion"]["answered"] == report["versions"]["challenger"]["answered"] == 20
    labelled = report["labelled"]
    assert labelled["paired"] is False and labelled["challenger"]["accuracy"] == 1.0
    assert labelled["champion"]["instances"] == 20 and labelled["champion"]["accuracy"] == 0.5
    assert report["verdict"] is None and "paired bootstrap" in report["reason"]


def test_drift_of_each_version_against_its_reference_profile(versions: dict, tmp_path: Path) -> None:
    from components.registry.reference import PredictionStats
    from components.registry.store import ModelRef, download_version
    from components.stats.prediction_drift import prediction_checks

    texts = versions["test"]["text"].tolist()
    log = write_log(tmp_path / "log.jsonl", scored_lines(texts, versions["models"]))
    registry = open_registry(versions["registry"], read_only=True)
    report = shadow_report(str(log), registry=registry, options=FAST, workdir=tmp_path / "work")
    for side in ("champion", "challenger"):
        drift = report["drift"][side]
        assert drift["available"] and [c["name"] for c in drift["checks"]] == [
            "prediction_psi",
            "prediction_chi2",
            "confidence_psi",
        ]
        # the held-out rows themselves: no drift at all against the profile made from them
        assert drift["checks"][0]["value"] == 0.0 and not drift["drift"]

    shifted = [text for text in texts if "love" not in text][:40] * 5  # one kind of text only
    log = write_log(tmp_path / "shifted.jsonl", scored_lines(shifted, versions["models"]))
    drifted = shadow_report(str(log), registry=registry, options=FAST, workdir=tmp_path / "work2")
    folder, _ = download_version(registry, ModelRef.parse("emotion-demo/1"), tmp_path / "ref")
    import json

    profile = json.loads((folder / "reference_profile.json").read_text())
    stats = PredictionStats()
    from components.models.scoring import predict_with_scores

    scored = predict_with_scores(versions["models"]["1"], shifted)
    stats.add(scored.labels, scored.scores.max(axis=1, keepdims=True))
    same = prediction_checks(profile, stats, FAST)
    assert [c["value"] for c in drifted["drift"]["champion"]["checks"]] == [c["value"] for c in same]


def test_an_unreachable_registry_or_a_version_without_profile_is_said_and_the_report_stands(tmp_path: Path) -> None:
    bare = two_versions(tmp_path, profile=False)
    log = write_log(tmp_path / "log.jsonl", shadow_lines(["a", "b"], ["joy", "fear"], ["joy", "joy"]))
    registry = open_registry(bare["registry"], read_only=True)
    report = shadow_report(str(log), registry=registry, options=FAST, workdir=tmp_path / "work")
    assert not report["drift"]["champion"]["available"]
    assert "emotion-demo/1 has no reference profile" in report["drift"]["champion"]["reason"]
    assert report["agreement"]["rate"] == 0.5
    gone = shadow_report(str(log), registry_problem="--registry http://127.0.0.1:9: not reachable", options=FAST)
    assert gone["drift"]["challenger"]["reason"] == "--registry http://127.0.0.1:9: not reachable"
    assert any("challenger drift not computed" in note for note in gone["notes"])
    unknown = write_log(tmp_path / "unknown.jsonl", shadow_lines(["a"], ["joy"], ["joy"], versions=("1", "7")))
    missing = shadow_report(str(unknown), registry=registry, options=FAST, workdir=tmp_path / "w2")
    assert "RegistryError" in missing["drift"]["challenger"]["reason"] and missing["drift"]["champion"]
