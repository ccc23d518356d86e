"""The run summary, its headline ratios and the HTML report: valid, self-contained, every section present, for the
recorded run's two arms and for three."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from components.models.bundle import ArmResult
from components.reporting.html import SECTIONS, render_html
from components.steps import profile as profile_step
from components.steps.profile import STEPS, build_reports, headline_ratios, render_markdown

RUN = Path(__file__).resolve().parents[1] / "data" / "report_run"
#: The recorded run's arms: their display names and own steps.
ARMS = {"scratch": ("from scratch", ("train_scratch",)), "automl": ("AutoML", ("vectorise", "train_automl"))}
ALL_STEPS = ("ingest", "clean", "vectorise", "train_scratch", "train_automl", "evaluate")
FOLDERS = {step: step.replace("_", "-") for step in ALL_STEPS}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


def _load(name: str) -> Any:
    return json.loads((RUN / name).read_text(encoding="utf-8"))


@pytest.fixture
def inputs() -> dict[str, Any]:
    return {
        "profiles": {step: _load(f"{folder}/step_profile") for step, folder in FOLDERS.items()},
        "evaluation": _load("evaluate/evaluation"),
        "data": _load("clean/data_stats"),
        "leaderboard": _load("train-automl/automl_leaderboard"),
    }


def arms_of(profiles: dict[str, Any], leaderboard: list | None) -> list[ArmResult]:
    """The recorded run's arms as their predict steps hand them on (their steps' profiles, the AutoML leaderboard)."""
    return [
        ArmResult(
            arm=arm,
            display_name=shown,
            profiles={step: profiles[step] for step in steps},
            extras={"leaderboard": leaderboard} if arm == "automl" and leaderboard else {},
        )
        for arm, (shown, steps) in ARMS.items()
    ]


def build_summary(task: str, profiles: dict, evaluation: dict, data: dict, registry: dict | None = None) -> dict:
    """The summary of the recorded run: shared steps' profiles and the arms (built from ``profiles``)."""
    shared = {step: profiles[step] for step in (*STEPS, "register") if step in profiles}
    return profile_step.build_summary(task, shared, evaluation, data, registry, arms_of(profiles, None))


