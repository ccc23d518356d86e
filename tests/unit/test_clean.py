"""Cleaning logic: every rule with its count, the policies, leakage, class rules, refusals and the report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from components.checks.errors import DataError
from components.steps.clean import (
    CleaningOptions,
    ParameterError,
    clean_splits,
    clean_texts,
    data_metrics,
    fix_mojibake,
    match_key,
    near_duplicates,
    render_data_report,
    text_length_stats,
    unescape_html,
)


def frame(rows: list[tuple[str, str]], source: str = "file.csv") -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=["text", "label"])
    out["source"] = source
    return out


def balanced(n: int = 12, labels: tuple[str, ...] = ("joy", "fear"), prefix: str = "row") -> list[tuple[str, str]]:
    # two-digit numbers: the analyzer's tokens have two characters or more, so "row 1" and "row 2" would be one text
    return [(f"{prefix} {i:02d} {labels[i % len(labels)]}", labels[i % len(labels)]) for i in range(n)]


# --- text rules -------------------------------------------------------------------------------------------------


def test_html_entities_unescaped_even_double_escaped():
    assert unescape_html("a &quot;b&quot; &amp; c &lt;3") == 'a "b" & c <3'
    assert unescape_html("&amp;quot;hi&amp;quot;") == '"hi"'
    assert unescape_html("AT&T; plain") == "AT&T; plain"


def test_mojibake_repaired_and_lost_characters_become_spaces():
    assert fix_mojibake("cafÃ© crÃ¨me") == "café crème"
    assert fix_mojibake("Canï¿½t stop") == "Can t stop"  # U+FFFD encoded as UTF-8, read as Latin-1
    assert fix_mojibake("plain ascii") == "plain ascii"


def test_each_text_rule_counts_the_rows_it_changed():
    rows = [
        ("Fun &amp; games", "joy"),
        ("cafÃ© time", "joy"),
        ("look http://x.co/a and www.example.org", "fear"),
        ("@ann and @bob_2 hi, mail me@example.com", "fear"),
        ("  Spaced   OUT  ", "joy"),
        ("already clean", "fear"),
    ]
    cleaned, report = clean_texts(frame(rows), options=CleaningOptions())
    assert cleaned["text"].tolist() == [
        "fun & games",
        "café time",
        "look xxurl and xxurl",
        "xxuser and xxuser hi, mail me@example.com",
        "spaced out",
        "already clean",
    ]
    assert report.changed == {
        "html_entities": 1,
        "mojibake": 1,
        "retweets": 0,
        "urls": 1,
        "mentions": 1,
        "whitespace_case": 2,  # "Fun & games" and "  Spaced   OUT  "; the others were already normal
    }
    assert report.rows_in == report.rows_out == 6


def test_rules_can_be_switched_off():
    rows = [("Fun &amp; @ann http://x.co", "joy")]
    options = CleaningOptions(unescape_html=False, url_token="", mention_token="", lowercase=False)
    cleaned, report = clean_texts(frame(rows), options=options)
    assert cleaned["text"].tolist() == ["Fun &amp; @ann http://x.co"]
    assert "html_entities" not in report.changed and "urls" not in report.changed


def test_empty_texts_and_labels_dropped_and_counted():
    rows = [("ok", "joy"), ("", "joy"), ("   ", "fear"), (None, "fear"), ("@someone", "joy"), ("text", "")]
    cleaned, report = clean_texts(frame(rows))
    assert cleaned["text"].tolist() == ["ok"]
    assert report.dropped["empty_text"] == 4  # blank, white space, NaN, a mention and nothing else
    assert report.dropped["empty_label"] == 1


def test_exact_duplicates_after_normalisation():
    rows = [("Hello  World", "joy"), ("hello world", "joy"), ("other", "fear")]
    cleaned, report = clean_texts(frame(rows))
    assert cleaned["text"].tolist() == ["hello world", "other"]
    assert report.dropped["exact_duplicates"] == 1
    assert report.duplicates == {"texts": 1, "rows": 1}
    kept, report = clean_texts(frame(rows), options=CleaningOptions(drop_duplicates=False))
    assert len(kept) == 3 and "exact_duplicates" not in report.dropped


CONFLICTS = [("same", "joy"), ("same", "joy"), ("same", "fear"), ("tie", "joy"), ("tie", "fear"), ("fine", "joy")]


@pytest.mark.parametrize(
    ("policy", "expected", "dropped"),
    [
        ("drop", [("fine", "joy")], 5),
        ("keep", [("same", "joy"), ("same", "fear"), ("tie", "joy"), ("tie", "fear"), ("fine", "joy")], 0),
        ("majority", [("same", "joy"), ("fine", "joy")], 3),  # 'same' keeps joy (2 vs 1); 'tie' has no majority
    ],
)
def test_conflicting_labels_policies(policy, expected, dropped):
    cleaned, report = clean_texts(frame(CONFLICTS), options=CleaningOptions(conflict_policy=policy))
    assert list(cleaned[["text", "label"]].itertuples(index=False, name=None)) == expected
    assert report.dropped["conflicting_labels"] == dropped
    assert report.conflicts["texts"] == 2 and report.conflicts["rows"] == 5
    assert {e["text"] for e in report.conflicts["examples"]} == {"same", "tie"}


def test_label_map_applied_only_when_given():
    rows = [("a", "happy"), ("b", "happiness"), ("c", "fear")]
    cleaned, report = clean_texts(frame(rows))
    assert cleaned["label"].tolist() == ["happy", "happiness", "fear"] and "label_map" not in report.changed
    mapped, report = clean_texts(frame(rows), options=CleaningOptions(label_map={"happy": "joy", "happiness": "joy"}))
    assert mapped["label"].tolist() == ["joy", "joy", "fear"]
    assert report.changed["label_map"] == 2
    assert report.label_counts_before == {"fear": 1, "happiness": 1, "happy": 1}
    assert report.label_counts == {"joy": 2, "fear": 1}


def test_label_map_merges_before_conflicts_are_looked_for():
    rows = [("same text", "happy"), ("same text", "joy")]
    cleaned, report = clean_texts(frame(rows), options=CleaningOptions(label_map={"happy": "joy"}))
    assert cleaned["label"].tolist() == ["joy"]
    assert report.conflicts["texts"] == 0 and report.dropped["exact_duplicates"] == 1


def test_other_columns_are_kept():
    data = frame([("a", "joy")])
    data["author"] = "ann"
    cleaned, _ = clean_texts(data)
    assert cleaned.columns.tolist() == ["text", "label", "source", "author"]


def test_text_length_stats():
    stats = text_length_stats(["a bb", "ccc dd ee"])
    assert stats["count"] == 2 and stats["chars_min"] == 4 and stats["chars_max"] == 9 and stats["words_max"] == 3
    assert text_length_stats([])["chars_max"] == 0


# --- across splits ------------------------------------------------------------------------------------------------


def test_leakage_counted_and_removed_from_training_by_default():
    train = frame([*balanced(20), ("Shared Text", "joy"), ("shared text", "joy"), ("also here", "fear")], "tr.csv")
    test = frame([("shared  TEXT", "fear"), ("ALSO here", "fear"), ("new one", "joy")], "te.csv")
    result = clean_splits(train, test)
    leak = result.stats["leakage"]
    assert leak["texts"] == 2 and leak["train_rows"] == 2 and leak["test_rows"] == 2
    assert leak["label_disagreements"] == 1 and leak["test_rows_before_drops"] == 2
    assert result.stats["train"]["dropped"]["leakage"] == 2
    assert not set(result.train["text"]) & set(result.test["text"])
    assert len(result.test) == 3


def test_match_key_is_what_the_analyzer_sees():
    # scikit-learn's token_pattern over lower-cased, accent-stripped text without zero-width characters
    assert match_key("Great!") == match_key("great") == "great"
    assert match_key("#Happy   day :)") == "happy day"
    assert match_key("café crème") == match_key("cafe creme")
    assert match_key("gre\u200bat day\ufeff") == "great day"
    assert match_key("i feel a bit sad") == "feel bit sad"  # one-character tokens are not features


def test_leakage_is_found_on_what_the_models_see():
    train = frame([*balanced(20), ("great!", "joy"), ("#happy day", "joy"), ("café au lait", "fear")], "tr.csv")
    test = frame([("great", "joy"), ("happy day", "joy"), ("cafe au lait", "fear"), ("new one", "joy")], "te.csv")
    result = clean_splits(train, test)
    leak = result.stats["leakage"]
    assert leak["texts"] == 3 and leak["train_rows"] == 3 and leak["test_rows"] == 3
    assert leak["test_rows_before_drops"] == 3
    assert result.stats["train"]["dropped"]["leakage"] == 3
    keys = {match_key(t) for t in result.train["text"]}
    assert not keys & {match_key(t) for t in result.test["text"]}


def test_duplicates_and_conflicts_are_found_on_what_the_models_see():
    rows = [("Hello, world!", "joy"), ("hello world", "joy"), ("hello world?", "fear"), ("other", "fear")]
    cleaned, report = clean_texts(frame(rows), options=CleaningOptions(conflict_policy="keep"))
    assert report.duplicates == {"texts": 1, "rows": 2}
    assert report.conflicts["texts"] == 1 and report.conflicts["rows"] == 3
    assert cleaned["text"].tolist() == ["hello, world!", "hello world?", "other"]
    assert report.dropped["exact_duplicates"] == 1


def test_schemeless_urls_and_retweet_prefixes_are_handled():
    rows = [
        ("check bit.ly/x and tinyurl.com/abc2 now, or myspace.com", "joy"),
        ("RT @bob: great day at the beach", "joy"),
        ("rt @ann_2 so tired", "fear"),
        ("at home...and then e.g. sleep", "fear"),
    ]
    cleaned, report = clean_texts(frame(rows))
    assert cleaned["text"].tolist() == [
        "check xxurl and xxurl now, or xxurl",
        "great day at the beach",
        "so tired",
        "at home...and then e.g. sleep",
    ]
    assert report.changed["urls"] == 1 and report.changed["retweets"] == 2
    train = frame([*balanced(20), ("great day at the beach", "joy")], "tr.csv")
    result = clean_splits(train, frame([("RT @bob: Great day at the beach!", "joy"), ("new", "fear")], "te.csv"))
    assert result.stats["leakage"]["texts"] == 1


def test_near_duplicates_between_test_and_training_are_reported():
    base = "today i feel so very happy at home with my family and all my friends"
    train = frame([*balanced(20), (base, "joy"), ("completely different words here", "fear")], "tr.csv")
    test = frame([(base.replace("all ", ""), "fear"), ("nothing alike at all", "joy")], "te.csv")
    stats = clean_splits(train, test).stats
    near = stats["near_duplicates"]
    assert "Near-duplicates (token-set Jaccard ≥ 0.9, not identical; kept): 1 test rows" in render_data_report(stats)
    assert near["threshold"] == 0.9
    assert near["test_rows"] == 1 and near["train_rows"] == 1 and near["label_disagreements"] == 1
    example = near["examples"][0]
    assert example["test"] == base.replace("all ", "") and example["train"] == base
    assert 0.9 <= example["jaccard"] < 1


def test_near_duplicate_search_finds_what_brute_force_finds():
    rng = np.random.default_rng(0)
    vocabulary = [f"w{i:02d}" for i in range(40)]
    train = [" ".join(rng.choice(vocabulary, size=rng.integers(3, 15))) for _ in range(300)]
    train += train[:100]  # repeated training texts: equal similarities, the first one is reported
    # test texts: copies of training texts with one token dropped, added or swapped, and random ones
    test = []
    for text in train[:150]:
        words = text.split()
        edit = rng.integers(3)
        words = words[1:] if edit == 0 else [*words, str(rng.choice(vocabulary))] if edit == 1 else [*words[:-1], "zz"]
        test.append(" ".join(words))
    test += [" ".join(rng.choice(vocabulary, size=8)) for _ in range(50)]
    sets_train, sets_test = [set(t.split()) for t in train], [set(t.split()) for t in test]
    expected = {}  # brute force: every pair; the most similar training text, the first at a tie
    for i, a in enumerate(sets_test):
        for j, b in enumerate(sets_train):
            jaccard = len(a & b) / len(a | b)
            if jaccard >= 0.8 and test[i] != train[j] and jaccard > expected.get(i, (-1, 0.0))[1]:
                expected[i] = (j, jaccard)
    found = near_duplicates(test, train, threshold=0.8)
    assert found == expected and len(expected) > 50


@pytest.mark.parametrize(("policy", "train_rows", "test_rows"), [("drop_test", 22, 1), ("keep", 22, 3)])
def test_leakage_other_policies(policy, train_rows, test_rows):
    train = frame([*balanced(20), ("shared", "joy"), ("also", "fear")])
    test = frame([("shared", "joy"), ("also", "fear"), ("new", "joy")])
    result = clean_splits(train, test, CleaningOptions(leakage=policy))
    assert (len(result.train), len(result.test)) == (train_rows, test_rows)
    assert result.stats["leakage"]["texts"] == 2


def test_leakage_refused_when_asked():
    train = frame([*balanced(20), ("shared", "joy")], "tr.csv")
    with pytest.raises(DataError, match=r"leakage: 1 texts .*te\.csv.*tr\.csv.*set leakage to"):
        clean_splits(train, frame([("shared", "joy")], "te.csv"), CleaningOptions(leakage="refuse"))


def test_test_labels_not_in_training_refused_by_default():
    train = frame(balanced(20), "train.csv")
    test = frame([("x", "joy"), ("y", "surprise"), ("z", "surprise")], "test.csv")
    with pytest.raises(DataError) as err:
        clean_splits(train, test)
    message = str(err.value)
    assert "test.csv" in message and "{'surprise': 2}" in message and "unseen_test_labels=drop" in message


def test_test_labels_not_in_training_dropped_when_asked():
    test = frame([("x", "joy"), ("y", "surprise"), ("z", "surprise")])
    result = clean_splits(frame(balanced(20)), test, CleaningOptions(unseen_test_labels="drop"))
    assert result.test["label"].tolist() == ["joy"]
    assert result.stats["test"]["dropped"]["unseen_label"] == 2


def test_small_classes_refused_by_default_naming_the_parameter():
    train = frame([*balanced(20), ("rare one", "boredom")], "train.csv")
    with pytest.raises(DataError, match=r"train\.csv.*min_class_count=10.*\{'boredom': 1\}.*small_classes=drop"):
        clean_splits(train, frame([("x", "joy")]))


def test_small_classes_dropped_from_both_splits_when_asked():
    train = frame([*balanced(20), ("rare one", "boredom")])
    test = frame([("x", "joy"), ("rare two", "boredom")])
    result = clean_splits(train, test, CleaningOptions(small_classes="drop"))
    assert "boredom" not in set(result.train["label"]) | set(result.test["label"])
    assert result.stats["train"]["dropped"]["small_classes"] == 1
    assert result.stats["test"]["dropped"]["small_classes"] == 1


def test_one_class_only_after_cleaning_refused():
    train = frame([*balanced(20, labels=("joy",)), ("same", "fear"), ("same", "joy")], "train.csv")
    with pytest.raises(DataError, match=r"train\.csv.*one class only after cleaning \(\['joy'\]\)"):
        clean_splits(train, frame([("x", "joy")]), CleaningOptions(min_class_count=1))


def test_split_with_only_blank_texts_refused_naming_its_files():
    with pytest.raises(DataError, match=r"test data \(blank\.csv\): no rows left after cleaning.*empty_text': 2"):
        clean_splits(frame(balanced(20)), frame([("", "joy"), ("  ", "fear")], "blank.csv"))


def test_missing_columns_refused():
    with pytest.raises(DataError, match=r"missing columns \['label'\]"):
        clean_texts(pd.DataFrame({"text": ["a"]}))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"conflict_policy": "vote"}, "conflict_policy must be one of"),
        ({"leakage": "ignore"}, "leakage must be one of"),
        ({"small_classes": "merge"}, "small_classes must be one of"),
        ({"unseen_test_labels": "keep"}, "unseen_test_labels must be one of"),
        ({"min_class_count": 0}, "min_class_count must be >= 1"),
        ({"min_class_count": 2.5}, "min_class_count must be an integer"),
        ({"label_map": {"happy": " "}}, "label_map: blank"),
        ({"url_token": "two words"}, "url_token must be one word"),
    ],
)
def test_bad_parameters_are_named(options, message):
    with pytest.raises(ParameterError, match=message):
        CleaningOptions(**options)


def test_integral_float_min_class_count_is_accepted():
    assert CleaningOptions(min_class_count=5.0).min_class_count == 5


# --- statistics and report -------------------------------------------------------------------------------------


def sample_result():
    train = frame(
        [*balanced(30), ("Fun &amp; games", "joy"), ("dup | x", "joy"), ("dup | x", "fear"), ("", "joy")], "a.csv"
    )
    test = frame([("row 00 joy", "joy"), ("new | piped", "fear"), ("other", "fear")], "b.csv")
    return clean_splits(train, test)


def test_stats_keep_the_keys_the_summary_reads():
    stats = sample_result().stats
    assert stats["train"]["rows_out"] == 30 and stats["test"]["rows_out"] == 3
    assert stats["labels"] == ["fear", "joy"]
    assert stats["train"]["dropped"] == {
        "empty_text": 1,
        "empty_label": 0,
        "conflicting_labels": 2,
        "exact_duplicates": 0,
        "leakage": 1,
    }
    assert stats["options"]["leakage"] == "drop_train"
    assert stats["train"]["sources"] == {"a.csv": 34}


def test_data_metrics_are_flat_numbers():
    metrics = data_metrics(sample_result().stats)
    assert metrics["train_rows_in"] == 34 and metrics["train_rows_out"] == 30
    assert metrics["train_dropped_leakage"] == 1 and metrics["leaked_texts"] == 1
    assert all(isinstance(v, int | float) for v in metrics.values())


def test_report_has_every_section_and_escapes_pipes():
    report = render_data_report(sample_result().stats)
    for heading in ("Rows per rule", "Class distribution", "Duplicates and conflicts", "Text length", "Parameters"):
        assert f"## {heading}" in report
    assert "| html_entities | HTML entities unescaped | changed | 1 | 0 |" in report
    assert "| leakage | text also in the other split (leakage) | dropped | 1 | 0 |" in report
    assert "**leakage** (policy `drop_train`): 1 texts" in report
    assert "| joy | 18 | 15 | 50.0 | 1 | 1 | 33.3 |" in report  # before / after / share, train then test
    assert "| train | dup \\| x | fear, joy |" in report


def test_report_accepts_the_older_stats_form():
    _, train_report = clean_texts(frame(balanced(4)))
    old = {"train": {k: train_report.to_dict()[k] for k in ("rows_in", "rows_out", "dropped", "label_counts")}}
    assert "| joy | 2 |" in render_data_report(old)


def test_markdown_tables_right_align_number_columns_and_escape_cells():
    from components.reporting.markdown import table

    assert table(["name", "rows", "share"], [["a|b", 3, 50.0], ["c\nd", 1, "n/a"]]) == [
        "| name | rows | share |",
        "|---|---:|---|",
        "| a\\|b | 3 | 50.0 |",
        "| c d | 1 | n/a |",
        "",
    ]
    assert table(["empty"], []) == ["| empty |", "|---|", ""]
