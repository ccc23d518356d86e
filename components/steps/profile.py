"""Profile: gather the step profiles, the arms' results and the evaluation into ``summary.json`` and the reports.

The keys of the summary are a contract (users and CI gate on them): ``task``, ``labels``, ``rows``,
``data``, ``models.<arm>.{accuracy, macro_f1, train_seconds, peak_memory_mb}`` (every arm, in pipeline order) and
``steps.<step>.{wall_seconds, cpu_seconds, peak_memory_mb}`` (the shared steps, :data:`STEPS`, and every arm's own
steps: its training step, any step of its own such as ``vectorise``, its predict step). Added since (never
removed): more per-step figures (:data:`STEP_DETAIL_KEYS`, among them ``peak_memory_cgroup_mb`` when a step ran
in a container), ``models.<arm>.train_cpu_seconds``, ``model_mb``, ``display_name``, ``train_step`` and (in
containers) ``peak_memory_cgroup_mb``, ``headline`` (:func:`headline_ratios`: each arm against the first),
``profiling`` (method and error), ``parameters`` (per step) and ``environments`` (machine and package versions,
grouped by the steps that share them), ``registry`` (the register step's decision: ``model_name``, ``version``,
``promoted``, ``reason``, ``champion_version``, the scores and interval; present when the run registered),
``steps.register``, ``comparisons`` (the best arm against each other) and ``tied`` (on a tie: the arms the
evaluation could not tell apart). ``automl_leaderboard`` holds the candidates of the arm that reports a
``leaderboard`` in its extras (``leaderboard_arm``), ``[]`` when none does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.models.bundle import ArmResult
from components.reporting.markdown import cell, training_rows
from components.runtime.profiler import DEFAULT_CPU_WINDOW_SECONDS, DEFAULT_INTERVAL_SECONDS, MEASURES, METHOD

#: The shared steps every run profiles (the arms' own steps come from their results): before and after the arms.
STEPS_BEFORE_ARMS = ("ingest", "clean")
STEPS_AFTER_ARMS = ("evaluate",)
STEPS = (*STEPS_BEFORE_ARMS, *STEPS_AFTER_ARMS)
OPTIONAL_STEPS = ("register",)  # in ``steps`` when its profile is given
STEP_KEYS = ("wall_seconds", "cpu_seconds", "peak_memory_mb")
# Further per-step figures copied into the summary when a profile has them (older profiles may not).
STEP_DETAIL_KEYS = (
    "cpu_user_seconds",
    "cpu_system_seconds",
    "mean_cpu_percent",
    "peak_cpu_percent",
    "read_mb",
    "written_mb",
    "max_processes",
    "samples",
    "max_sample_gap_seconds",
    "profiler_cpu_seconds",
    "started_at",
    "ended_at",
    "peak_memory_cgroup_mb",
)

#: Per-model figures of the evaluation copied into ``models.<name>`` when present.
EVALUATION_KEYS = (
    "accuracy_ci",
    "macro_f1_ci",
    "per_class",
    "latency_p50_ms",
    "latency_p95_ms",
    "throughput_per_second",
    "model_size_mb",
    "training",
    "slices",
    "weighted_f1_ci",
    "latency_p50_ms_range",
    "latency_p95_ms_range",
    "throughput_per_second_range",
    "latency_rounds",
)


def training_step(arm: ArmResult) -> str | None:
    """The arm's training step among its profiles: ``train_<arm>``, else its first ``train…`` step; None if none."""
    if f"train_{arm.arm}" in arm.profiles:
        return f"train_{arm.arm}"
    return next((step for step in arm.profiles if step.startswith("train")), None)


def arms_from_evaluation(
    evaluation: Mapping[str, Any], step_profiles: Mapping[str, Mapping[str, Any]]
) -> list[ArmResult]:
    """The arms of an evaluation without a bundle (older runs): each with its ``train_<arm>`` profile when given."""
    arms = []
    for name, model in evaluation["models"].items():
        step = f"train_{name}"
        profiles = {step: dict(step_profiles[step])} if step in step_profiles else {}
        arms.append(ArmResult(arm=name, display_name=model.get("display_name") or name, profiles=profiles))
    return arms