class _Checker(HTMLParser):
    """Collects tags, ids and text, and fails on a closing tag that does not match the open one."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ids: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids += [v for k, v in attrs if k == "id" and v]
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids += [v for k, v in attrs if k == "id" and v]

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _check(html: str) -> _Checker:
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert not checker.errors, checker.errors[:5]
    assert checker.stack == [], f"unclosed tags: {checker.stack}"
    return checker


def _render(inputs: dict[str, Any], **changes: Any) -> tuple[dict[str, Any], str]:
    summary = build_summary("emotion6", inputs["profiles"], inputs["evaluation"], inputs["data"])
    html = render_html(summary, inputs["evaluation"], inputs["leaderboard"], **changes)
    return summary, html


def test_summary_keeps_the_contract_and_adds_details(inputs):
    summary = build_summary("emotion6", inputs["profiles"], inputs["evaluation"], inputs["data"])
    for key in ("task", "labels", "rows", "data", "models", "steps", "winner", "winner_metric"):
        assert key in summary
    for model in ("scratch", "automl"):
        assert {"accuracy", "macro_f1", "train_seconds", "peak_memory_mb"} <= set(summary["models"][model])
    for step in ALL_STEPS:
        assert {"wall_seconds", "cpu_seconds", "peak_memory_mb", "mean_cpu_percent", "read_mb"} <= set(
            summary["steps"][step]
        )
    assert summary["profiling"]["sample_interval_seconds"] == 0.05
    assert "0.05 s" in summary["profiling"]["method"]
    assert summary["parameters"]["train_automl"]["models"] == ["lr", "ridge", "nb"]
    assert summary["environments"][0]["steps"] == list(summary["steps"])
    assert list(summary["steps"]) == ["ingest", "clean", "train_scratch", "vectorise", "train_automl", "evaluate"]
    assert summary["models"]["automl"]["train_step"] == "train_automl"
    assert summary["models"]["scratch"]["display_name"] == "from scratch"
    json.dumps(summary)  # summary.json must serialise


def test_headline_ratios_are_each_arm_over_the_first():
    summary = {
        "models": {
            "scratch": {
                "accuracy": 0.8,
                "macro_f1": 0.7,
                "train_seconds": 2.0,
                "train_cpu_seconds": 1.0,
                "peak_memory_mb": 100.0,
                "model_mb": 1.0,
            },
            "automl": {
                "accuracy": 0.75,
                "macro_f1": 0.72,
                "train_seconds": 30.0,
                "train_cpu_seconds": 4.0,
                "peak_memory_mb": 250.0,
            },
        },
        "steps": {
            "a": {"wall_seconds": 1.5, "cpu_seconds": 1.0, "peak_memory_mb": 90.0},
            "b": {"wall_seconds": 2.5, "cpu_seconds": 3.0, "peak_memory_mb": 300.0},
        },
    }
    assert headline_ratios(summary) == {
        "pipeline_wall_seconds": 4.0,
        "pipeline_cpu_seconds": 4.0,
        "pipeline_peak_memory_mb": 300.0,
        "automl_vs_scratch_train_time": 15.0,
        "automl_vs_scratch_train_cpu": 4.0,
        "automl_vs_scratch_peak_memory": 2.5,
        "automl_vs_scratch_accuracy_delta": -0.05,
        "automl_vs_scratch_macro_f1_delta": 0.02,
    }  # no model size: AutoML's is missing
    summary["models"]["transformer"] = {
        "accuracy": 0.9,
        "macro_f1": 0.88,
        "train_seconds": 200.0,
        "peak_memory_mb": 1000.0,
        "model_mb": 90.0,
    }
    ratios = headline_ratios(summary)
    assert ratios["transformer_vs_scratch_train_time"] == 100.0 and ratios["transformer_vs_scratch_model_size"] == 90.0
    assert ratios["transformer_vs_scratch_macro_f1_delta"] == 0.18 and "transformer_vs_automl_train_time" not in ratios
    del summary["models"]["automl"], summary["models"]["transformer"]
    assert not [key for key in headline_ratios(summary) if "_vs_" in key]  # one arm: nothing to compare


def test_report_is_valid_html_with_every_section(inputs):
    _, html = _render(inputs)
    checker = _check(html)
    assert html.startswith("<!DOCTYPE html>")
    for section, title in SECTIONS:
        assert section in checker.ids, f"section {section} missing"
        assert title in html
    assert len(checker.ids) == len(set(checker.ids)), "ids must be unique across the page and its SVGs"
    # charts: steps, quality, cost, classes, leaderboard, two confusion matrices
    assert checker.tags.count("svg") == 7


def test_charts_are_well_formed_inline_svg(inputs):
    _, html = _render(inputs)
    svgs = re.findall(r"<svg\b.*?</svg>", html, flags=re.S)
    assert svgs
    for svg in svgs:
        root = ET.fromstring(svg)  # raises on malformed XML
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.findall(".//{http://www.w3.org/2000/svg}text"), "labels are text, not paths"


def test_report_is_self_contained(inputs):
    _, html = _render(inputs)
    assert "base64" not in html
    assert "<script" not in html
    assert "<img" not in html
    assert "<image" not in html  # matplotlib embeds raster images (imshow, dense colour bars) as PNG
    assert "<link" not in html
    assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", html), "no external resources"


def test_report_shows_the_run(inputs):
    summary, html = _render(inputs)
    text = " ".join(_check(html).text)
    assert "From scratch wins by macro-F1" in text
    assert "Naive Bayes" in text  # leaderboard
    assert "AMD" in text or summary["environments"][0]["environment"]["cpu_model"] in text
    assert "scikit-learn" in text and "1.4.2" in text
    assert "budget_minutes" in text  # run parameters
    assert "exact_duplicates".replace("_", " ") in text  # data report rule
    assert "0.05 s" in text  # the profiler's stated error


def test_leaderboard_chart_names_the_hold_out_scores_it_plots(inputs):
    _, html = _render(inputs)
    chart = re.search(r'<svg role="img" aria-label="leaderboard".*?</svg>', html, flags=re.S).group(0)
    labels = [t.text for t in ET.fromstring(chart).iter("{http://www.w3.org/2000/svg}text") if t.text]
    # The chart plots the leaderboard's accuracy/macro_f1: PyCaret's hold-out split, not cross-validation.
    assert "hold-out score (PyCaret's hold-out split of the training rows)" in labels
    assert f"{inputs['leaderboard'][0]['accuracy']:.3f}" in labels
    caption = re.search(r"</svg>\s*<figcaption>(.*?)</figcaption>", html[html.index(chart) :], flags=re.S).group(1)
    assert "hold-out split of the training rows" in caption
    assert "cross-validat" not in " ".join(labels) and "compared by cross-validation" not in caption


def test_a_leaderboard_row_without_scores_is_in_the_table_not_the_chart(inputs):
    """The AutoML step's first row is PyCaret's import and setup: a time, no scores, no timeout."""
    setup = {
        "model_id": "setup",
        "model": "PyCaret import + setup",
        "accuracy": None,
        "macro_f1": None,
        "fit_seconds": 4.2,
        "status": "ok",
    }
    inputs["leaderboard"] = [setup, *inputs["leaderboard"]]
    _, html = _render(inputs)
    chart = re.search(r'<svg role="img" aria-label="leaderboard".*?</svg>', html, flags=re.S).group(0)
    labels = [t.text for t in ET.fromstring(chart).iter("{http://www.w3.org/2000/svg}text") if t.text]
    assert "Naive Bayes" in labels and "PyCaret import + setup" not in labels
    table = html[html.index('<section id="leaderboard">') :]
    table = table[table.index("<table>") : table.index("</table>")]
    assert "<td>PyCaret import + setup</td><td>–</td>" in table
    # A column is numeric (right-aligned) when any row has a number there, not only when the first row has.
    assert '<th class="n">accuracy</th>' in table and "<th>macro f1</th>" in table


def test_optional_evaluation_facts_are_rendered_when_present(inputs):
    evaluation = copy.deepcopy(inputs["evaluation"])
    labels = evaluation["models"]["scratch"]["labels"]
    for name, latency in (("scratch", 0.8), ("automl", 3.5)):
        model = evaluation["models"][name]
        model.update(
            latency_p50_ms=latency,
            latency_p95_ms=2 * latency,
            throughput_per_second=1000 / latency,
            model_size_mb=1.25,
            accuracy_ci=[model["accuracy"] - 0.05, model["accuracy"] + 0.05],
        )
        model["per_class"] = {
            label: {"precision": 0.5, "recall": 0.25, "f1": 0.3333, "support": 12} for label in labels
        }
    data = copy.deepcopy(inputs["data"])
    data["train"]["text_length"] = {"mean_words": 19.2, "max_words": 66}
    data["leakage"] = {"texts_in_train_and_test": 5}
    summary = build_summary("emotion6", inputs["profiles"], evaluation, data)
    html = render_html(summary, evaluation, None)
    checker = _check(html)
    text = " ".join(checker.text)
    for expected in (
        "latency p50 ms",
        "latency p95 ms",
        "texts/s",
        "Per class",
        "bootstrap confidence intervals",
        "text_length.mean_words",
        "leakage.texts_in_train_and_test",
        "This run recorded no AutoML",
    ):
        assert expected in text, expected
    assert checker.tags.count("svg") == 7  # per-class chart added, leaderboard chart gone


def test_labels_are_escaped_in_html_and_svg(inputs):
    evaluation = copy.deepcopy(inputs["evaluation"])
    for model in evaluation["models"].values():
        model["labels"][0] = "<b>anger & $rage$</b>"
    data = copy.deepcopy(inputs["data"])
    for split in data.values():
        split["label_counts"]["<b>anger & $rage$</b>"] = split["label_counts"].pop("anger")
    summary = build_summary("emotion6", inputs["profiles"], evaluation, data)
    html = render_html(summary, evaluation, inputs["leaderboard"])
    checker = _check(html)
    assert "b" not in checker.tags
    for svg in re.findall(r"<svg\b.*?</svg>", html, flags=re.S):
        ET.fromstring(svg)
    assert "&lt;b&gt;anger &amp; $rage$&lt;/b&gt;" in html


def test_build_reports_returns_summary_markdown_and_html(inputs):
    shared = {step: inputs["profiles"][step] for step in STEPS}
    arms = arms_of(inputs["profiles"], inputs["leaderboard"])
    reports = build_reports("emotion6", shared, inputs["evaluation"], inputs["data"], None, arms)
    assert reports.summary["task"] == "emotion6"
    assert (
        reports.summary["automl_leaderboard"] == inputs["leaderboard"]
        and reports.summary["leaderboard_arm"] == "automl"
    )
    assert "Naive Bayes" in reports.html  # the leaderboard, from the AutoML arm's extras
    assert reports.html.startswith("<!DOCTYPE html>")
    assert reports.markdown == render_markdown(reports.summary)
    assert "automl_vs_scratch_train_time" in reports.markdown
    assert "How this was measured" in reports.markdown
    assert "| train_automl |" in reports.markdown


def test_same_inputs_render_the_same_page(inputs):
    from datetime import UTC, datetime

    when = datetime(2026, 1, 1, tzinfo=UTC)
    assert _render(inputs, generated_at=when)[1] == _render(inputs, generated_at=when)[1]


def test_report_states_the_sampler_gaps_actually_achieved(inputs):
    profiles = copy.deepcopy(inputs["profiles"])
    for profile in profiles.values():
        profile.update(samples=10, max_sample_gap_seconds=0.07)
    profiles["train_automl"]["max_sample_gap_seconds"] = 0.31
    summary = build_summary("emotion6", profiles, inputs["evaluation"], inputs["data"])
    assert summary["profiling"]["max_sample_gap_seconds"] == 0.31
    text = "".join(_check(render_html(summary, inputs["evaluation"], None)).text)
    assert "the longest gap between two samples in this run was 0.31 s" in text
    assert "Longest gap between two samples: 0.31 s." in render_markdown(summary)


def test_a_tie_is_reported_as_a_tie_with_its_interval(inputs):
    evaluation = copy.deepcopy(inputs["evaluation"])
    evaluation["winner"] = "tie"
    evaluation["comparison"] = {
        "models": ["scratch", "automl"],
        "confidence": 0.95,
        "accuracy": {"difference": 0.004, "ci": [-0.002, 0.011]},
        "macro_f1": {"difference": 0.003, "ci": [-0.004, 0.012]},
    }
    summary = build_summary("emotion6", inputs["profiles"], evaluation, inputs["data"])
    html = render_html(summary, evaluation, inputs["leaderboard"])
    text = " ".join(_check(html).text)
    assert "A tie by macro-F1" in text
    assert "[-0.0040, +0.0120] contains 0" in text
    assert "wins by" not in text


@pytest.mark.parametrize(
    ("value", "shown"), [(0.89364, "0.8936"), (5338.2, "5,338"), (20006.4, "20,006"), (1234567.0, "1,234,567")]
)
def test_table_numbers_never_use_exponents(value: float, shown: str):
    from components.reporting.html import _format

    assert _format(value) == shown


def test_container_peaks_are_reported_beside_the_rss_sums_and_told_apart(inputs):
    """Steps run in containers record their cgroup peak: summary, Markdown and HTML show it in its own column and
    say which figure is which; runs without it show neither the column nor the note."""
    profiles = copy.deepcopy(inputs["profiles"])
    for number, step in enumerate(ALL_STEPS):
        profiles[step]["peak_memory_cgroup_mb"] = 111.0 + number
    summary = build_summary("emotion6", profiles, inputs["evaluation"], inputs["data"])
    assert summary["steps"]["train_automl"]["peak_memory_cgroup_mb"] == 111.0 + ALL_STEPS.index("train_automl")
    assert (
        summary["models"]["automl"]["peak_memory_cgroup_mb"]
        == summary["steps"]["train_automl"]["peak_memory_cgroup_mb"]
    )
    markdown = render_markdown(summary)
    assert "| container peak MB |" in markdown and "*Container peak MB* is the kernel's" in markdown
    assert f"| {profiles['ingest']['peak_memory_mb']:.0f} | 111 |" in markdown  # RSS sum, then the cgroup peak
    text = " ".join(_check(render_html(summary, inputs["evaluation"], inputs["leaderboard"])).text)
    for expected in ("container peak MB", "train container peak MB", "container peak", "memory cgroup", "111"):
        assert expected in text, expected

    plain = build_summary("emotion6", inputs["profiles"], inputs["evaluation"], inputs["data"])
    assert all("peak_memory_cgroup_mb" not in s for s in plain["steps"].values())
    assert "container peak MB" not in render_markdown(plain)  # (the method text says what it would be)
    assert "container peak MB" not in " ".join(_check(render_html(plain, inputs["evaluation"], None)).text)


def test_slices_of_each_model_are_a_table_per_kind(inputs):
    evaluation = copy.deepcopy(inputs["evaluation"])
    slices = {
        "scratch": {"source": {"a.txt": (0.91, 0.88), "b.csv": (0.31, 0.19)}, "length": {"0–10 words": (0.8, 0.7)}},
        "automl": {"source": {"a.txt": (0.83, 0.81)}, "length": {"0–10 words": (0.6, 0.5)}},
    }
    for name, kinds in slices.items():
        evaluation["models"][name]["slices"] = {
            kind: {key: {"rows": 10, "labels": 2, "accuracy": a, "macro_f1": f} for key, (a, f) in keys.items()}
            for kind, keys in kinds.items()
        }
    summary = build_summary("emotion14", inputs["profiles"], evaluation, inputs["data"])
    html = render_html(summary, evaluation, None)
    text = " ".join(_check(html).text)
    assert "Slices" in text and "source file" in text and "text length" in text
    rows = re.findall(r"<tr><td>(b\.csv|a\.txt)</td>(.*?)</tr>", html)
    cells = {name: re.findall(r'<td class="n">([^<]*)</td>', rest) for name, rest in rows}
    assert cells["a.txt"] == ["10", "2", "0.9100", "0.8800", "0.8300", "0.8100"]
    assert cells["b.csv"] == ["10", "2", "0.3100", "0.1900", "–", "–"]  # AutoML has no slice of b.csv


def test_the_registry_decision_is_in_the_overview(inputs):
    registry = {
        "model_name": "emotion-emotion6",
        "version": "3",
        "backend": "mlflow",
        "model": "scratch",
        "promoted": False,
        "champion_version": "2",
        "reason": "macro_f1 +0.0010 [95 % CI -0.0050, 0.0070] contains 0; champion kept",
    }
    summary = build_summary("emotion6", inputs["profiles"], inputs["evaluation"], inputs["data"], registry=registry)
    text = " ".join(" ".join(_check(render_html(summary, inputs["evaluation"], None)).text).split())
    assert "from scratch registered as emotion-emotion6 version 3 (mlflow)" in text
    assert "not promoted; the champion stays version 2. macro_f1 +0.0010" in text
    summary = build_summary("emotion6", inputs["profiles"], inputs["evaluation"], inputs["data"])
    assert "Registry:" not in render_html(summary, inputs["evaluation"], None)


def test_the_rows_each_model_was_trained_on_and_why_are_in_both_reports(inputs):
    summary = build_summary("emotion6", inputs["profiles"], inputs["evaluation"], inputs["data"])
    plan = {"rows": 256000, "search_rows": 22873, "reason": "sampled: all 256000 rows would <need>"}
    summary["models"]["scratch"]["training"] = {"rows": plan, "search_rows": 22873.0}
    summary["models"]["automl"]["training"] = {"rows": 39321.0, "rows_note": "sampled 39321 of 256000 rows"}
    markdown = render_markdown(summary)
    assert "- scratch: sampled: all 256000 rows would &lt;need&gt;." in markdown
    assert "- automl: 39,321 rows: sampled 39321 of 256000 rows." in markdown
    text = "".join(_check(render_html(summary, inputs["evaluation"], inputs["leaderboard"])).text)
    assert "Training rows:" in text and "sampled: all 256000 rows would <need>." in text
    assert "39,321 rows: sampled 39321 of 256000 rows." in text
    summary["models"]["automl"]["training"] = {"rows": 900.0}
    assert "- automl: 900 rows: all training rows." in render_markdown(summary)


def _three_arms(inputs: dict[str, Any]) -> tuple[dict[str, Any], list[ArmResult], dict[str, Any]]:
    """The recorded run with a third arm (a transformer, tied with scratch) and a predict step per arm."""
    evaluation = copy.deepcopy(inputs["evaluation"])
    scratch = evaluation["models"]["scratch"]
    evaluation["models"]["transformer"] = {
        **copy.deepcopy(scratch),
        "display_name": "fine-tuned MiniLM",
        "accuracy": scratch["accuracy"] + 0.002,
        "macro_f1": scratch["macro_f1"] + 0.003,
    }
    ci = {"difference": 0.003, "ci": [-0.004, 0.012]}
    evaluation |= {
        "winner": "tie",
        "tied": ["transformer", "scratch"],
        "comparisons": [
            {"models": ["transformer", "scratch"], "accuracy": ci, "macro_f1": ci},
            {"models": ["transformer", "automl"], "accuracy": ci, "macro_f1": {"difference": 0.05, "ci": [0.02, 0.08]}},
        ],
    }
    evaluation["comparison"] = evaluation["comparisons"][0]
    profiles = copy.deepcopy(inputs["profiles"])
    arms = arms_of(profiles, inputs["leaderboard"])
    arms[0].profiles["predict_scratch"] = {**profiles["evaluate"], "step": "predict_scratch"}
    train = {**profiles["train_scratch"], "wall_seconds": 10 * profiles["train_scratch"]["wall_seconds"]}
    own = {"train_transformer": train, "predict_transformer": dict(profiles["evaluate"])}
    arms.append(ArmResult(arm="transformer", display_name="fine-tuned MiniLM", profiles=own))
    return evaluation, arms, {step: profiles[step] for step in STEPS}


def test_three_arms_are_in_the_summary_and_both_reports(inputs):
    evaluation, arms, shared = _three_arms(inputs)
    reports = build_reports("emotion6", shared, evaluation, inputs["data"], None, arms)
    summary = reports.summary
    assert list(summary["models"]) == ["scratch", "automl", "transformer"]
    transformer = summary["models"]["transformer"]
    assert transformer["display_name"] == "fine-tuned MiniLM" and transformer["train_step"] == "train_transformer"
    assert transformer["train_seconds"] == arms[2].profiles["train_transformer"]["wall_seconds"]
    assert list(summary["steps"]) == [
        "ingest",
        "clean",
        "train_scratch",
        "predict_scratch",
        "vectorise",
        "train_automl",
        "train_transformer",
        "predict_transformer",
        "evaluate",
    ]
    assert summary["winner"] == "tie" and summary["tied"] == ["transformer", "scratch"]
    assert summary["headline"]["transformer_vs_scratch_train_time"] == pytest.approx(10.0, rel=1e-2)
    assert "automl_vs_scratch_train_time" in summary["headline"]
    assert "winner by macro_f1: **tie (transformer, scratch)**" in reports.markdown
    assert "| fine-tuned MiniLM | transformer |" in reports.markdown
    checker = _check(reports.html)
    text = " ".join(" ".join(checker.text).split())
    assert "A tie by macro-F1 between fine-tuned MiniLM and from scratch" in text
    assert "[-0.0040, +0.0120] contains 0" in text and "[+0.0200" not in text  # automl is not tied
    assert "Training fine-tuned MiniLM took 10× the training time" in text
    assert "fine-tuned MiniLM / from scratch train time" in text and "AutoML / from scratch train time" in text
    assert checker.tags.count("svg") == 8  # a third confusion matrix
    assert '<tr class="winner"><td><span class="swatch" style="background: #2ca02c">' in reports.html
    json.dumps(summary)


def test_one_arm_renders_without_comparisons(inputs):
    evaluation = copy.deepcopy(inputs["evaluation"])
    del evaluation["models"]["automl"]
    evaluation |= {"winner": "scratch", "tied": [], "comparisons": [], "comparison": None}
    shared = {step: inputs["profiles"][step] for step in STEPS}
    reports = build_reports("emotion6", shared, evaluation, inputs["data"], None, arms_of(inputs["profiles"], None)[:1])
    assert list(reports.summary["models"]) == ["scratch"] and "tied" not in reports.summary
    assert not [key for key in reports.summary["headline"] if "_vs_" in key]
    text = " ".join(_check(reports.html).text)
    assert "From scratch wins by macro-F1." in text and "This run recorded no AutoML leaderboard" in text


def test_each_arms_words_per_class_or_why_it_has_none(inputs):
    evaluation = copy.deepcopy(inputs["evaluation"])
    evaluation["models"]["scratch"]["top_words"] = {
        "top": 2,
        "classes": {"joy": [["happy", 10.6786], ["finally", 4.25]], "fear": [["scared", 14.18], ["<b>dark</b>", 3.0]]},
    }
    evaluation["models"]["automl"]["top_words"] = {"unavailable": "GaussianNB is not a linear model over words"}
    summary = build_summary("emotion6", inputs["profiles"], evaluation, inputs["data"])
    html = render_html(summary, evaluation, inputs["leaderboard"])
    checker = _check(html)
    section = html[html.index('<section id="words">') : html.index("</section>", html.index('<section id="words">'))]
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", section))
    assert "joy happy 10.68 , finally 4.25" in text and "scared 14.18" in text
    assert "Not available for this arm: GaussianNB is not a linear model over words" in text
    assert "&lt;b&gt;dark&lt;/b&gt;" in section and "b" not in checker.tags
    _, plain = _render(inputs)  # a run recorded before word weights
    assert "This run recorded no word weights" in plain
