"""The monitoring report: Markdown (``monitor.md``) and one self-contained HTML page (``monitor.html``) with inline
SVG charts (reference against batch: predicted labels, confidence, text length), from ``monitor.json``'s content.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from markupsafe import Markup, escape

from components.reporting.html import _figure, svg
from components.reporting.markdown import table

CHECK_HEADER = ["check", "value", "threshold", "verdict", "reason"]


def check_rows(result: Mapping[str, Any]) -> list[list[Any]]:
    """One row per check: name, value, threshold, verdict, reason."""
    return [[c["name"], c["value"], c["threshold"], c["verdict"], c["reason"]] for c in result["checks"]]


def distribution_pairs(result: Mapping[str, Any]) -> dict[str, tuple[list[str], list[float], list[float]]]:
    """The charts' data: title → (bin names, reference counts, batch counts)."""
    found = {c["name"]: c for c in result["checks"]}
    out: dict[str, tuple[list[str], list[float], list[float]]] = {}
    if "prediction_psi" in found:
        c = found["prediction_psi"]
        names = sorted(set(c["reference_counts"]) | set(c["batch_counts"]))
        out["predicted labels"] = (
            names,
            [c["reference_counts"].get(n, 0) for n in names],
            [c["batch_counts"].get(n, 0) for n in names],
        )
    if "confidence_psi" in found:
        c = found["confidence_psi"]
        out["confidence (largest score)"] = ([f"{i / 10:.1f}" for i in range(10)], c["reference_bins"], c["batch_bins"])
    if "length_psi" in found:
        c = found["length_psi"]
        edges = c["edges"]
        names = ["all"]
        if edges:
            names = [f"≤{edges[0]:g}", *(f"{a:g}–{b:g}" for a, b in itertools.pairwise(edges)), f">{edges[-1]:g}"]
        out["text length (words)"] = (names, c["reference_bins"], c["batch_bins"])
    return out


def _title(result: Mapping[str, Any]) -> str:
    model = result.get("model", {})
    return f"Monitoring {model.get('name', '')} version {model.get('version', '')}"


def render_monitor_markdown(result: Mapping[str, Any]) -> str:
    """``monitor.md``: verdict, reason, the checks' table and the retraining decision when there is one."""
    lines = [
        f"# {_title(result)}",
        "",
        f"- verdict: **{'DRIFT' if result['drift'] else 'no drift'}** — {result['reason']}",
        f"- batch: {result['input']} ({result['rows']} rows, {result['labelled']} labelled)",
        f"- registry: {result.get('model', {}).get('registry', '')} ({result.get('model', {}).get('requested', '')})",
    ]
    if result.get("decision"):
        lines.append(f"- decision: **{result['decision']['action']}** — {result['decision']['reason']}")
    return "\n".join([*lines, "", "## Checks", "", *table(CHECK_HEADER, check_rows(result))])


def comparison_chart(title: str, names: Sequence[str], reference: Sequence[float], batch: Sequence[float]) -> Markup:
    """Side-by-side bars of the reference's and the batch's shares per bin."""
    ref = np.asarray(reference, dtype=float)
    new = np.asarray(batch, dtype=float)
    ref, new = ref / max(ref.sum(), 1), new / max(new.sum(), 1)
    figure, ax = _figure(max(4.0, 0.6 * len(names) + 1.5), 2.4)
    xs = np.arange(len(names))
    ax.bar(xs - 0.2, ref, 0.4, color="#1f77b4", label="reference")
    ax.bar(xs + 0.2, new, 0.4, color="#ff7f0e", label="batch")
    ax.set_xticks(xs, list(names), rotation=30 if len(names) > 6 else 0)
    ax.set_ylabel("share")
    ax.set_title(title)
    ax.legend(frameon=False)
    return svg(figure, "monitor-" + "".join(ch if ch.isalnum() else "-" for ch in title))


def render_monitor_html(result: Mapping[str, Any]) -> str:
    """``monitor.html``: the same content as the Markdown, with a chart per compared distribution."""
    rows = "".join("<tr>" + "".join(f"<td>{escape(cell)}</td>" for cell in row) + "</tr>" for row in check_rows(result))
    charts = "".join(str(comparison_chart(title, *data)) for title, data in distribution_pairs(result).items())
    decision = result.get("decision")
    colour = "#b00020" if result["drift"] else "#1b5e20"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(_title(result))}</title><style>body{{font-family:sans-serif;margin:2em;max-width:70em}}"
        "td,th{border:1px solid #ccc;padding:4px;vertical-align:top}table{border-collapse:collapse}"
        ".chart{max-width:100%;height:auto;margin:0.5em}</style></head><body>"
        f"<h1>{escape(_title(result))}</h1>"
        f"<p style='color:{colour}'><b>{'DRIFT' if result['drift'] else 'no drift'}</b>: {escape(result['reason'])}</p>"
        f"<p>batch {escape(result['input'])}: {result['rows']} rows, {result['labelled']} labelled</p>"
        + (f"<p>decision: <b>{escape(decision['action'])}</b>: {escape(decision['reason'])}</p>" if decision else "")
        + "<h2>Checks</h2><table><tr>"
        + "".join(f"<th>{h}</th>" for h in CHECK_HEADER)
        + f"</tr>{rows}</table><h2>Reference against batch</h2>{charts}</body></html>\n"
    )
