"""The shadow report (:mod:`components.steps.shadow_report`) as Markdown: what ``emotion-pipeline shadow-report``
prints and writes to a ``.md`` output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components.reporting.markdown import cell, code, table

SIDES = ("champion", "challenger")


def _count(number: int, thing: str) -> str:
    """``1 malformed line``, ``2 malformed lines``."""
    return f"{number} {thing}{'' if number == 1 else 's'}"


def _versions(report: Mapping[str, Any]) -> list[str]:
    rows = []
    for side in SIDES:
        found = report["versions"][side]
        shares = ", ".join(f"{label} {share:.1%}" for label, share in found["label_shares"].items()) or "—"
        version = found["version"] if found["version"] is not None else "—"
        rows.append([side, version, found["answered"], found["labels"], found["errors"], shares])
    return ["## Versions", "", *table(["side", "version", "answered", "labels", "errors", "label shares"], rows)]


def _agreement(report: Mapping[str, Any]) -> list[str]:
    agreement = report["agreement"]
    if agreement["rate"] is None:
        return ["## Agreement", "", f"- {cell(agreement.get('note') or 'no instance answered by both versions')}", ""]
    lines = [
        "## Agreement",
        "",
        f"- agreement: **{agreement['rate']:.1%}** ({agreement['agree']} of {agreement['paired']} instances both "
        "versions labelled)",
        "",
        "Disagreement matrix (rows: champion label, columns: challenger label; agreements on the diagonal):",
        "",
    ]
    matrix = agreement["matrix"]
    rows = [[label, *counts] for label, counts in zip(matrix["labels"], matrix["rows"], strict=True)]
    return lines + table(["champion \\ challenger", *matrix["labels"]], rows)


def _drift(report: Mapping[str, Any]) -> list[str]:
    lines = ["## Prediction drift against each version's reference profile", ""]
    rows = []
    for side in SIDES:
        found = report["drift"][side]
        if not found["available"]:
            lines.append(f"- {side}: not computed: {cell(found['reason'])}")
            continue
        for check in found["checks"]:
            rows.append([side, check["name"], check["value"], check["threshold"], check["verdict"], check["reason"]])
    if len(lines) > 2:  # the sides not computed, listed
        lines.append("")
    if rows:
        lines += table(["side", "check", "value", "threshold", "verdict", "reason"], rows)
    return lines


def _errors(report: Mapping[str, Any]) -> list[str]:
    found = report["versions"]["challenger"]
    if not found["errors"]:
        return []
    rows = [[item["count"], item["error"]] for item in found["error_examples"]]
    return ["## Challenger errors", "", f"- {found['errors']} instances failed", "", *table(["count", "error"], rows)]


def _labelled(report: Mapping[str, Any]) -> list[str]:
    labelled = report.get("labelled")
    if not labelled:
        return []
    counts = labelled["label_rows"]
    lines = [
        "## With labels",
        "",
        f"- labels: {code(labelled['labels'])}: {counts['labelled']} distinct labelled texts ({counts['rows']} rows); "
        f"{labelled['matched_instances']} instances of the log matched",
    ]
    if labelled.get("paired"):
        lines.append(f"- compared: {labelled['instances']} labelled instances both versions answered")
        rows = [
            [
                d["metric"],
                d["champion"],
                d["challenger"],
                f"{d['difference']:+.4f}",
                f"[{d['interval'][0]:.4f}, {d['interval'][1]:.4f}]",
            ]
            for d in (labelled.get("differences") or {}).values()
        ]
        header = ["metric", "champion", "challenger", "difference", "interval (paired bootstrap)"]
        return [*lines, "", *(table(header, rows) if rows else [])]
    rows = []
    for side in SIDES:
        found = labelled[side]
        if found["instances"]:
            low, high = found["accuracy_interval"]
            rows.append([side, found["instances"], found["accuracy"], f"[{low:.4f}, {high:.4f}]", found["macro_f1"]])
    header = ["side", "own instances", "accuracy", "its interval (bootstrap)", "macro_f1"]
    return [*lines, f"- {cell(labelled['reason'])}", "", *table(header, rows)]


def render_shadow_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: summary, versions, agreement, drift, errors, labels, verdict and notes."""
    verdict = report["verdict"] or "none"
    lines = [
        f"# {report['mode'].capitalize()} report: {cell(report['model'])}",
        "",
        f"- log: {code(report['log'])}: {report['records']} records, {report['requests']} requests "
        f"({_count(report['malformed']['count'], 'malformed line')} skipped)",
        f"- verdict: **{verdict}** — {cell(report['reason'])}",
        *([f"- to promote (by hand): {code(report['next'])}"] if report.get("next") else []),
        "",
        *_versions(report),
        *_agreement(report),
        *_drift(report),
        *_errors(report),
        *_labelled(report),
    ]
    if report["notes"]:
        lines += ["## Notes", "", *(f"- {cell(note)}" for note in report["notes"]), ""]
    return "\n".join(lines).rstrip("\n") + "\n"
