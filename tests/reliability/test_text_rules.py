"""Issue 27, defect 18: one implementation of every per-text rule (components/text/rules.py), used by ``clean`` and by
the served model's ``TextNormaliser``: at non-default settings too, serving sees the texts training saw."""

from __future__ import annotations

import pandas as pd
import pytest

from components.steps.clean import CleaningOptions, clean_texts
from components.text.rules import TextNormaliser

RAW = [
    "RT @ann: I &amp;quot;LOVE&amp;quot;  this http://x.co/a @bob",
    "caf\u00c3\u00a9   Time at www.Example.com and myspace.com",
    "a NUL\x00inside and a bell\x07 and DEL\x7f here",
    "tab\tand\u00a0nbsp  kept as spaces, CAPITALS kept",
    "&lt;b&gt;bold&lt;/b&gt; bit.ly/xyz @Someone_1 said",
]
SETTINGS = [
    {"lowercase": False, "url_token": "<URL>", "mention_token": "@USER", "unescape_html": False, "fix_mojibake": False},
    {"lowercase": False, "url_token": "", "mention_token": "", "unescape_html": True, "fix_mojibake": False},
    {"lowercase": True, "url_token": r"\1u", "mention_token": "xxat", "unescape_html": False, "fix_mojibake": True},
]


@pytest.mark.parametrize("settings", SETTINGS, ids=["tokens-no-case", "no-tokens", "backslash-token"])
def test_clean_and_the_served_normaliser_give_the_same_texts(settings: dict[str, object]) -> None:
    frame = pd.DataFrame({"text": RAW, "label": [f"l{i}" for i in range(len(RAW))]})
    cleaned, _ = clean_texts(frame, options=CleaningOptions(**settings, drop_duplicates=False))  # type: ignore[arg-type]
    served = TextNormaliser.from_dict(settings)
    assert cleaned["text"].tolist() == [served(text) for text in RAW]


def test_the_rule_counts_keep_their_names() -> None:
    frame = pd.DataFrame({"text": ["a\x00b http://x.co", "c @d"], "label": ["x", "y"]})
    _, report = clean_texts(frame, options=CleaningOptions())
    assert {
        "control_characters",
        "html_entities",
        "mojibake",
        "retweets",
        "urls",
        "mentions",
        "whitespace_case",
    } <= set(report.changed)
    assert report.changed["control_characters"] == 1 and report.changed["urls"] == 1
