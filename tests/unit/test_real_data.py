"""Ingest and clean on the real files of ../shared/data (skipped when they are absent).

The expected figures come from ../shared/data/README.md and from measuring the cleaning rules on these files.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pytest

from components.steps.clean import CleaningOptions, CleanResult, clean_splits
from components.steps.ingest import IngestOptions, ingest_sources
from pipelines.tasks import select_task

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
EMOTIONS_TRAIN = DATA / "ml_in_the_clouds" / "emotions_train.csv"
TWEETS = DATA / "ml_in_the_clouds" / "emotions_test.csv"
DAIR_TRAIN = DATA / "dair_ai_emotion" / "train.txt"
DAIR_VAL = DATA / "dair_ai_emotion" / "val.txt"

pytestmark = pytest.mark.skipif(
    not all(p.is_file() for p in (EMOTIONS_TRAIN, TWEETS, DAIR_TRAIN, DAIR_VAL)),
    reason=f"real data not found in {DATA} (see ../shared/data/README.md)",
)

FOURTEEN = [
    "anger",
    "boredom",
    "empty",
    "enthusiasm",
    "fear",
    "fun",
    "hate",
    "joy",
    "love",
    "neutral",
    "relief",
    "sadness",
    "surprise",
    "worry",
]
CLEANING = set(CleaningOptions.__dataclass_fields__)
INGEST = ("text_column", "label_column", "encoding", "test_size", "keep_extra_columns", "max_line_chars")


def data_steps(parameters: dict[str, Any]) -> CleanResult:
    """What the pipeline's ingest and clean steps do with a task's parameters, without the pipeline."""
    train, test = ingest_sources(
        parameters["train_uris"],
        parameters["test_uri"],
        options=IngestOptions(seed=parameters.get("seed", 42), **{k: parameters[k] for k in INGEST if k in parameters}),
    )
    return clean_splits(train, test, CleaningOptions(**{k: v for k, v in parameters.items() if k in CLEANING}))


@pytest.fixture(scope="module")
def emotion14() -> CleanResult:
    return data_steps(select_task("emotion14", data_root=str(DATA)))


def test_emotion14_has_exactly_the_14_labels_of_the_union(emotion14):
    assert emotion14.stats["labels"] == FOURTEEN
    assert sorted(set(emotion14.test["label"])) == FOURTEEN
    sources = emotion14.stats["train"]["sources"]
    assert set(sources) == {str(EMOTIONS_TRAIN), str(TWEETS)}
    assert emotion14.stats["train"]["rows_in"] + emotion14.stats["test"]["rows_in"] == 21_459 + 40_000


def test_emotion14_split_is_stratified(emotion14):
    train_share = emotion14.train["label"].value_counts(normalize=True)
    test_share = emotion14.test["label"].value_counts(normalize=True)
    assert (train_share - test_share).abs().max() < 0.01


def test_emotion14_has_no_leakage_left(emotion14):
    assert not set(emotion14.train["text"]) & set(emotion14.test["text"])
    assert emotion14.stats["train"]["dropped"]["leakage"] == emotion14.stats["leakage"]["train_rows"] > 0


def test_no_html_entity_or_mojibake_survives_cleaning_the_tweet_file():
    train, test = ingest_sources([str(TWEETS)], options=IngestOptions(test_size=0.2))
    result = clean_splits(train, test)
    for frame in (result.train, result.test):
        texts = frame["text"]
        assert texts.map(lambda t: html.unescape(t) == t).all()
        assert not texts.str.contains("ï¿½|\ufffd|https?://|(?<![\\w@])@\\w", regex=True).any()
    changed = {k: result.stats["train"]["changed"][k] + result.stats["test"]["changed"][k] for k in ("html_entities",)}
    assert changed["html_entities"] == 2_301  # README: HTML entities in 2,301 rows


def test_leakage_of_emotions_train_into_dair_val():
    """Every val.txt row is inside emotions_train.csv: all 2,000 leak; 1,988 are left to remove after cleaning.

    Of the 2,000: 4 val rows are 2 texts repeated in val.txt with different labels (dropped by conflict_policy), and
    8 val texts are repeated inside emotions_train.csv with different labels, so cleaning already removed their
    training copies. The other 1,988 texts are in both cleaned splits and are removed from training.
    """
    train, test = ingest_sources([str(EMOTIONS_TRAIN)], str(DAIR_VAL))
    result = clean_splits(train, test)
    leakage = result.stats["leakage"]
    assert leakage["test_rows_before_drops"] == 2_000
    assert result.stats["test"]["dropped"]["conflicting_labels"] == 4
    assert leakage["texts"] == leakage["train_rows"] == leakage["test_rows"] == 1_988
    assert result.stats["train"]["dropped"]["leakage"] == 1_988
    assert not set(result.train["text"]) & set(result.test["text"])


def test_emotion6_counts_match_the_readme():
    result = data_steps(select_task("emotion6", data_root=str(DATA)))
    train, test = result.stats["train"], result.stats["test"]
    assert train["label_counts_before"] == {
        "joy": 5_362,
        "sadness": 4_666,
        "anger": 2_159,
        "fear": 1_937,
        "love": 1_304,
        "surprise": 572,
    }
    assert test["rows_in"] == 2_000 and train["rows_in"] == 16_000
    assert train["duplicates"]["texts"] == 31 and train["conflicts"]["texts"] == 30  # README: 31 repeat, 30 conflict
    assert result.stats["leakage"]["texts"] == 5 and result.stats["leakage"]["label_disagreements"] == 5