def step_order(
    step_profiles: Mapping[str, Mapping[str, Any]], arms: Sequence[ArmResult]
) -> dict[str, Mapping[str, Any]]:
    """Every profiled step in pipeline order: the shared steps before the arms, any other given step, each arm's
    steps (arm by arm), the shared steps after the arms, then the optional ones (register)."""
    own = {step: profile for arm in arms for step, profile in arm.profiles.items()}
    known = {*STEPS, *OPTIONAL_STEPS, *own}
    ordered = {s: step_profiles[s] for s in STEPS_BEFORE_ARMS if s in step_profiles}
    ordered |= {s: p for s, p in step_profiles.items() if s not in known}
    ordered |= {s: step_profiles.get(s, p) for s, p in own.items()}
    ordered |= {s: step_profiles[s] for s in (*STEPS_AFTER_ARMS, *OPTIONAL_STEPS) if s in step_profiles}
    return ordered


def _model_entry(
    arm: ArmResult, result: Mapping[str, Any], profiles: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    step = training_step(arm) or (f"train_{arm.arm}" if f"train_{arm.arm}" in profiles else None)
    train = profiles.get(step, {}) if step else {}
    return {
        "display_name": result.get("display_name") or arm.display_name or arm.arm,
        "accuracy": result["accuracy"],
        "macro_f1": result["macro_f1"],
        "weighted_f1": result.get("weighted_f1"),
        "train_step": step,
        "train_seconds": train.get("wall_seconds"),
        "peak_memory_mb": train.get("peak_memory_mb"),
        **{key: result[key] for key in EVALUATION_KEYS if key in result},
    }


def leaderboard_of(arms: Sequence[ArmResult]) -> tuple[str | None, list[dict[str, Any]]]:
    """The first arm that reports a ``leaderboard`` in its extras, and its rows (``(None, [])`` when none does)."""
    for arm in arms:
        if arm.extras.get("leaderboard"):
            return arm.arm, [dict(row) for row in arm.extras["leaderboard"]]
    return None, []


def build_summary(
    task: str,
    step_profiles: Mapping[str, Mapping[str, Any]],
    evaluation: Mapping[str, Any],
    data: Mapping[str, Any],
    registry: Mapping[str, Any] | None = None,
    arms: Sequence[ArmResult] | None = None,
) -> dict[str, Any]:
    """Builds the run summary.

    Args:
        task: Task name (e.g. ``demo``, ``emotion6``).
        step_profiles: Shared step name → profile dict (see ``components.runtime.profiler.StepProfile``); may also
            hold arms' steps (older runs).
        evaluation: Output of ``components.steps.evaluate.evaluate_bundle``.
        data: Data facts from cleaning (rows, label counts, rules).
        registry: The register step's record (``components.steps.register.register_model``), if any.
        arms: The arms' results (``components.models.bundle.read_bundle``): their steps' profiles, display
            names and extras; None: arms named by the evaluation, with their ``train_<arm>`` profiles.

    Returns:
        The summary dict.

    Raises:
        ValueError: A shared step's profile is missing.
    """
    missing = [s for s in STEPS if s not in step_profiles]
    if missing:
        raise ValueError(f"build_summary: no profile for steps {missing}")
    arms = list(arms) if arms else arms_from_evaluation(evaluation, step_profiles)
    profiles = step_order(step_profiles, arms)
    models = {
        a.arm: _model_entry(a, evaluation["models"][a.arm], profiles) for a in arms if a.arm in evaluation["models"]
    }
    leaderboard_arm, leaderboard = leaderboard_of(arms)
    summary = {
        "task": task,
        "labels": next(iter(evaluation["models"].values()))["labels"],
        "rows": {"train": data["train"]["rows_out"], "test": data["test"]["rows_out"]},
        "data": dict(data),
        "models": models,
        "winner": evaluation["winner"],
        "winner_metric": evaluation["winner_metric"],
        "steps": {s: {k: p[k] for k in STEP_KEYS} for s, p in profiles.items()},
        "comparison": evaluation.get("comparison"),
        "comparisons": evaluation.get("comparisons")
        or ([evaluation["comparison"]] if evaluation.get("comparison") else []),
        "bootstrap": evaluation.get("bootstrap"),
        "automl_leaderboard": leaderboard,
        "leaderboard_arm": leaderboard_arm,
    }
    if evaluation["winner"] not in evaluation["models"]:  # a tie
        summary["tied"] = list(evaluation.get("tied") or models)
    if registry:
        summary["registry"] = dict(registry)
    _add_profiling_details(summary, profiles)
    return summary


def _add_profiling_details(summary: dict[str, Any], step_profiles: Mapping[str, Mapping[str, Any]]) -> None:
    """Adds the detailed resource figures, headline ratios, method, parameters and environments."""
    for step, entry in summary["steps"].items():
        # Only the figures a step has: the container peak is None outside containers and left out then.
        entry.update({k: step_profiles[step][k] for k in STEP_DETAIL_KEYS if step_profiles[step].get(k) is not None})
    for model in summary["models"].values():
        train = step_profiles.get(model["train_step"]) if model["train_step"] else None
        if train is None:
            continue
        model["train_cpu_seconds"] = train["cpu_seconds"]
        if "model_mb" in train.get("extra", {}):
            model["model_mb"] = train["extra"]["model_mb"]
        if train.get("peak_memory_cgroup_mb") is not None:
            model["peak_memory_cgroup_mb"] = train["peak_memory_cgroup_mb"]
    summary["headline"] = headline_ratios(summary)
    profiled = [p for p in step_profiles.values() if "sample_interval_seconds" in p]
    interval = max((p["sample_interval_seconds"] for p in profiled), default=DEFAULT_INTERVAL_SECONDS)
    window = max(
        (p.get("cpu_window_seconds", DEFAULT_CPU_WINDOW_SECONDS) for p in profiled), default=DEFAULT_CPU_WINDOW_SECONDS
    )
    summary["profiling"] = {
        "sample_interval_seconds": interval,
        "cpu_window_seconds": window,
        "method": METHOD.format(interval=interval, window=window),
        "measures": [
            {
                "figure": f,
                "how": how.format(interval=interval, window=window),
                "error": e.format(interval=interval, window=window),
            }
            for f, how, e in MEASURES
        ],
        "max_sample_gap_seconds": max((p.get("max_sample_gap_seconds", 0.0) for p in profiled), default=0.0),
        "sampler_errors": {s: p["sampler_error"] for s, p in step_profiles.items() if p.get("sampler_error")},
    }
    summary["parameters"] = {s: dict(p.get("parameters", {})) for s, p in step_profiles.items()}
    summary["environments"] = group_environments(step_profiles)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, 3)


