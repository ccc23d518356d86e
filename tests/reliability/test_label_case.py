"""Issue 27, defect 17: labels differing only in case are one class by default (merged into the spelling most
training rows have, counted in the data stats); ``label_case=keep`` keeps them apart."""

from __future__ import annotations

import string

import pandas as pd
import pytest

from components.checks.errors import ParameterError
from components.steps.clean import CleaningOptions, clean_splits

WORDS = [a + b + c for a in string.ascii_lowercase for b in string.ascii_lowercase for c in "aeiou"][:90]


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    train = pd.DataFrame(
        {"text": [f"{w} said" for w in WORDS[:60]], "label": [("Joy", "joy", "fear", "joy")[i % 4] for i in range(60)]}
    )
    test = pd.DataFrame({"text": [f"{w} wrote" for w in WORDS[60:]], "label": ["JOY", "fear"] * 15})
    return train, test


def test_case_variants_are_one_class_by_default() -> None:
    result = clean_splits(*_frames())
    assert result.stats["labels"] == ["fear", "joy"]
    assert result.stats["label_case"]["merged"] == {"JOY": "joy", "Joy": "joy"}
    assert result.stats["label_case"]["rows"] == 15 + 15
    assert set(result.test["label"]) == {"fear", "joy"}


def test_label_case_keep_keeps_them_apart() -> None:
    train, test = _frames()
    result = clean_splits(train, test.replace("JOY", "joy"), CleaningOptions(label_case="keep"))
    assert result.stats["labels"] == ["Joy", "fear", "joy"]


def test_an_unknown_label_case_is_refused() -> None:
    with pytest.raises(ParameterError, match="label_case must be one of"):
        CleaningOptions(label_case="lower")
