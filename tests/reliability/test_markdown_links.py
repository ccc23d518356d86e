"""Issue 27, defect 10: a text or label from the data never becomes a live link in a Markdown report."""

from __future__ import annotations

import markdown_it
import pytest

from components.reporting.markdown import cell, code, table

HOSTILE = [
    "[x](javascript:alert(1))",
    "![i](javascript:alert(1))",
    "a\\](javascript:alert(1))",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "[x](<javascript:alert(1)>)",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_live_link_from_data_in_a_cell_a_table_or_code(text: str) -> None:
    md = markdown_it.MarkdownIt("commonmark").enable("table")
    document = "\n".join([*table(["text", "label"], [[text, text]]), f"- {cell(text)}", f"- {code(text)}", ""])
    rendered = md.render(document)
    assert "<a " not in rendered and "<img" not in rendered, rendered
    assert "javascript:alert(1)" in rendered  # shown as text