def headline_ratios(summary: Mapping[str, Any]) -> dict[str, float]:
    """Each arm against the first arm in a few numbers, and the whole pipeline's (the ``profile`` step's Metrics).

    Ratios are ``<arm> / <first>`` (2.0: the arm used twice as much); deltas are ``<arm> − <first>`` (positive:
    the arm scored higher). A figure is left out when a model or a measurement is missing.

    Args:
        summary: A summary from :func:`build_summary` (``models`` and ``steps``).

    Returns:
        Name → value: per arm after the first, ``<arm>_vs_<first>_train_time``, ``…_train_cpu``,
        ``…_peak_memory``, ``…_model_size``, ``…_accuracy_delta`` and ``…_macro_f1_delta`` (e.g.
        ``automl_vs_scratch_train_time``); ``pipeline_wall_seconds`` (sum of the steps' wall times),
        ``pipeline_cpu_seconds``, ``pipeline_peak_memory_mb`` and ``pipeline_elapsed_seconds`` (first start to
        last end, when recorded).
    """
    models, steps = summary["models"], summary["steps"]
    out: dict[str, float | None] = {
        "pipeline_wall_seconds": round(sum(s["wall_seconds"] for s in steps.values()), 3),
        "pipeline_cpu_seconds": round(sum(s["cpu_seconds"] for s in steps.values()), 3),
        "pipeline_peak_memory_mb": max(s["peak_memory_mb"] for s in steps.values()),
    }
    starts, ends = [s.get("started_at") for s in steps.values()], [s.get("ended_at") for s in steps.values()]
    if all(starts) and all(ends):  # first start to last end: includes starting each step's process or pod
        out["pipeline_elapsed_seconds"] = round(max(ends) - min(starts), 3)
    names = list(models)
    for name in names[1:]:
        out |= _versus(name, models[name], names[0], models[names[0]])
    return {k: v for k, v in out.items() if v is not None}


