"""The lifecycle's shared pieces: text rules, per-class scores, the paired bootstrap, model references, packaging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifecycle_models import demo_split, fit

from components.models.scoring import predict_with_scores
from components.registry.store import ModelRef, RegistryError, open_registry, redact, vertex_label, vertex_model_id
from components.stats.bootstrap import paired_difference
from components.steps.clean import CleaningOptions, clean_texts
from components.text.rules import TextNormaliser


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    return demo_split()


def test_text_rules_are_the_clean_steps() -> None:
    texts = ["I &amp;quot;LOVE&amp;quot;  this http://x.co/a @bob", "caf\u00c3\u00a9   Time", "  plain  "]
    cleaned, _ = clean_texts(pd.DataFrame({"text": texts, "label": ["a", "b", "c"]}), options=CleaningOptions())
    assert [TextNormaliser()(t) for t in texts] == cleaned["text"].tolist()
    rules = TextNormaliser(lowercase=False, url_token="")
    assert rules("Go http://x.co") == "Go http://x.co"
    assert TextNormaliser.from_dict({**rules.to_dict(), "other": 1}) == rules


@pytest.mark.parametrize(
    ("kind", "score_kind"), [("lr", "probability"), ("svm", "softmax_decision"), ("vote", "vote_share")]
)
def test_scores_per_kind_of_model(split, kind: str, score_kind: str) -> None:
    train, test = split
    model = fit(kind, train)
    texts = test["text"].tolist()[:20]
    predicted = predict_with_scores(model, texts)
    assert predicted.score_kind == score_kind
    assert predicted.labels == [str(p) for p in model.predict(texts)]  # the label is always predict's
    assert predicted.scores.shape == (20, len(predicted.classes))
    assert np.allclose(predicted.scores.sum(axis=1), 1.0)
    if kind != "vote":  # a vote's label can be a tie broken by its first member
        assert [predicted.classes[i] for i in predicted.scores.argmax(axis=1)] == predicted.labels
    row = predicted.rows()[0]
    assert set(row) == {"label", "scores"} and set(row["scores"]) == set(predicted.classes)


def test_scores_fall_back_to_the_label_when_a_model_has_none() -> None:
    class Plain:
        def predict(self, texts):
            return ["joy" if "happy" in t else "sadness" for t in texts]

    predicted = predict_with_scores(Plain(), ["happy", "blue"])
    assert predicted.score_kind == "label_only"
    assert predicted.rows() == [
        {"label": "joy", "scores": {"joy": 1.0, "sadness": 0.0}},
        {"label": "sadness", "scores": {"joy": 0.0, "sadness": 1.0}},
    ]


def test_paired_difference() -> None:
    truth = ["a", "b"] * 100
    same = paired_difference(truth, truth, truth, metric="accuracy")
    assert same.difference == 0 and same.interval == (0.0, 0.0)
    worse = ["a"] * 200
    better = paired_difference(truth, truth, worse, metric="macro_f1", resamples=200)
    assert better.score_a == 1.0 and better.interval[0] > 0
    assert paired_difference(truth, worse, truth, resamples=200).interval[1] < 0
    again = paired_difference(truth, truth, worse, metric="macro_f1", resamples=200)
    assert again == better  # seeded
    with pytest.raises(ValueError, match="as many"):
        paired_difference(truth, truth[:3], truth)


def test_model_references() -> None:
    assert ModelRef.parse("emotion-demo@champion") == ModelRef("emotion-demo", "champion")
    assert ModelRef.parse("emotion-demo") == ModelRef("emotion-demo", "champion")
    assert ModelRef.parse("emotion-demo/3") == ModelRef("emotion-demo", "", "3")
    assert str(ModelRef.parse("m/3")) == "m/3" and str(ModelRef.parse("m@x")) == "m@x"
    for bad in ("@champion", "m@", "m/x", "/3"):
        with pytest.raises(RegistryError):
            ModelRef.parse(bad)


def test_registry_uris(tmp_path) -> None:
    assert open_registry(str(tmp_path / "reg")).kind == "mlflow"
    assert (tmp_path / "reg").is_dir()
    assert open_registry(f"sqlite:///{tmp_path}/x.db").tracking_uri == f"sqlite:///{tmp_path}/x.db"
    for bad in ("", "vertex://only-project", "ftp://host/x"):
        with pytest.raises(RegistryError):
            open_registry(bad)
    assert redact("postgresql://me:secret@db:5432/mlflow") == "postgresql://me:***@db:5432/mlflow"
    assert redact("/a/b") == "/a/b"
    assert vertex_model_id("Emotion Demo.v1") == "emotion-demo-v1" and vertex_model_id("9x") == "m-9x"
    assert vertex_label("emotion-pipeline-2026-12-01-23:30") == "emotion-pipeline-2026-12-01-23-30"
