"""Unit tests of components.stats.slices and the slices evaluate reports (per source file, per length band)."""

from __future__ import annotations

import pytest

from components.stats.slices import length_band, render_slices, slice_groups, slice_scores
from components.steps.evaluate import EvaluateOptions, evaluate_models, render_evaluation_report


class Lookup:
    """A model that answers from a dict (unknown texts: ``joy``)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    def predict(self, texts):
        return [self.answers.get(t, "joy") for t in texts]


@pytest.mark.parametrize(
    ("words", "band"),
    [
        (1, "0–10 words"),
        (10, "0–10 words"),
        (11, "11–20 words"),
        (40, "21–40 words"),
        (41, "41+ words"),
        (300, "41+ words"),
    ],
)
def test_length_band(words, band):
    assert length_band(" ".join(["w"] * words)) == band


def test_source_slices_only_with_several_files_and_short_names():
    texts = ["a b", "c d e", "f"]
    assert set(slice_groups(texts, ["/d/x/one.csv"] * 3)) == {"length"}
    assert set(slice_groups(texts, None)) == {"length"}
    groups = slice_groups(texts, ["/d/x/one.csv", "gs://b/two.txt", "/d/x/one.csv"])
    assert groups["source"] == ["one.csv", "two.txt", "one.csv"]
    same_name = slice_groups(texts, ["/a/train.csv", "/b/train.csv", "/a/train.csv"])["source"]
    assert same_name == ["/a/train.csv", "/b/train.csv", "/a/train.csv"]  # names alike: whole paths
    with pytest.raises(ValueError, match="differ in length"):
        slice_groups(texts, ["/a", "/b"])


def test_slice_scores_count_rows_and_labels_of_each_part():
    truth = ["joy", "sadness", "worry", "neutral", "joy"]
    predicted = ["joy", "joy", "worry", "worry", "joy"]
    groups = {"source": ["six", "six", "tweets", "tweets", "six"], "length": ["41+ words"] + ["0–10 words"] * 4}
    scores = slice_scores(truth, predicted, groups)
    assert list(scores["source"]) == ["six", "tweets"]
    # macro-F1 over the slice's own labels (joy: F1 0.8, sadness: 0), not over "worry" it does not have
    assert scores["source"]["six"] == {"rows": 3, "labels": 2, "accuracy": 0.6667, "macro_f1": 0.4}
    assert scores["source"]["tweets"]["macro_f1"] == 0.3333  # worry 2/3, neutral 0; joy is not a label here
    assert scores["source"]["tweets"]["accuracy"] == 0.5 and scores["source"]["tweets"]["labels"] == 2
    assert list(scores["length"]) == ["0–10 words", "41+ words"]  # band order, not order of appearance


def test_evaluate_reports_slices_per_model_and_in_markdown():
    texts = ["i feel happy", "i feel sad", "so worried about it", "nothing much here today at all ok"]
    labels = ["joy", "sadness", "worry", "neutral"]
    sources = ["/data/emotions_train.csv"] * 2 + ["/data/emotions_test.csv"] * 2
    models = {"good": Lookup(dict(zip(texts, labels, strict=True))), "joyful": Lookup({})}
    options = EvaluateOptions(bootstrap_resamples=20)
    result = evaluate_models(models, texts, labels, options=options, sources=sources)
    good, joyful = result["models"]["good"]["slices"], result["models"]["joyful"]["slices"]
    assert good["source"]["emotions_test.csv"] == {"rows": 2, "labels": 2, "accuracy": 1.0, "macro_f1": 1.0}
    assert joyful["source"]["emotions_train.csv"]["accuracy"] == 0.5
    assert joyful["source"]["emotions_test.csv"]["accuracy"] == 0.0
    report = render_evaluation_report(result)
    assert "## Slices" in report and "By source file" in report and "By text length" in report
    assert "| emotions_test.csv | 2 | 2 | 1.0000 | 1.0000 | 0.0000 | 0.0000 |" in report
    one_file = evaluate_models(models, texts, labels, options=options)
    assert set(one_file["models"]["good"]["slices"]) == {"length"}
    assert render_slices({"m": {"per_class": {}}}) == []  # a result without slices renders nothing
