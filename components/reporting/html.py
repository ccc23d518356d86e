"""HTML report of a run: one self-contained page a person can read, with every chart inline.

Charts are drawn with matplotlib and embedded as inline SVG (no base64 images, scripts, fonts or external
files: KFP's and Vertex AI's UIs show the HTML artifact in a sandboxed frame). The page is a Jinja2
template (``components/reporting/templates/report.html.j2``) filled from the run summary
(:func:`components.steps.profile.build_summary`), the evaluation results and the AutoML leaderboard. Any number of
arms: each is named by its ``display_name`` and keeps one colour (by its place in the run) in every chart.
Optional facts (latency, model size, per-class scores, confidence intervals, extra data statistics) are
shown when present and left out when not.
"""

from __future__ import annotations

import io
import itertools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from numbers import Number
from typing import Any

import jinja2
import matplotlib
import numpy as np
from markupsafe import Markup
from matplotlib.figure import Figure

from components.reporting.markdown import training_rows
from components.stats.slices import slice_tables

SECTIONS = (
    ("overview", "Overview"),
    ("models", "Models"),
    ("confusion", "Confusion matrices"),
    ("words", "Words per class"),
    ("steps", "Steps: time and resources"),
    ("data", "Data"),
    ("leaderboard", "AutoML leaderboard"),
    ("method", "How this was measured"),
    ("parameters", "Run parameters"),
    ("environment", "Machine and packages"),
)
METRIC_NAMES = {"accuracy": "accuracy", "macro_f1": "macro-F1", "weighted_f1": "weighted F1"}
#: Arm colours, by the arm's place in the run (the first arm's is the first), cycled beyond ten arms.
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#d62728")
QUALITY_METRICS = (("accuracy", "accuracy"), ("macro_f1", "macro-F1"), ("weighted_f1", "weighted F1"))
# (key in the model's dict, title, unit); a panel is drawn only when some model has the key.
COST_METRICS = (
    ("train_seconds", "train time", "s"),
    ("train_cpu_seconds", "train CPU time", "s"),
    ("peak_memory_mb", "train peak memory", "MB"),
    ("model_mb", "model size", "MB"),
    ("latency_p50_ms", "latency p50", "ms"),
    ("latency_p95_ms", "latency p95", "ms"),
    ("throughput_per_second", "throughput", "texts/s"),
)
STANDARD_SPLIT_KEYS = ("rows_in", "rows_out", "dropped", "label_counts")
_RC = {
    "svg.fonttype": "none",  # real <text>, drawn with the page's fonts: small and searchable
    "svg.hashsalt": "emotion-pipeline",  # stable ids, so the same run renders the same page
    "text.parse_math": False,  # labels are data: "$" must not start mathtext
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
_SVG_ID = re.compile(r'\bid="([^"]+)"')


_NEGATIVE_ZERO = re.compile(r"(?<![\w.])-0(?![\w.])")


def svg(figure: Figure, name: str) -> Markup:
    """A matplotlib figure as an inline ``<svg>`` element with ids unique to ``name``.

    Several SVGs in one page share one id namespace, so every ``id`` and its references get the prefix.
    """
    buffer = io.StringIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(buffer, format="svg", metadata={"Date": None}, bbox_inches="tight")
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    # A coordinate that rounds to zero may print as "-0" or "0" depending on float noise: one spelling,
    # so the same run always renders the same page (``emotion-pipeline report`` reproduces ``run``'s).
    text = _NEGATIVE_ZERO.sub("0", text)
    for identifier in sorted(set(_SVG_ID.findall(text)), key=len, reverse=True):
        new = f"{name}-{identifier}"
        text = text.replace(f'id="{identifier}"', f'id="{new}"')
        text = text.replace(f"url(#{identifier})", f"url(#{new})").replace(f'href="#{identifier}"', f'href="#{new}"')
    text = text.replace("<svg ", f'<svg role="img" aria-label="{name}" class="chart" ', 1)
    return Markup(text)


def _figure(width: float, height: float, **subplots: Any) -> tuple[Figure, Any]:
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(width, height), layout="constrained")
        axes = figure.subplots(**subplots)
    return figure, axes


