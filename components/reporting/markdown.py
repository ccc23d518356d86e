"""Markdown building blocks shared by the steps' Markdown reports."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def cell(text: Any) -> str:
    """A value as one Markdown table cell (or list item): ``|`` escaped, line breaks as spaces."""
    return str(text).replace("|", "\\|").replace("\n", " ")


def table(header: list[str], rows: Iterable[Iterable[Any]]) -> list[str]:
    """A Markdown table as lines, followed by an empty line; columns holding only numbers are right-aligned.

    Returns:
        The header line, the alignment line, one line a row and an empty line.
    """
    rows = [list(row) for row in rows]
    numeric = [all(isinstance(row[i], int | float) for row in rows) and bool(rows) for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if n else "---" for n in numeric) + "|"]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return [*lines, ""]
