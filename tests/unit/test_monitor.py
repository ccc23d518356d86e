"""Monitoring: the statistics against scipy and by hand, the checks' verdicts, the reference profile, the reports."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from lifecycle_models import demo_split
from monitor_models import register_champion
from scipy import stats as scipy_stats
from sklearn.metrics import accuracy_score, f1_score

from components.checks.errors import DataError, ParameterError
from components.registry.reference import PROFILE_FILE, TextStats, read_profile, tokens
from components.reporting.monitor import render_monitor_html, render_monitor_markdown
from components.stats import drift
from components.stats.bootstrap import metric_interval
from components.steps.monitor import MonitorOptions, monitor_metrics, monitor_registered, write_outputs

# --- statistics ----------------------------------------------------------------------------------------------


def test_psi_by_hand() -> None:
    ref, new = [50, 30, 20], [30, 30, 40]
    e, a = np.array([0.5, 0.3, 0.2]), np.array([0.3, 0.3, 0.4])
    assert drift.psi(ref, new) == pytest.approx(float(np.sum((a - e) * np.log(a / e))))
    assert drift.psi(ref, ref) == 0.0
    assert drift.psi({"a": 1, "b": 1}, {"a": 1}) == pytest.approx(
        (1 - 0.5) * math.log(1 / 0.5) + (drift.PSI_FLOOR - 0.5) * math.log(drift.PSI_FLOOR / 0.5)
    )
    with pytest.raises(ValueError):
        drift.psi([1, 2], [1, 2, 3])


def test_chi_squared_matches_scipy_and_the_formula() -> None:
    ref, new = {"a": 40, "b": 35, "c": 25, "gone": 0}, {"a": 20, "b": 50, "c": 30}
    found = drift.chi_squared(ref, new)
    table = np.array([[40, 35, 25], [20, 50, 30]])
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0) / table.sum()
    statistic = float(((table - expected) ** 2 / expected).sum())
    assert found.statistic == pytest.approx(statistic)
    assert found.dof == 2
    assert found.p_value == pytest.approx(float(scipy_stats.chi2.sf(statistic, 2)))
    assert drift.chi_squared({"a": 5}, {"a": 7}).p_value == 1.0


def test_ks_from_counts_matches_scipy_on_the_samples() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(1, 30, 300), rng.integers(5, 40, 200)
    counts = [dict(zip(*np.unique(x, return_counts=True), strict=True)) for x in (a, b)]
    found = drift.ks_from_counts(*counts)
    expected = scipy_stats.ks_2samp(a, b, method="asymp")
    assert found.statistic == pytest.approx(expected.statistic)
    assert found.p_value == pytest.approx(expected.pvalue)


def test_quantile_bins_cover_every_value() -> None:
    counts = {1: 10, 2: 10, 3: 10, 10: 70}
    edges = drift.quantile_edges(counts, bins=4)
    assert edges == [3.0, 10.0]  # the 25th percentile of 100 values is the 25th: a 3
    assert drift.binned(counts, edges) == [30, 70, 0]
    assert sum(drift.binned({0: 3, 99: 4}, edges)) == 7


def test_metric_interval_point_is_sklearns_and_the_interval_holds_it() -> None:
    rng = np.random.default_rng(1)
    truth = list(rng.choice(["a", "b", "c"], 400))
    predicted = [t if rng.random() < 0.7 else "a" for t in truth]
    acc = metric_interval(truth, predicted, metric="accuracy", resamples=200)
    f1 = metric_interval(truth, predicted, metric="macro_f1", resamples=200)
    assert acc.score == round(accuracy_score(truth, predicted), 4)
    assert f1.score == round(f1_score(truth, predicted, average="macro"), 4)
    assert acc.interval[0] < acc.score < acc.interval[1] and acc.interval[1] - acc.interval[0] < 0.15
    assert metric_interval(truth, predicted, resamples=200) == f1  # seeded


def test_text_stats_count_unknown_words() -> None:
    stats = TextStats({"happy": 3, "today": 1})
    stats.add(["I am happy today", "so happy"])
    assert tokens("I am happy, today!") == ["am", "happy", "today"]
    assert (stats.tokens, stats.unknown, stats.oov_rate) == (5, 2, 0.4)
    assert stats.lengths == {3: 1, 2: 1}


def test_options_name_the_bad_parameter() -> None:
    with pytest.raises(ParameterError, match="psi_threshold"):
        MonitorOptions(psi_threshold=0)
    with pytest.raises(ParameterError, match="chi2_alpha"):
        MonitorOptions(chi2_alpha=1.5)
    with pytest.raises(ParameterError, match="min_rows"):
        MonitorOptions(min_rows=0)


# --- the checks on the demo data -----------------------------------------------------------------------------

SMALL = MonitorOptions(min_rows=50, bootstrap_resamples=200)


@pytest.fixture(scope="module")
def demo_champion(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    from lifecycle_models import fit

    folder = tmp_path_factory.mktemp("monitor")
    train, test = demo_split()
    test_file = folder / "heldout.txt"
    test_file.write_text("".join(f"{t};{lab}\n" for t, lab in zip(test["text"], test["label"], strict=True)))
    registry, model = register_champion(folder, fit("lr", train), train, test, name="emotion-demo")
    return registry, model, test_file


def test_the_profile_travels_with_the_version(demo_champion: tuple[str, str, Path], tmp_path: Path) -> None:
    from components.registry.store import ModelRef, download_version, open_registry

    registry, model, _ = demo_champion
    folder, _ = download_version(open_registry(registry), ModelRef.parse(model), tmp_path)
    profile = read_profile(folder)
    train, test = demo_split()
    assert (folder / PROFILE_FILE).is_file()
    assert profile["training"]["rows"] == len(train) and profile["heldout"]["rows"] == len(test)
    assert profile["training"]["label_counts"] == train["label"].value_counts().to_dict()
    assert sum(profile["heldout"]["predicted_counts"].values()) == sum(profile["heldout"]["confidence_counts"])
    assert profile["vocabulary"]["terms"]["feel"] == sum("feel" in tokens(t) for t in train["text"])
    with pytest.raises(FileNotFoundError, match="no reference profile"):
        read_profile(tmp_path)


def test_the_held_out_rows_themselves_show_no_drift(demo_champion: tuple[str, str, Path]) -> None:
    registry, model, heldout = demo_champion
    result = monitor_registered(registry_uri=registry, model=model, input_uri=str(heldout), options=SMALL)
    values = {c["name"]: c["value"] for c in result["checks"]}
    assert result["drift"] is False, result["reason"]
    assert values["prediction_psi"] == pytest.approx(0, abs=1e-9) and values["confidence_psi"] == pytest.approx(0)
    assert values["prediction_chi2"] == pytest.approx(1.0)  # the p-value of identical counts
    found = {c["name"]: c for c in result["checks"]}
    assert found["accuracy"]["value"] == found["accuracy"]["registered"]
    assert result["labelled"] == result["rows"] == 192


def test_a_shifted_batch_is_drift_with_reasons(demo_champion: tuple[str, str, Path], tmp_path: Path) -> None:
    registry, model, heldout = demo_champion
    rows = [line.rpartition(";") for line in heldout.read_text().splitlines()]
    top = max({r[2] for r in rows}, key=[r[2] for r in rows].count)
    kept = [(" ".join(t.split()[:3]), lab) for t, _, lab in rows if lab != top]  # a class gone, texts cut
    shifted = tmp_path / "shifted.txt"
    shifted.write_text("".join(f"{t};{lab}\n" for t, lab in kept))
    result = monitor_registered(registry_uri=registry, model=model, input_uri=str(shifted), options=SMALL)
    drifted = {c["name"] for c in result["checks"] if c["drift"]}
    assert result["drift"] is True
    assert {"length_psi", "prediction_psi"} <= drifted
    assert "length_psi" in result["reason"]
    metrics = monitor_metrics(result)
    assert metrics["drift"] == 1.0 and metrics["length_psi_drift"] == 1.0


def test_unlabelled_and_too_small_batches(demo_champion: tuple[str, str, Path], tmp_path: Path) -> None:
    registry, model, heldout = demo_champion
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(line.rpartition(";")[0] for line in heldout.read_text().splitlines()) + "\n")
    result = monitor_registered(registry_uri=registry, model=model, input_uri=str(plain), options=SMALL)
    assert result["labelled"] == 0
    assert {c["name"] for c in result["checks"]} == {
        "oov_rate",
        "length_psi",
        "prediction_psi",
        "prediction_chi2",
        "confidence_psi",
    }
    with pytest.raises(DataError, match="min_rows=200"):
        monitor_registered(registry_uri=registry, model=model, input_uri=str(plain))


def test_outputs_and_reports(demo_champion: tuple[str, str, Path], tmp_path: Path) -> None:
    registry, model, heldout = demo_champion
    result = monitor_registered(registry_uri=registry, model=model, input_uri=str(heldout), options=SMALL)
    written = write_outputs(
        result, tmp_path / "out", markdown=render_monitor_markdown(result), html=render_monitor_html(result)
    )
    assert json.loads(written["monitor.json"].read_text())["drift"] is False
    assert "| prediction_psi |" in written["monitor.md"].read_text()
    html = written["monitor.html"].read_text()
    assert html.count("<svg") == 3 and "<script" not in html
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["monitor.html", "monitor.json", "monitor.md"]


def test_the_kfp_wrapper_defaults_are_the_options_defaults() -> None:
    import dataclasses
    import inspect

    from components import kfp_components

    signature = inspect.signature(kfp_components.monitor).parameters
    for field in dataclasses.fields(MonitorOptions):
        assert signature[field.name].default == getattr(MonitorOptions(), field.name), field.name


def test_retraining_decisions_say_why() -> None:
    import argparse

    from pipelines.cli.monitor import decide

    args = argparse.Namespace(
        on_drift="retrain",
        env="",
        dry_run=True,
        ignore_labels=False,
        input="gs://b/new.csv",
        output=Path("out"),
        registry="reg",
        registry_artifacts="",
        retrain_args="--seed 3",
    )
    known = {"sources": {"train": ["gs://b/train.csv"], "test": ["gs://b/test.csv"]}}
    result = {"drift": True, "rows": 500, "labelled": 500, "training": known, "model": {"name": "emotion-x"}}
    decision = decide(result, args)
    assert decision["action"] == "retrain" and decision["command"] == (
        "emotion-pipeline run --output out/retrain --train gs://b/train.csv --train gs://b/new.csv "
        "--test gs://b/test.csv --registry reg --model-name emotion-x --seed 3"
    )
    submit = decide(result, argparse.Namespace(**{**vars(args), "env": "vertex"}))
    assert submit["argv"][:3] == ["submit", "--env", "vertex"]
    assert decide({**result, "drift": False}, args)["action"] == "none"
    assert decide(result, argparse.Namespace(**{**vars(args), "on_drift": "report"}))["action"] == "report"
    unlabelled = decide({**result, "labelled": 0}, args)
    assert unlabelled["action"] == "report" and "needs a labelled batch: 0 of 500" in unlabelled["reason"]
    unknown = decide({**result, "training": {"sources": {}}}, args)
    assert unknown["action"] == "report" and "records no training files" in unknown["reason"]
