"""Unit tests of what the from-scratch model carries besides its features: NB-SVM and the calibrated soft vote."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import sparse
from scipy.special import softmax
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from components.arms.scratch.nbsvm import NBSVM
from components.arms.scratch.voting import (
    PRIOR_WEIGHTS,
    PYTHON_ROWS,
    CalibratedVote,
    calibrate,
    decision_scores,
    fit_temperature,
    mean_log_proba,
    row_argmax,
    row_max,
)

TEXTS = [
    "i feel happy and glad",
    "so glad today",
    "happy happy day",
    "i feel cheerful",
    "i feel sad and lonely",
    "so lonely tonight",
    "sad sad day",
    "i feel gloomy",
    "i feel angry and bitter",
    "so furious today",
    "angry angry day",
    "i feel annoyed",
]
LABELS = ["joy"] * 4 + ["sadness"] * 4 + ["anger"] * 4


def _pipeline(classifier) -> Pipeline:
    return Pipeline([("features", TfidfVectorizer()), ("classifier", classifier)]).fit(TEXTS, LABELS)


def test_nbsvm_learns_the_words_of_each_class():
    model = _pipeline(NBSVM(C=1.0, random_state=0))
    assert model.predict(["glad and cheerful", "lonely and gloomy", "bitter and annoyed"]).tolist() == [
        "joy",
        "sadness",
        "anger",
    ]
    scores = model.decision_function(["glad"])
    assert scores.shape == (1, 3) and list(model.classes_) == ["anger", "joy", "sadness"]


def test_nbsvm_is_the_svm_on_ratio_scaled_features():
    """coef_ folds the log-count ratio into the weights: the same margins as the SVM on X·diag(r)."""
    features = TfidfVectorizer().fit_transform(TEXTS)
    model = NBSVM(C=0.5, random_state=0).fit(features, LABELS)
    codes = np.unique(LABELS, return_inverse=True)[1]
    present = (features > 0).astype(float).toarray()
    p, q = present[codes == 1].sum(0) + 1, present[codes != 1].sum(0) + 1
    ratio = np.log(p / p.sum()) - np.log(q / q.sum())
    svm = LinearSVC(C=0.5, class_weight="balanced", random_state=0).fit(features @ sparse.diags(ratio), codes == 1)
    expected = svm.decision_function(features @ sparse.diags(ratio))
    assert np.allclose(model.decision_function(features)[:, 1], expected, atol=1e-6)


def test_nbsvm_two_classes_and_bad_input():
    features = TfidfVectorizer().fit_transform(TEXTS[:8])
    model = NBSVM(random_state=0).fit(features, LABELS[:8])
    assert model.decision_function(features).shape == (8, 2)
    assert pickle.loads(pickle.dumps(model)).predict(features).tolist() == model.predict(features).tolist()
    with pytest.raises(ValueError, match="non-negative"):
        NBSVM().fit(-features, LABELS[:8])
    with pytest.raises(ValueError, match="two classes"):
        NBSVM().fit(features, ["joy"] * 8)


def test_decision_scores_of_every_kind_of_member():
    assert decision_scores(_pipeline(LinearSVC(random_state=0)), TEXTS).shape == (12, 3)
    log_proba = decision_scores(_pipeline(ComplementNB()), TEXTS)  # no decision_function: log-probabilities
    assert np.allclose(np.exp(log_proba).sum(axis=1), 1.0)
    binary = Pipeline([("f", TfidfVectorizer()), ("c", LinearSVC(random_state=0))]).fit(TEXTS[:8], LABELS[:8])
    two = decision_scores(binary, TEXTS[:8])
    assert two.shape == (8, 2) and np.allclose(two[:, 1] - two[:, 0], binary.decision_function(TEXTS[:8]))


def test_fit_temperature_undoes_a_scaling_of_calibrated_scores():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 4)) * 2
    truth = np.array([rng.choice(4, p=softmax(row)) for row in logits])  # labels drawn from softmax(logits)
    assert fit_temperature(logits * 3, truth) == pytest.approx(3.0, rel=0.1)
    assert fit_temperature(logits, truth) == pytest.approx(1.0, rel=0.1)


def test_calibrate_corrects_for_the_prior_when_it_raises_macro_f1():
    """A member biased towards the large class: the prior weight moves rows back to the small one."""
    rng = np.random.default_rng(1)
    truth = np.array([0] * 900 + [1] * 100)
    signal = np.where(truth == 1, 1.0, -1.0) + rng.normal(scale=1.0, size=truth.size)
    scores = np.column_stack([1.5 - signal, signal - 1.5])  # the decision boundary sits too far into class 1
    temperatures, weight, offsets = calibrate([scores], truth, "macro_f1")
    assert weight > 0 and weight in PRIOR_WEIGHTS
    assert offsets[1] > offsets[0]  # the small class gains
    no_prior = (mean_log_proba([scores], temperatures)).argmax(axis=1)
    with_prior = (mean_log_proba([scores], temperatures) + offsets).argmax(axis=1)
    assert (with_prior == 1).sum() > (no_prior == 1).sum()
    balanced = np.column_stack([-signal, signal])
    assert calibrate([balanced], truth, "accuracy")[1] <= weight


def test_calibrated_vote_averages_members_and_pickles():
    members = [_pipeline(LinearSVC(random_state=0)), _pipeline(LogisticRegression()), _pipeline(NBSVM())]
    vote = CalibratedVote(members, [1.0, 0.5, 2.0], [0.0, 0.0, 0.0], ["anger", "joy", "sadness"])
    proba = vote.predict_proba(TEXTS)
    expected = np.mean(
        [softmax(decision_scores(m, TEXTS) / t, axis=1) for m, t in zip(members, [1.0, 0.5, 2.0], strict=True)], axis=0
    )
    assert np.allclose(proba, expected)
    assert vote.predict(TEXTS).tolist() == LABELS
    shifted = CalibratedVote(members, [1.0, 0.5, 2.0], [0.0, 50.0, 0.0], ["anger", "joy", "sadness"])
    assert set(shifted.predict(TEXTS)) == {"joy"}  # the offsets are added to the log-probabilities
    assert pickle.loads(pickle.dumps(vote)).predict(TEXTS).tolist() == LABELS


def test_the_calibrated_vote_is_scored_by_its_probabilities_not_vote_shares():
    from sklearn.pipeline import Pipeline

    from components.models.scoring import predict_with_scores

    members = [_pipeline(LinearSVC(random_state=0))]  # one member: vote shares would be 1 for every text
    model = Pipeline([("vote", CalibratedVote(members, [1.0], [0.0, 0.0, 0.0], ["anger", "joy", "sadness"]))])
    scored = predict_with_scores(model, TEXTS)
    assert scored.score_kind == "probability"
    assert np.allclose(scored.scores, model.predict_proba(TEXTS)) and scored.scores.max() < 1.0


def test_mean_log_proba_is_scipys_arithmetic_and_row_reductions_are_numpys():
    from scipy.special import log_softmax, logsumexp

    rng = np.random.default_rng(0)
    for rows in (1, PYTHON_ROWS, PYTHON_ROWS + 1, 50):
        scores = [rng.normal(scale=5, size=(rows, 4)) for _ in range(3)]
        temperatures = [0.3, 1.0, 2.0]
        logs = [log_softmax(s / t, axis=1) for s, t in zip(scores, temperatures, strict=True)]
        expected = logsumexp(np.stack(logs), axis=0) - np.log(3)
        assert np.allclose(mean_log_proba(scores, temperatures), expected, rtol=0, atol=1e-12)
        values = np.round(scores[0])  # ties: the first of equal maxima, as argmax
        assert row_argmax(values) == values.argmax(axis=1).tolist()
        assert np.array_equal(row_max(values), values.max(axis=1))
