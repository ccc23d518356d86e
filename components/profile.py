"""Profile: gather the step profiles and evaluation results into ``summary.json`` and a Markdown report.

The keys of the summary are a contract (users and CI gate on them): ``task``, ``labels``, ``rows``,
``data``, ``models.<scratch|automl>.{accuracy, macro_f1, train_seconds, peak_memory_mb}`` and
``steps.<ingest … evaluate>.{wall_seconds, cpu_seconds, peak_memory_mb}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STEPS = ("ingest", "clean", "vectorise", "train_scratch", "train_automl", "evaluate")
MODEL_STEPS = {"scratch": "train_scratch", "automl": "train_automl"}
STEP_KEYS = ("wall_seconds", "cpu_seconds", "peak_memory_mb")
#: Per-model figures of the evaluation copied into ``models.<name>`` when present.
EVALUATION_KEYS = (
    "accuracy_ci", "macro_f1_ci", "per_class", "latency_p50_ms", "latency_p95_ms", "throughput_per_second",
    "model_size_mb", "training",
)  # fmt: skip


def build_summary(
    task: str,
    step_profiles: Mapping[str, Mapping[str, Any]],
    evaluation: Mapping[str, Any],
    data: Mapping[str, Any],
    automl_leaderboard: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Builds the run summary.

    Args:
        task: Task name (e.g. ``demo``, ``emotion6``).
        step_profiles: Step name → profile dict (see ``components.profiling.StepProfile``).
        evaluation: Output of ``components.evaluate.evaluate_models``.
        data: Data facts from cleaning (rows, label counts, rules).
        automl_leaderboard: The AutoML candidates (rows of ``components.train_automl.LeaderboardRow``).

    Returns:
        The summary dict.
    """
    missing = [s for s in STEPS if s not in step_profiles]
    if missing:
        raise ValueError(f"build_summary: no profile for steps {missing}")
    models: dict[str, Any] = {}
    for name, result in evaluation["models"].items():
        train = step_profiles[MODEL_STEPS[name]]
        models[name] = {
            "accuracy": result["accuracy"],
            "macro_f1": result["macro_f1"],
            "weighted_f1": result.get("weighted_f1"),
            "train_seconds": train["wall_seconds"],
            "peak_memory_mb": train["peak_memory_mb"],
            "train_cpu_seconds": train.get("cpu_seconds"),
            **{key: result[key] for key in EVALUATION_KEYS if key in result},
        }
    any_model = next(iter(evaluation["models"].values()))
    return {
        "task": task,
        "labels": any_model["labels"],
        "rows": {"train": data["train"]["rows_out"], "test": data["test"]["rows_out"]},
        "data": dict(data),
        "models": models,
        "winner": evaluation["winner"],
        "winner_metric": evaluation["winner_metric"],
        "steps": {s: {k: step_profiles[s][k] for k in STEP_KEYS} for s in STEPS},
        "comparison": evaluation.get("comparison"),
        "bootstrap": evaluation.get("bootstrap"),
        "automl_leaderboard": list(automl_leaderboard or []),
    }


def render_markdown(summary: Mapping[str, Any]) -> str:
    """Renders the summary as Markdown tables for the pipeline UI."""
    lines = [
        f"# Emotion pipeline: {summary['task']}",
        "",
        f"{len(summary['labels'])} labels · {summary['rows']['train']} training rows · "
        f"{summary['rows']['test']} test rows · winner by {summary['winner_metric']}: **{summary['winner']}**",
        "",
        "## Models",
        "",
        "| model | accuracy | macro-F1 | train s | peak MB |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, m in summary["models"].items():
        lines.append(
            f"| {name} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | {m['train_seconds']:.1f} | "
            f"{m['peak_memory_mb']:.0f} |"
        )
    lines += ["", "## Steps", "", "| step | wall s | CPU s | peak MB |", "|---|---:|---:|---:|"]
    for step, s in summary["steps"].items():
        lines.append(f"| {step} | {s['wall_seconds']:.2f} | {s['cpu_seconds']:.2f} | {s['peak_memory_mb']:.0f} |")
    return "\n".join(lines) + "\n"
