"""Scores of a model on parts of the test rows: per source file and per text-length band.

A task can mix files of different kinds (emotion14: clean 6-label sentences and noisy 13-label tweets); one
overall figure hides how a model does on each. ``evaluate`` reports, for every model, accuracy and macro-F1 on the
test rows of each source file (when they come from more than one; the cleaned rows carry ``source`` from ingest)
and on each length band (words per text), with each slice's row and label counts. Macro-F1 of a slice averages
over the labels of that slice's rows (a prediction of a label the slice does not have still costs the recall of
the true one), so the 6-label part of a 14-label task is not scored on the 8 labels it never has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from sklearn.metrics import accuracy_score, f1_score

from components.reporting.markdown import cell

#: Length bands in words: (lowest, highest or None for no upper bound).
LENGTH_BANDS: tuple[tuple[int, int | None], ...] = ((0, 10), (11, 20), (21, 40), (41, None))
KINDS = {"source": "source file", "length": "text length"}


def length_band(text: str) -> str:
    """The band of a text's word count, e.g. ``11–20 words``."""
    words = len(str(text).split())
    for low, high in LENGTH_BANDS:
        if high is None or words <= high:
            return f"{low}+ words" if high is None else f"{low}–{high} words"
    raise AssertionError("the last band has no upper bound")  # pragma: no cover


def _source_names(sources: Sequence[str]) -> list[str]:
    """File names without their folders, unless two sources share a name."""
    names = {source: PurePosixPath(str(source).rstrip("/")).name or str(source) for source in set(sources)}
    unique = len(set(names.values())) == len(names)
    return [names[source] if unique else str(source) for source in sources]


def slice_groups(texts: Sequence[str], sources: Sequence[str] | None = None) -> dict[str, list[str]]:
    """Each row's slice by kind: ``length`` always, ``source`` when the rows come from more than one file."""
    groups = {"length": [length_band(text) for text in texts]}
    if sources is not None and len(set(sources)) > 1:
        if len(sources) != len(texts):
            raise ValueError(f"sources ({len(sources)}) and texts ({len(texts)}) differ in length")
        groups = {"source": _source_names([str(s) for s in sources]), **groups}
    return groups


def slice_scores(
    truth: Sequence[str], predicted: Sequence[str], groups: Mapping[str, Sequence[str]]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Accuracy and macro-F1 of each slice: kind → slice → ``rows``, ``labels``, ``accuracy``, ``macro_f1``.

    Slices are in order of first appearance, except length bands, which are in band order.
    """
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, keys in groups.items():
        order = list(dict.fromkeys(keys))
        if kind == "length":
            order.sort(key=lambda band: int(band.split("–")[0].split("+")[0]))
        out[kind] = {}
        for key in order:
            rows = [i for i, k in enumerate(keys) if k == key]
            part, guessed = [truth[i] for i in rows], [predicted[i] for i in rows]
            own = sorted(set(part))
            out[kind][key] = {
                "rows": len(rows),
                "labels": len(own),
                "accuracy": round(float(accuracy_score(part, guessed)), 4),
                "macro_f1": round(float(f1_score(part, guessed, labels=own, average="macro", zero_division=0)), 4),
            }
    return out


def slice_tables(models: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One table per kind of slice, for the Markdown and HTML reports alike.

    Returns:
        A list of ``{"title", "models", "rows"}``: ``models`` are the names of the models that have slices, each
        row is ``{"slice", "rows", "labels", "scores"}`` with ``scores`` a list of ``(accuracy, macro_f1)`` per
        model in that order, ``None`` where a model lacks the slice.
    """
    names = [name for name, result in models.items() if result.get("slices")]
    tables = []
    for kind, title in KINDS.items():
        keys = list(dict.fromkeys(key for name in names for key in models[name]["slices"].get(kind, {})))
        if not keys:
            continue
        rows = []
        for key in keys:
            found = [models[name]["slices"].get(kind, {}).get(key) for name in names]
            first = next(s for s in found if s)
            scores = [(s["accuracy"], s["macro_f1"]) if s else None for s in found]
            rows.append({"slice": key, "rows": first["rows"], "labels": first["labels"], "scores": scores})
        tables.append({"title": title, "models": names, "rows": rows})
    return tables


def render_slices(models: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Markdown lines: one table per kind of slice, a row per slice, accuracy and macro-F1 of every model."""
    tables = slice_tables(models)
    if not tables:
        return []
    lines = ["## Slices", ""]
    for table in tables:
        title, names = table["title"], table["models"]
        header = " | ".join(f"{name} accuracy | {name} macro-F1" for name in names)
        lines += [f"By {title} (test rows)", "", f"| {title} | rows | labels | {header} |"]
        lines.append("|---|---:|---:|" + "---:|---:|" * len(names))
        for row in table["rows"]:
            cells = [c for pair in row["scores"] for c in ([f"{v:.4f}" for v in pair] if pair else ["–", "–"])]
            lines.append(f"| {cell(row['slice'])} | {row['rows']} | {row['labels']} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines
