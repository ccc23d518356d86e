"""Clean: normalise texts and drop rows no model should see, counting what each rule removed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

_WHITESPACE = re.compile(r"\s+")


@dataclass
class CleaningReport:
    """Rows in and out of cleaning, per rule, and the class distribution after it.

    Attributes:
        rows_in: Rows before cleaning.
        rows_out: Rows after cleaning.
        dropped: Rows removed by each rule, in the order the rules ran.
        label_counts: Rows per label after cleaning.
    """

    rows_in: int
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "dropped": dict(self.dropped),
            "label_counts": dict(self.label_counts),
        }


def normalise_text(text: str, lowercase: bool = True) -> str:
    """Trims, collapses runs of white space to one space and, by default, lower-cases."""
    text = _WHITESPACE.sub(" ", text).strip()
    return text.lower() if lowercase else text


def clean_texts(
    frame: pd.DataFrame, lowercase: bool = True, drop_duplicates: bool = True
) -> tuple[pd.DataFrame, CleaningReport]:
    """Cleans a ``text,label`` frame.

    Args:
        frame: Rows with ``text`` and ``label`` columns (other columns are kept).
        lowercase: Lower-case texts.
        drop_duplicates: Drop rows whose normalised text and label repeat an earlier row.

    Returns:
        The cleaned frame (index reset) and a :class:`CleaningReport`.
    """
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise ValueError(f"clean_texts: missing columns {sorted(missing)}; got {list(frame.columns)}")
    report = CleaningReport(rows_in=len(frame))
    out = frame.copy()
    out["text"] = out["text"].fillna("").astype(str).map(lambda t: normalise_text(t, lowercase))
    out["label"] = out["label"].fillna("").astype(str).str.strip()

    empty = (out["text"] == "") | (out["label"] == "")
    report.dropped["empty"] = int(empty.sum())
    out = out[~empty]

    if drop_duplicates:
        duplicated = out.duplicated(subset=["text", "label"])
        report.dropped["exact_duplicates"] = int(duplicated.sum())
        out = out[~duplicated]

    out = out.reset_index(drop=True)
    report.rows_out = len(out)
    report.label_counts = {str(k): int(v) for k, v in out["label"].value_counts().sort_index().items()}
    return out, report


def render_data_report(stats: dict[str, dict[str, Any]]) -> str:
    """Renders cleaning statistics (``{"train": report_dict, "test": report_dict}``) as Markdown."""
    lines = ["# Data report", "", "| split | rows in | " + " | ".join(_rules(stats)) + " | rows out |"]
    lines.append("|---|---:|" + "---:|" * len(_rules(stats)) + "---:|")
    for split, report in stats.items():
        dropped = " | ".join(str(report["dropped"].get(rule, 0)) for rule in _rules(stats))
        lines.append(f"| {split} | {report['rows_in']} | {dropped} | {report['rows_out']} |")
    labels = sorted({label for report in stats.values() for label in report["label_counts"]})
    lines += ["", "## Rows per label after cleaning", "", "| label | " + " | ".join(stats) + " |"]
    lines.append("|---|" + "---:|" * len(stats))
    for label in labels:
        lines.append(f"| {label} | " + " | ".join(str(r["label_counts"].get(label, 0)) for r in stats.values()) + " |")
    return "\n".join(lines) + "\n"


def _rules(stats: dict[str, dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(rule for report in stats.values() for rule in report["dropped"]))