def arm_colours(names: Sequence[str]) -> dict[str, str]:
    """Each arm's colour, the same in every chart: :data:`PALETTE` in the arms' order."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}


def display_names(models: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Each arm's name for people: its ``display_name``, else the arm's name."""
    return {name: str(model.get("display_name") or name) for name, model in models.items()}


def _interval(model: Mapping[str, Any], metric: str) -> tuple[float, float] | None:
    """A confidence interval for ``metric`` if the evaluation gave one (``<metric>_ci`` or ``ci[metric]``)."""
    for source in (model.get(f"{metric}_ci"), (model.get("ci") or model.get("confidence_intervals") or {}).get(metric)):
        if isinstance(source, Mapping):
            source = (source.get("low", source.get("lower")), source.get("high", source.get("upper")))
        if isinstance(source, Sequence) and len(source) == 2 and all(isinstance(v, int | float) for v in source):
            return float(source[0]), float(source[1])
    return None


def quality_chart(models: Mapping[str, Mapping[str, Any]]) -> Markup:
    """Grouped bars of accuracy, macro-F1 and weighted F1 per model, with confidence intervals when given."""
    metrics = [(k, t) for k, t in QUALITY_METRICS if any(m.get(k) is not None for m in models.values())]
    colours, names = arm_colours(list(models)), display_names(models)
    figure, ax = _figure(max(7.5, 1.2 * len(models) * len(metrics)), 2.8)
    width = 0.8 / max(1, len(models))
    for i, (name, model) in enumerate(models.items()):
        xs = np.arange(len(metrics)) + (i - (len(models) - 1) / 2) * width
        values = [model.get(k) or 0.0 for k, _ in metrics]
        intervals = [_interval(model, k) for k, _ in metrics]
        errors = np.array(
            [[v - ci[0], ci[1] - v] if ci else [0.0, 0.0] for v, ci in zip(values, intervals, strict=True)]
        ).T
        bars = ax.bar(xs, values, width * 0.95, color=colours[name], label=names[name])
        if any(intervals):
            ax.errorbar(xs, values, yerr=errors, fmt="none", ecolor="#333", capsize=3, linewidth=1)
        ax.bar_label(bars, labels=[f"{v:.3f}" for v in values], padding=2, fontsize=8)
    ax.set_xticks(np.arange(len(metrics)), [t for _, t in metrics])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score on the held-out set")
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=min(len(models), 5), frameon=False)
    return svg(figure, "quality")


def cost_chart(models: Mapping[str, Mapping[str, Any]]) -> Markup | None:
    """One small bar chart per cost figure (train time, CPU, memory, size, latency …) present for a model."""
    panels = [(k, t, u) for k, t, u in COST_METRICS if any(m.get(k) is not None for m in models.values())]
    if not panels:
        return None
    columns = min(4, len(panels))
    rows = -(-len(panels) // columns)
    width = max(2.1, 0.7 * len(models))
    figure, axes = _figure(width * columns, 2.0 * rows, nrows=rows, ncols=columns, squeeze=False)
    names, colours, shown = list(models), arm_colours(list(models)), display_names(models)
    for ax, (key, title, unit) in itertools.zip_longest(axes.flat, panels, fillvalue=(None, None, None)):
        if key is None:
            ax.set_visible(False)
            continue
        values = [models[n].get(key) for n in names]
        bars = ax.bar([shown[n] for n in names], [v or 0.0 for v in values], color=[colours[n] for n in names])
        ax.bar_label(bars, labels=["n/a" if v is None else _short(v) for v in values], padding=2, fontsize=8)
        _spread_bars(ax, bars, values, [models[n].get(f"{key}_range") for n in names])
        ax.set_title(f"{title} ({unit})", fontsize=9)
        ax.margins(y=0.2)
        ax.tick_params(axis="x", labelsize=8)
    return svg(figure, "cost")


def _spread_bars(ax: Any, bars: Any, values: list[Any], spreads: list[Any]) -> None:
    """Whiskers from min to max over the measurement's rounds, where a figure has them (``<key>_range``)."""
    shown = [(b, v, r) for b, v, r in zip(bars, values, spreads, strict=True) if v is not None and r]
    if shown:
        x = [b.get_x() + b.get_width() / 2 for b, _, _ in shown]
        low, high = [v - r[0] for _, v, r in shown], [r[1] - v for _, v, r in shown]
        ax.errorbar(x, [v for _, v, _ in shown], yerr=[low, high], fmt="none", ecolor="#333", capsize=3, lw=1)


def _short(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"


def steps_chart(steps: Mapping[str, Mapping[str, Any]]) -> Markup:
    """Three panels sharing the steps axis: a timeline, CPU time against wall time, and peak memory.

    The timeline uses each step's start and end times when recorded (steps may overlap on a cluster),
    else lays the steps end to end.
    """
    names = list(steps)
    starts = [s.get("started_at") for s in steps.values()]
    if all(isinstance(v, int | float) and v > 0 for v in starts):
        origin = min(starts)
        offsets = [v - origin for v in starts]
        title = "timeline (s since the first step started)"
    else:
        offsets = list(itertools.accumulate([0.0, *(s["wall_seconds"] for s in steps.values())]))[:-1]
        title = "timeline (steps end to end, s)"
    figure, (timeline, cpu, memory) = _figure(10, 0.42 * len(names) + 1.3, ncols=3, sharey=True)
    y = np.arange(len(names))
    walls = [s["wall_seconds"] for s in steps.values()]
    timeline.barh(y, walls, left=offsets, color="#4c72b0", height=0.6)
    for yi, (left, wall) in enumerate(zip(offsets, walls, strict=True)):
        timeline.annotate(f" {wall:.1f}s", (left + wall, yi), va="center", fontsize=8)
    timeline.set_yticks(y, names)
    timeline.invert_yaxis()
    timeline.set_title(title, fontsize=9)
    timeline.margins(x=0.15)

    cpus = [s["cpu_seconds"] for s in steps.values()]
    cpu.barh(y - 0.18, walls, height=0.36, color="#4c72b0", label="wall")
    cpu.barh(y + 0.18, cpus, height=0.36, color="#dd8452", label="CPU (user+system)")
    for yi, s in enumerate(steps.values()):
        if s.get("mean_cpu_percent") is not None:
            cpu.annotate(
                f" {s['mean_cpu_percent']:.0f}% CPU",
                (max(s["wall_seconds"], s["cpu_seconds"]), yi),
                va="center",
                fontsize=8,
            )
    cpu.set_title("wall vs CPU time (s)", fontsize=9)
    cpu.legend(frameon=False, fontsize=8, loc="lower right")
    cpu.margins(x=0.3)

    peaks = [s["peak_memory_mb"] for s in steps.values()]
    memory.barh(y, peaks, color="#55a868", height=0.6)
    for yi, peak in enumerate(peaks):
        memory.annotate(f" {peak:,.0f}", (peak, yi), va="center", fontsize=8)
    memory.set_title("peak memory of the process tree (MB)", fontsize=9)
    memory.margins(x=0.2)
    return svg(figure, "steps")


def confusion_chart(name: str, labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str = "") -> Markup:
    """A confusion matrix as a heat map: colour = share of the true class (row), text = count; ``title``: the arm's
    display name (``name`` when empty)."""
    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = max(3.2, 0.5 * len(labels) + 1.6)
    figure, ax = _figure(size + 0.6, size)
    # pcolormesh, not imshow: imshow becomes an embedded PNG in SVG output, cells here stay vector squares.
    mesh = ax.pcolormesh(shares, cmap="Blues", vmin=0, vmax=1, edgecolors="white", linewidth=0.5)
    ax.set_aspect("equal")
    ax.invert_yaxis()
    for (row, column), count in np.ndenumerate(counts):
        ax.text(
            column + 0.5,
            row + 0.5,
            f"{count:.0f}",
            ha="center",
            va="center",
            fontsize=7 if len(labels) > 10 else 8,
            color="white" if shares[row, column] > 0.6 else "#222",
        )
    ax.set_xticks(np.arange(len(labels)) + 0.5, labels, rotation=45, ha="right")
    ax.set_yticks(np.arange(len(labels)) + 0.5, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.spines[["top", "right"]].set_visible(True)
    ax.set_title(title or name, fontsize=10)
    colorbar = figure.colorbar(mesh, ax=ax, shrink=0.8, label="share of the true class")
    colorbar.solids.set_rasterized(False)  # matplotlib rasterises (PNG) colour bars of 50+ steps by default
    colorbar.solids.set_edgecolor("face")  # no hairline seams between the bar's cells in browsers
    return svg(figure, f"confusion-{name}")


def per_class_rows(evaluation: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Per-class precision/recall/F1 of every model as table rows, when the evaluation has ``per_class``.

    Accepts ``{label: {precision, recall, f1 | f1-score, support}}`` or a list of row dicts with ``label``.
    """
    rows = []
    for name, model in evaluation.get("models", {}).items():
        per_class = model.get("per_class")
        if isinstance(per_class, Sequence) and not isinstance(per_class, str):
            per_class = {str(r.get("label")): r for r in per_class if isinstance(r, Mapping)}
        if not isinstance(per_class, Mapping):
            continue
        for label, scores in per_class.items():
            if isinstance(scores, Mapping):
                f1 = scores.get("f1", scores.get("f1-score", scores.get("f1_score")))
                rows.append(
                    {
                        "model": name,
                        "label": label,
                        "precision": scores.get("precision"),
                        "recall": scores.get("recall"),
                        "f1": f1,
                        "support": scores.get("support"),
                    }
                )
    return rows


def per_class_chart(
    rows: Sequence[Mapping[str, Any]],
    colours: Mapping[str, str] | None = None,
    names: Mapping[str, str] | None = None,
) -> Markup | None:
    """Grouped bars of per-class F1, one bar per model (``colours`` and display ``names`` by model, when given)."""
    rows = [r for r in rows if isinstance(r.get("f1"), int | float)]
    if not rows:
        return None
    labels = list(dict.fromkeys(r["label"] for r in rows))
    names_in_rows = list(dict.fromkeys(r["model"] for r in rows))
    colours = {**arm_colours(names_in_rows), **(colours or {})}
    shown, names = dict(names or {}), names_in_rows
    figure, ax = _figure(max(6.0, 0.9 * len(labels)), 2.6)
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        scores = {r["label"]: r["f1"] for r in rows if r["model"] == name}
        xs = np.arange(len(labels)) + (i - (len(names) - 1) / 2) * width
        ax.bar(
            xs,
            [scores.get(label, 0.0) for label in labels],
            width * 0.95,
            color=colours[name],
            label=shown.get(name, name),
        )
    ax.set_xticks(np.arange(len(labels)), labels, rotation=30 if len(labels) > 8 else 0)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1 per class")
    ax.legend(frameon=False, ncols=min(len(names), 5), loc="lower right", bbox_to_anchor=(1.0, 1.0))
    return svg(figure, "per-class")


def data_splits(data: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The split entries of the data statistics (dicts with ``rows_in`` or ``label_counts``)."""
    return {
        name: value
        for name, value in data.items()
        if isinstance(value, Mapping) and ("rows_in" in value or "label_counts" in value)
    }


def class_chart(splits: Mapping[str, Mapping[str, Any]]) -> Markup | None:
    """Rows per label in each split, as shares so splits of different sizes compare, with counts on top."""
    counted = {n: s["label_counts"] for n, s in splits.items() if isinstance(s.get("label_counts"), Mapping)}
    if not counted:
        return None
    labels = sorted({label for counts in counted.values() for label in counts})
    figure, ax = _figure(max(6.0, 0.8 * len(labels)), 2.6)
    width = 0.8 / len(counted)
    palette = ["#4c72b0", "#dd8452", "#55a868", "#c44e52"]
    for i, (name, counts) in enumerate(counted.items()):
        total = sum(counts.values()) or 1
        xs = np.arange(len(labels)) + (i - (len(counted) - 1) / 2) * width
        values = [counts.get(label, 0) for label in labels]
        bars = ax.bar(
            xs, [v / total for v in values], width * 0.95, color=palette[i % len(palette)], label=f"{name} ({total:,})"
        )
        ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=1, fontsize=7)
    ax.set_xticks(np.arange(len(labels)), labels, rotation=30 if len(labels) > 8 else 0)
    ax.set_ylabel("share of the split's rows")
    ax.margins(y=0.15)
    ax.legend(frameon=False, ncols=len(counted), loc="lower right", bbox_to_anchor=(1.0, 1.0))
    return svg(figure, "classes")


def leaderboard_chart(rows: Sequence[Mapping[str, Any]]) -> Markup | None:
    """Horizontal bars of each AutoML candidate's hold-out accuracy (and macro-F1 when given).

    The leaderboard's ``accuracy`` and ``macro_f1`` are scored on PyCaret's hold-out split of the training rows,
    not cross-validated (that is ``cv_accuracy``) and not on the pipeline's test set.
    """
    scored = [r for r in rows if isinstance(r.get("accuracy"), int | float)]
    if not scored:
        return None
    scored = sorted(scored, key=lambda r: r["accuracy"])
    names = [str(r.get("model") or r.get("model_id")) for r in scored]
    figure, ax = _figure(7.5, 0.35 * len(scored) + 1.0)
    y = np.arange(len(scored))
    has_f1 = any(isinstance(r.get("macro_f1"), int | float) for r in scored)
    height = 0.38 if has_f1 else 0.6
    bars = ax.barh(y + (height / 2 if has_f1 else 0), [r["accuracy"] for r in scored], height, color="#ff7f0e")
    ax.bar_label(bars, labels=[f"{r['accuracy']:.3f}" for r in scored], padding=2, fontsize=8)
    if has_f1:
        f1 = [r.get("macro_f1") or 0.0 for r in scored]
        bars = ax.barh(y - height / 2, f1, height, color="#ffbb78")
        ax.bar_label(bars, labels=[f"{v:.3f}" for v in f1], padding=2, fontsize=8)
        ax.legend(["accuracy", "macro-F1"], frameon=False, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncols=2)
    ax.set_yticks(y, names)
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("hold-out score (PyCaret's hold-out split of the training rows)")
    return svg(figure, "leaderboard")


def verdict(summary: Mapping[str, Any]) -> str:
    """One sentence on who won (or which arms tied), by how much, then one on each arm's cost against the first."""
    models, metric, winner = summary["models"], summary["winner_metric"], summary["winner"]
    metric_name, names = METRIC_NAMES.get(metric, metric), display_names(models)
    if winner in models:
        others = [n for n in models if n != winner]
        scores = ", ".join(f"{models[n][metric]:.4f} for {names[n]}" for n in others)
        text = f"{names[winner][:1].upper() + names[winner][1:]} wins by {metric_name}"
        text += f" ({models[winner][metric]:.4f} vs {scores})" if others else ""
    else:  # "tie": the best arm's interval against some other arm contains 0
        tied = [n for n in summary.get("tied") or models if n in models] or list(models)
        between = (
            ", ".join(names[n] for n in tied[:-1]) + " and " + names[tied[-1]] if len(tied) > 1 else names[tied[0]]
        )
        scores = " vs ".join(f"{models[n][metric]:.4f} for {names[n]}" for n in tied)
        text = f"A tie by {metric_name} between {between} ({scores})" + _tie_intervals(summary, tied, metric)
    return text + "." + _cost_sentences(summary, names)


def _tie_intervals(summary: Mapping[str, Any], tied: Sequence[str], metric: str) -> str:
    """``: the interval(s) of the difference [a, b] … contain(s) 0``: the best arm against each tied arm."""
    comparisons = summary.get("comparisons") or ([summary["comparison"]] if summary.get("comparison") else [])
    found = [c[metric]["ci"] for c in comparisons if c.get(metric) and c.get("models", [None, None])[1] in tied]
    if not found:
        return ""
    listed = ", ".join(f"[{low:+.4f}, {high:+.4f}]" for low, high in found)
    return (
        f": the interval of the difference {listed} contains 0"
        if len(found) == 1
        else (f": the intervals of the differences {listed} contain 0")
    )


def _cost_sentences(summary: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """`` Training <arm> took <ratios> of training <first>.`` for each arm after the first, from the headline."""
    headline, arms = summary.get("headline", {}), list(summary["models"])
    whats = (("train_time", "training time"), ("train_cpu", "CPU time"), ("peak_memory", "peak memory"))
    text = ""
    for arm in arms[1:]:
        costs = [(f"{arm}_vs_{arms[0]}_{key}", what) for key, what in whats]
        parts = [f"{ratio(headline[k])} the {what}" for k, what in costs if k in headline]
        if parts:
            listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
            text += f" Training {names[arm]} took {listed} of training {names[arms[0]]}."
    return text


def headline_cards(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """The overview's cards of each arm against the first (train time, peak memory, score deltas)."""
    headline, arms, names = summary.get("headline", {}), list(summary["models"]), display_names(summary["models"])
    cards = []
    for arm in arms[1:]:
        prefix, versus = f"{arm}_vs_{arms[0]}", f"{names[arm]} / {names[arms[0]]}"
        if f"{prefix}_train_time" in headline:
            cpu = headline.get(f"{prefix}_train_cpu")
            cards.append(
                {
                    "label": f"{versus} train time",
                    "value": ratio(headline[f"{prefix}_train_time"]),
                    "note": f"CPU time {ratio(cpu)}" if cpu is not None else "",
                }
            )
        if f"{prefix}_peak_memory" in headline:
            cards.append(
                {
                    "label": f"{versus} peak memory",
                    "value": ratio(headline[f"{prefix}_peak_memory"]),
                    "note": "while training",
                }
            )
        if f"{prefix}_accuracy_delta" in headline:
            cards.append(
                {
                    "label": f"{names[arm]} − {names[arms[0]]}",
                    "value": f"{headline[f'{prefix}_accuracy_delta']:+.4f}",
                    "note": f"accuracy · macro-F1 {headline[f'{prefix}_macro_f1_delta']:+.4f}",
                }
            )
    return cards


def ratio(value: float) -> str:
    """A ratio with three significant digits: ``135×``, ``1.78×``."""
    return f"{value:,.0f}×" if abs(value) >= 100 else f"{value:.3g}×"


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested dicts as (dotted key, scalar or list) pairs, for generic tables of unknown statistics."""
    if isinstance(value, Mapping):
        pairs: list[tuple[str, Any]] = []
        for key, inner in value.items():
            pairs += _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return pairs
    return [(prefix, value)]


def _format(value: Any, spec: str = "") -> str:
    """A table cell: ``–`` for missing, thousands separators, ``spec`` (e.g. ``.2f``) for numbers when given."""
    if spec and isinstance(value, int | float) and not isinstance(value, bool):
        return format(value, spec)
    if value == "":
        return "–"
    if isinstance(value, bool) or value is None:
        return "–" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e4 else f"{value:,.0f}"  # no 2.001e+04 in a table
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(_format(v) for v in value) if len(value) <= 20 else f"{len(value)} items"
    return str(value)


def _parameter(value: Any) -> str:
    """A parameter as given: lists comma-separated, no thousands separators, ``(empty)`` for an empty string."""
    if value == "":
        return "(empty)"
    if isinstance(value, bool) or value is None:
        return str(value).lower() if value is not None else "none"
    if isinstance(value, list | tuple):
        return ", ".join(_parameter(v) for v in value) if value else "(none)"
    return str(value)


TEMPLATE = "report.html.j2"


def load_template() -> jinja2.Template:
    """The HTML report's template, from this package's data (autoescaped, strict about missing values).

    Raises:
        jinja2.TemplateNotFound: The package was installed without its template (``package_data`` in setup.py).
    """
    return _environment().get_template(TEMPLATE)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("components.reporting", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    summary: Mapping[str, Any],
    evaluation: Mapping[str, Any],
    leaderboard: Sequence[Mapping[str, Any]] | None = None,
    generated_at: datetime | None = None,
) -> str:
    """Renders the run's HTML report.

    Args:
        summary: The run summary (:func:`components.steps.profile.build_summary`).
        evaluation: The evaluate step's results (confusion matrices, optional per-class scores and latency).
        leaderboard: The AutoML leaderboard rows (model_id, model, accuracy, macro_f1, fit_seconds, status);
            None when the run has none. Rows without scores (the ``setup`` row, skipped candidates) are in the
            table, not in the chart.
        generated_at: Time stamp printed on the page (default: now, UTC).

    Returns:
        One self-contained HTML document.
    """
    models = _merged_models(summary, evaluation)
    charts_and_tables = {  # in the order the page shows them
        **_model_context(models, evaluation),
        "steps_svg": steps_chart(summary["steps"]),
        "has_cgroup": any(st.get("peak_memory_cgroup_mb") is not None for st in summary["steps"].values()),
        **_data_context(summary.get("data", {})),
        **_leaderboard_context(leaderboard),
    }
    return load_template().render(
        s=summary,
        sections=SECTIONS,
        model_names=display_names(models),
        colours=arm_colours(list(models)),
        cards=headline_cards(summary),
        leaderboard_training=(models.get(summary.get("leaderboard_arm") or "", {}).get("training") or {}),
        verdict=verdict(summary),
        parameters=summary.get("parameters", {}),
        environments=summary.get("environments", []),
        profiling=summary.get("profiling", {}),
        fmt=_format,
        param=_parameter,
        ratio=ratio,
        metric_names=METRIC_NAMES,
        generated_at=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        started_at=_started(summary["steps"]),
        training_rows=training_rows(summary["models"]),
        **charts_and_tables,
    )


def _merged_models(summary: Mapping[str, Any], evaluation: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each model's evaluation figures overlaid with its summary figures (``model_mb`` from ``model_size_mb``)."""
    eval_models = evaluation.get("models", {})
    models = {name: {**eval_models.get(name, {}), **model} for name, model in summary["models"].items()}
    for model in models.values():
        if model.get("model_mb") is None and model.get("model_size_mb") is not None:
            model["model_mb"] = model["model_size_mb"]
    return models


def _model_context(models: Mapping[str, Mapping[str, Any]], evaluation: Mapping[str, Any]) -> dict[str, Any]:
    """The template's model sections: quality and cost charts, per-class scores, confusion matrices, each arm's
    words of largest weight per class (or why it has none)."""
    classes = per_class_rows(evaluation)
    colours, names = arm_colours(list(models)), display_names(models)
    optional = (
        ("peak_memory_cgroup_mb", "train container peak MB"),
        ("model_mb", "model MB"),
        ("latency_p50_ms", "latency p50 ms"),
        ("latency_p95_ms", "latency p95 ms"),
        ("throughput_per_second", "texts/s"),
    )
    return {
        "models": models,
        "quality_svg": quality_chart(models),
        "has_intervals": any(_interval(m, k) for m in models.values() for k, _ in QUALITY_METRICS),
        "has_latency": any(m.get("latency_p50_ms") is not None for m in models.values()),
        "cost_svg": cost_chart(models),
        "per_class": classes,
        "per_class_svg": per_class_chart(classes, colours, names),
        "slices": slice_tables(models),
        "confusion": [
            confusion_chart(name, m["labels"], m["confusion_matrix"], names.get(name, name))
            for name, m in evaluation.get("models", {}).items()
            if m.get("labels") and m.get("confusion_matrix")
        ],
        "optional_columns": [
            (key, title) for key, title in optional if any(m.get(key) is not None for m in models.values())
        ],
        "top_words": {name: m["top_words"] for name, m in models.items() if m.get("top_words")},
    }


def _data_context(data: Mapping[str, Any]) -> dict[str, Any]:
    """The template's data section: the splits, the cleaning rules, other statistics and the class chart."""
    splits = data_splits(data)
    return {
        "splits": splits,
        "rules": list(dict.fromkeys(rule for s in splits.values() for rule in (s.get("dropped") or {}))),
        "split_extras": {
            name: _flatten({k: v for k, v in split.items() if k not in STANDARD_SPLIT_KEYS})
            for name, split in splits.items()
        },
        "other_data": _flatten({k: v for k, v in data.items() if k not in splits}),
        "class_svg": class_chart(splits),
    }


def _leaderboard_context(leaderboard: Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """The template's leaderboard section: rows, columns (numeric ones right-aligned) and the chart."""
    board = list(leaderboard or [])
    columns = list(dict.fromkeys(key for row in board for key in row))
    return {
        "leaderboard": board,
        "leaderboard_columns": columns,
        # Numeric when any row has a number there: the first row may have none (the setup row has no scores).
        "leaderboard_numeric": [c for c in columns if any(isinstance(row.get(c), Number) for row in board)],
        "leaderboard_svg": leaderboard_chart(board),
    }


def _started(steps: Mapping[str, Mapping[str, Any]]) -> str | None:
    starts = [s.get("started_at") for s in steps.values() if isinstance(s.get("started_at"), int | float)]
    return datetime.fromtimestamp(min(starts), UTC).strftime("%Y-%m-%d %H:%M UTC") if starts else None
