"""Explanations: exact word weights of linear models (the from-scratch vote, plain and AutoML-shaped pipelines),
leave-one-word-out for the others, and a clear reason when neither works."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from lifecycle_models import demo_split, fit
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.feature_selection import SelectKBest, chi2
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB, MultinomialNB
from sklearn.pipeline import FunctionTransformer, Pipeline, make_pipeline
from sklearn.preprocessing import MaxAbsScaler
from sklearn.svm import LinearSVC

from components.arms.automl.features import to_dense_float32, to_feature_frame
from components.arms.scratch.train import build_classifier, build_features
from components.arms.scratch.voting import CalibratedVote, decision_scores
from components.models.explain import (
    MAX_WORDS_LEFT_OUT,
    ExplanationUnavailable,
    explain_texts,
    linear_parts,
    top_words,
    top_words_record,
    word_weights,
)

#: Members of a from-scratch vote as the search builds them: word + cue + char blocks, three linear classifiers.
MEMBERS = (
    {"classifier": "linear_svc", "penalty": "l1", "cue_window": 6, "cue_weight": 0.7, "char_ngram_max": 4},
    {"classifier": "nbsvm", "penalty": "l2", "cue_window": 4, "word_ngram_max": 3},
    {"classifier": "complement_nb", "char_ngram_max": 3},
)
TEXTS = [
    "i feel so happy and excited about the wedding today!",
    "i am terrified of the dark and i feel scared, scared",
    "nobody listened and i feel angry",
    "wow",
]


def _params(**given: Any) -> dict[str, Any]:
    from components.arms.scratch.train import DEFAULT_PARAMS

    return {**DEFAULT_PARAMS, **given}


@pytest.fixture(scope="module")
def data() -> tuple[list[str], list[str]]:
    train, _ = demo_split()
    return train["text"].tolist(), train["label"].tolist()


@pytest.fixture(scope="module")
def vote(data) -> Pipeline:
    texts, labels = data
    members = [
        Pipeline([("features", build_features(_params(**p))), ("classifier", build_classifier(_params(**p)))]).fit(
            texts, labels
        )
        for p in MEMBERS
    ]
    classes = sorted(set(labels))
    offsets = np.linspace(0.0, 0.5, len(classes)).tolist()
    return Pipeline([("vote", CalibratedVote(members, [0.4, 1.3, 2.0], offsets, classes))])


def _centred(scores: np.ndarray) -> np.ndarray:
    return scores - scores.mean(axis=1, keepdims=True)


def test_each_members_weights_and_intercepts_add_up_to_its_decision_scores(vote):
    members = vote.named_steps["vote"].members
    parts = linear_parts(vote, TEXTS)
    assert parts is not None and len(parts) == len(members)
    for part, member, temperature in zip(parts, members, (0.4, 1.3, 2.0), strict=True):
        assert part.weight == pytest.approx(1 / (3 * temperature))
        assert part.classes == [str(c) for c in member.classes_]
        # per feature: (coef[c] − mean coef)·x; summed with the centred intercept, the member's centred scores
        features = part.features(TEXTS)
        by_feature = np.asarray(features @ part.coef.T) + part.intercept
        np.testing.assert_allclose(by_feature, _centred(decision_scores(member, TEXTS)), atol=1e-9)


def test_the_words_carry_every_feature_weight_exactly(vote):
    """Word n-grams split among their words, char n-grams given to their words: nothing is lost on the way."""
    labels = [str(label) for label in vote.predict(TEXTS)]
    parts = linear_parts(vote, TEXTS)
    totals = np.zeros(len(TEXTS))
    for part in parts:
        rows = [part.classes.index(label) for label in labels]
        scores = part.relative_scores(TEXTS) - part.intercept
        totals += part.weight * scores[np.arange(len(TEXTS)), rows]
    found = word_weights(vote, TEXTS)
    np.testing.assert_allclose([sum(words.values()) for words in found], totals, atol=1e-9)
    assert {"scared", "terrified"} <= set(found[1])  # words of the text, not n-grams
    assert all(" " not in word for words in found for word in words)
    assert "happy" in found[0] and "today" in found[0]  # "today!" (a char_wb word) is given to "today"


def test_explanations_are_the_heaviest_positive_words_rounded(vote):
    explained = explain_texts(vote, TEXTS, top=3)
    assert [len(e) <= 3 for e in explained] == [True] * len(TEXTS)
    assert explained[1][0]["feature"] in ("scared", "terrified")
    for explanation, weights in zip(explained, word_weights(vote, TEXTS), strict=True):
        shown = [row["weight"] for row in explanation]
        assert shown == sorted(shown, reverse=True) and all(w > 0 for w in shown)
        best = sorted((w for w in weights.values() if w > 0), reverse=True)[: len(shown)]
        assert shown == [round(w, 4) for w in best]
    assert explain_texts(vote, []) == []
    with pytest.raises(ExplanationUnavailable, match="top must be >= 1"):
        explain_texts(vote, TEXTS, top=0)


def test_top_words_are_each_classes_heaviest_vocabulary_terms(vote, data):
    found = top_words(vote, top=15)
    assert sorted(found) == sorted(set(data[1]))
    assert all(len(words) == 15 for words in found.values())
    assert "scared" in [term for term, _ in found["fear"]]
    for words in found.values():
        weights = [w for _, w in words]
        assert weights == sorted(weights, reverse=True)
    record = top_words_record(vote, top=2)
    assert record["top"] == 2 and all(len(words) == 2 for words in record["classes"].values())


@pytest.mark.parametrize("estimator", [LinearSVC(dual=True), LogisticRegression(max_iter=300), MultinomialNB()])
def test_a_plain_pipeline_is_exact_too(data, estimator):
    texts, labels = data
    model = make_pipeline(CountVectorizer(ngram_range=(1, 2)), estimator).fit(texts, labels)
    (part,) = linear_parts(model, TEXTS)
    np.testing.assert_allclose(part.relative_scores(TEXTS), _centred(decision_scores(model, TEXTS)), atol=1e-9)


def test_a_binary_model_has_two_rows_of_weights(data):
    texts, labels = data
    keep = [i for i, label in enumerate(labels) if label in ("joy", "sadness")]
    model = make_pipeline(TfidfVectorizer(), LinearSVC(dual=True))
    model.fit([texts[i] for i in keep], [labels[i] for i in keep])
    (part,) = linear_parts(model, TEXTS)
    np.testing.assert_allclose(part.relative_scores(TEXTS), decision_scores(model, TEXTS), atol=1e-9)
    assert sorted(top_words(model, top=3)) == ["joy", "sadness"]


def _automl_shaped(texts: list[str], labels: list[str], estimator: Any) -> Pipeline:
    """The AutoML arm's model: TF-IDF, chi² columns, dense frame, then PyCaret's pipeline (empty step, estimator)."""
    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
    dense = Pipeline(
        [("tfidf", tfidf), ("chi2", SelectKBest(chi2, k=300)), ("dense", FunctionTransformer(to_dense_float32))]
    ).fit(texts, labels)
    frame = to_feature_frame(dense.transform(texts))
    codes = {label: i for i, label in enumerate(sorted(set(labels)))}
    final = Pipeline([("placeholder", None), ("actual_estimator", estimator)]).fit(frame, [codes[x] for x in labels])
    return Pipeline([("features", dense), ("frame", FunctionTransformer(to_feature_frame)), ("automl", final)])


def test_an_automl_shaped_linear_model_maps_its_chi2_columns_back_to_words(data):
    texts, labels = data
    model = _automl_shaped(texts, labels, LogisticRegression(max_iter=300))
    (part,) = linear_parts(model, TEXTS)
    estimator = model.named_steps["automl"].steps[-1][1]
    frame = model[:-1].transform(TEXTS)
    np.testing.assert_allclose(
        part.relative_scores(TEXTS), _centred(estimator.decision_function(frame)), rtol=1e-5, atol=1e-5
    )
    selected = model.named_steps["features"].named_steps["chi2"].get_support(indices=True)
    vocabulary = model.named_steps["features"].named_steps["tfidf"].get_feature_names_out()
    terms = {term for words in top_words(model, top=30).values() for term, _ in words}
    assert terms <= set(vocabulary[selected])
    assert explain_texts(model, ["i feel so scared"])[0]  # a word that pushed it


def test_a_step_that_changes_the_columns_values_is_not_read_as_linear(data):
    texts, labels = data
    model = make_pipeline(TfidfVectorizer(), MaxAbsScaler(), LogisticRegression(max_iter=300)).fit(texts, labels)
    assert linear_parts(model, TEXTS) is None
    assert linear_parts(model, ["zzz qqq"]) is None  # unknown words (all-zero features) do not hide the scaling
    with pytest.raises(ExplanationUnavailable, match="LogisticRegression is not a linear model over words"):
        top_words(model)
    assert explain_texts(model, TEXTS[:1])  # leave-one-word-out instead


class CountingModel:
    """A toy non-linear model: P(joy) grows with the count of "happy", P(sad) with "sad" (squared: not linear)."""

    classes_ = np.asarray(["joy", "sad"])

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(len(texts))
        joy = np.asarray([text.split().count("happy") ** 2 + 1.0 for text in texts])
        sad = np.asarray([text.split().count("sad") ** 2 + 1.0 for text in texts])
        return np.column_stack([joy, sad]) / (joy + sad)[:, None]

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.classes_[self.predict_proba(texts).argmax(axis=1)]


def test_leave_one_word_out_is_the_drop_of_the_labels_score():
    model = CountingModel()
    text = "happy happy day sad"
    (weights,) = word_weights(model, [text])
    base = model.predict_proba([text])[0, 0]
    assert weights["happy"] == pytest.approx(base - model.predict_proba(["day sad"])[0, 0])
    assert weights["sad"] == pytest.approx(base - model.predict_proba(["happy happy day"])[0, 0])
    assert weights["sad"] < 0  # leaving "sad" out makes joy surer
    assert weights["day"] == pytest.approx(0.0)
    assert explain_texts(model, [text]) == [[{"feature": "happy", "weight": round(weights["happy"], 4)}]]
    with pytest.raises(ExplanationUnavailable, match="CountingModel is not a linear model"):
        top_words(model)


def test_leave_one_word_out_is_one_batch_of_at_most_the_capped_words():
    model = CountingModel()
    text = " ".join(["happy", *(f"w{i}" for i in range(100))])
    (weights,) = word_weights(model, [text])
    assert len(weights) == MAX_WORDS_LEFT_OUT and "happy" in weights
    assert model.calls[-1] == MAX_WORDS_LEFT_OUT + 1  # the text and its variants, in one call


def test_a_hard_vote_is_explained_by_leaving_words_out(data):
    train, _ = demo_split()
    model = fit("vote", train)
    assert linear_parts(model, TEXTS) is None
    assert isinstance(explain_texts(model, TEXTS), list)
    assert "not a linear model" in top_words_record(model)["unavailable"]


class LabelOnly:
    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(["joy"] * len(texts))


def test_a_model_without_scores_cannot_be_explained():
    with pytest.raises(ExplanationUnavailable, match="LabelOnly gives no per-class scores"):
        explain_texts(LabelOnly(), ["i am happy"])
    assert top_words_record(LabelOnly()) == {
        "unavailable": "LabelOnly is not a linear model over words: it has no word weights"
    }


def test_complement_nb_weights_match_its_log_probabilities(data):
    texts, labels = data
    model = make_pipeline(TfidfVectorizer(), ComplementNB()).fit(texts, labels)
    (part,) = linear_parts(model, TEXTS)
    np.testing.assert_allclose(part.relative_scores(TEXTS), _centred(model.predict_log_proba(TEXTS)), atol=1e-9)


def test_character_ngrams_go_to_the_words_that_contain_them(data):
    texts, labels = data
    model = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)), LinearSVC(dual=True))
    model.fit(texts, labels)
    text = "today, i feel scared!"
    (weights,) = word_weights(model, [text])
    assert set(weights) == {"today", "i", "feel", "scared"}
    (part,) = linear_parts(model, [text])
    row = part.classes.index(str(model.predict([text])[0]))
    assert sum(weights.values()) == pytest.approx((part.relative_scores([text]) - part.intercept)[0, row])