def _versus(name: str, arm: Mapping[str, Any], first_name: str, first: Mapping[str, Any]) -> dict[str, float | None]:
    """``arm`` against ``first``: cost ratios and score deltas, keyed ``<name>_vs_<first_name>_…``."""
    prefix = f"{name}_vs_{first_name}"
    ratios = (
        ("train_time", "train_seconds"),
        ("train_cpu", "train_cpu_seconds"),
        ("peak_memory", "peak_memory_mb"),
        ("model_size", "model_mb"),
    )
    out = {f"{prefix}_{key}": _ratio(arm.get(field), first.get(field)) for key, field in ratios}
    for metric in ("accuracy", "macro_f1"):
        out[f"{prefix}_{metric}_delta"] = round(arm[metric] - first[metric], 4)
    return out


def group_environments(step_profiles: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The distinct environments the steps ran in, each with the steps that ran in it.

    Steps may run on different images (AutoML has its own) or machines, so versions are kept per step and
    grouped here rather than taken from the profile step's own image.
    """
    groups: list[dict[str, Any]] = []
    for step, profile in step_profiles.items():
        environment = dict(profile.get("environment") or {})
        if not environment:
            continue
        for group in groups:
            if group["environment"] == environment:
                group["steps"].append(step)
                break
        else:
            groups.append({"steps": [step], "environment": environment})
    return groups


def render_markdown(summary: Mapping[str, Any]) -> str:
    """Renders the summary as Markdown tables for the pipeline UI."""
    lines = [
        f"# Emotion pipeline: {cell(summary['task'])}",
        "",
        f"{len(summary['labels'])} labels · {summary['rows']['train']} training rows · "
        f"{summary['rows']['test']} test rows · winner by {summary['winner_metric']}: **{_winner(summary)}**",
        "",
        "## Models",
        "",
        "| model | arm | accuracy | macro-F1 | train s | train CPU s | peak MB | model MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in summary["models"].items():
        lines.append(
            f"| {cell(m.get('display_name') or name)} | {cell(name)} | {m['accuracy']:.4f} | {m['macro_f1']:.4f} | "
            f"{_number(m.get('train_seconds'), '.1f')} | {_number(m.get('train_cpu_seconds'), '.1f')} | "
            f"{_number(m.get('peak_memory_mb'))} | {_number(m.get('model_mb'), '.2f')} |"
        )
    rows_used = training_rows(summary["models"])
    if rows_used:
        lines += ["", "Training rows:", ""] + [f"- {name}: {cell(text)}" for name, text in rows_used.items()]
    headline = summary.get("headline", {})
    if headline:
        lines += ["", "## Headline", "", "| figure | value |", "|---|---:|"]
        lines += [f"| {key} | {value:g} |" for key, value in headline.items()]
    lines += ["", "## Steps", "", *_steps_table(summary["steps"])]
    if "profiling" in summary:
        lines += ["", f"*How this was measured:* {summary['profiling']['method']}"]
        if summary["profiling"].get("max_sample_gap_seconds"):
            lines[-1] += f" Longest gap between two samples: {summary['profiling']['max_sample_gap_seconds']:.2f} s."
    if summary.get("registry"):
        lines += ["", *_registry_lines(summary["registry"])]
    return "\n".join(lines) + "\n"


def _winner(summary: Mapping[str, Any]) -> str:
    """The winner, or the tie and the arms it is between."""
    tied = summary.get("tied")
    return f"{summary['winner']} ({', '.join(cell(t) for t in tied)})" if tied else cell(summary["winner"])


def _registry_lines(record: Mapping[str, Any]) -> list[str]:
    """The registry decision for the run report (the register step writes the fuller one)."""
    lines = [
        "## Registry",
        "",
        f"**{cell(record['model_name'])}** version {record['version']} ({record.get('model', '?')}): "
        f"{'**promoted to champion**' if record['promoted'] else 'not promoted'}; champion now: version "
        f"{record.get('champion_version')}.",
        "",
        cell(record["reason"]),
    ]
    if record.get("interval"):
        low, high = record["interval"]
        lines += [
            "",
            f"| {record['metric']} | new | champion | difference | {record['confidence'] * 100:g} % CI |",
            "|---|---:|---:|---:|---|",
            f"| this run's {record['test_rows']} held-out rows | {record['challenger_score']:.4f} | "
            f"{record['champion_score']:.4f} | {record['difference']:+.4f} | [{low:.4f}, {high:.4f}] |",
        ]
    return lines


CGROUP_NOTE = (
    "*Peak MB* is the largest summed resident memory (RSS) of the step's process tree: pages that forked workers "
    "share with their parent count once per process, and so do shared libraries. *Container peak MB* is the "
    "kernel's exact high-water mark of the memory charged to the step's container (its memory cgroup): every page "
    "once, with the page cache the container loaded, but without pages already cached when it started (such as "
    "libraries an earlier step loaded from the same image)."
)


def _steps_table(steps: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The Markdown steps table; with a container peak column (and a note on the two peaks) when a step has one."""
    cgroup = any(s.get("peak_memory_cgroup_mb") is not None for s in steps.values())
    lines = [
        "| step | wall s | CPU s | mean CPU % | peak CPU % | peak MB | "
        + ("container peak MB | " if cgroup else "")
        + "read MB | written MB | processes |",
        "|---|---:|---:|---:|---:|---:|" + ("---:|" if cgroup else "") + "---:|---:|---:|",
    ]
    for step, s in steps.items():
        lines.append(
            f"| {step} | {s['wall_seconds']:.2f} | {s['cpu_seconds']:.2f} | {_number(s.get('mean_cpu_percent'))} | "
            f"{_number(s.get('peak_cpu_percent'))} | {s['peak_memory_mb']:.0f} | "
            + (f"{_number(s.get('peak_memory_cgroup_mb'))} | " if cgroup else "")
            + f"{_number(s.get('read_mb'), '.1f')} | {_number(s.get('written_mb'), '.1f')} | "
            f"{_number(s.get('max_processes'), 'd')} |"
        )
    return [*lines, "", CGROUP_NOTE] if cgroup else lines


def _number(value: float | None, spec: str = ".0f") -> str:
    return "–" if value is None else format(value, spec)


@dataclass(frozen=True)
class Reports:
    """Everything the ``profile`` step writes: the summary, the Markdown report and the HTML report."""

    summary: dict[str, Any]
    markdown: str
    html: str

    def ui_metrics(self) -> dict[str, float]:
        """What the step logs for the pipeline UI: each arm's accuracy, macro-F1, training seconds and peak memory
        (``<arm>_<figure>``), then the headline figures."""
        figures = {
            f"{name}_{key}": model[key]
            for name, model in self.summary["models"].items()
            for key in ("accuracy", "macro_f1", "train_seconds", "peak_memory_mb")
            if model.get(key) is not None
        }
        return {**figures, **self.summary["headline"]}


def build_reports(
    task: str,
    step_profiles: Mapping[str, Mapping[str, Any]],
    evaluation: Mapping[str, Any],
    data_stats: Mapping[str, Any],
    registry_record: Mapping[str, Any] | None = None,
    arms: Sequence[ArmResult] | None = None,
) -> Reports:
    """Builds the summary and renders both reports (the ``profile`` step and ``emotion-pipeline report``).

    Args:
        task: Task name.
        step_profiles: Shared step name → profile dict (ingest, clean, evaluate and, when it ran, register).
        evaluation: Output of ``components.steps.evaluate.evaluate_bundle``.
        data_stats: Data statistics from cleaning.
        registry_record: The register step's record, if any (``summary["registry"]`` and a section of the
            Markdown).
        arms: The arms' results in pipeline order (``components.models.bundle.read_bundle`` of the last predict
            step's bundle): their steps' profiles, display names and extras (an AutoML leaderboard). None (older
            runs): the evaluation's models, with their ``train_<arm>`` profiles from ``step_profiles``.
    """
    from components.reporting.html import render_html  # matplotlib: only when rendering

    summary = build_summary(task, step_profiles, evaluation, data_stats, registry_record, arms)
    html = render_html(summary, evaluation, summary["automl_leaderboard"] or None)
    return Reports(summary, render_markdown(summary), html)
