"""Markdown building blocks shared by the steps' Markdown reports."""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import Any


def cell(text: Any) -> str:
    """A value as one Markdown table cell (or list item): HTML (``<``, ``>``, ``&``), ``|`` and the brackets of link
    and image syntax (``[x](javascript:…)``) escaped, line breaks as spaces, so that a text or label from the data
    shows as text and never becomes markup or a live link in the UIs."""
    escaped = html.escape(str(text), quote=False).replace("\\", "\\\\")
    for mark in "|[]":
        escaped = escaped.replace(mark, "\\" + mark)
    return escaped.replace("\r", " ").replace("\n", " ")


def code(text: Any) -> str:
    """A value as inline code; one holding ``<``, ``>`` or ``&`` as an escaped :func:`cell` instead (some
    renderers do not keep a code span verbatim), so a value from the data never becomes markup."""
    value = str(text).replace("`", "'").replace("\r", " ").replace("\n", " ")
    return cell(value) if any(c in value for c in "<>&") else f"`{value}`"


def table(header: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    """A Markdown table as lines, followed by an empty line; columns holding only numbers are right-aligned.

    Returns:
        The header line, the alignment line, one line a row and an empty line.
    """
    rows = [list(row) for row in rows]
    numeric = [all(isinstance(row[i], int | float) for row in rows) and bool(rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(cell(h) for h in header) + " |",
        "|" + "|".join("---:" if n else "---" for n in numeric) + "|",
    ]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]


def training_rows(models: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """How many training rows each model was fitted on and why, from its training metadata (``summary["models"]``).

    Returns:
        Model name → one sentence, for the models that say (the from-scratch search's row plan; AutoML's sample).
    """
    said: dict[str, str] = {}
    for name, model in models.items():
        training = model.get("training") or {}
        plan = training.get("rows")
        if isinstance(plan, Mapping) and plan.get("reason"):  # the from-scratch search's row plan
            said[name] = f"{plan['reason']}."
        elif isinstance(plan, int | float):  # AutoML's rows, with the note when they were sampled
            note = training.get("rows_note") or "all training rows"
            said[name] = f"{int(plan):,} rows: {note}."
    return said
