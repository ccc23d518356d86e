"""The compiled form of the from-scratch models gives the plain scikit-learn path's labels and scores.

Small seeded synthetic data (runs anywhere); a slow test on the real 6-emotion data (``../shared/data``) checks
every ``val.txt`` text with members trained on ``train.txt``.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from components.arms.scratch.cues import CueVectorizer, CueWindow
from components.arms.scratch.train import DEFAULT_PARAMS, build_classifier, build_features
from components.arms.scratch.voting import CalibratedVote
from components.models.compiled import CompiledLinear, CompiledMajority, CompiledVote, compile_members, compile_model
from components.models.scoring import predict_with_scores
from components.models.trained import MajorityVote

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "dair_ai_emotion"
WORDS = {
    "joy": ["glad", "happy", "cheerful", "delighted", "sunny"],
    "sadness": ["sad", "lonely", "gloomy", "down", "tearful"],
    "anger": ["angry", "furious", "bitter", "annoyed", "mad"],
    "fear": ["scared", "afraid", "nervous", "shaky", "worried"],
}
FILLER = ["today", "so", "very", "at", "work", "the", "news", "again", "i", "am", "really", "quite"]
CLASSES = sorted(WORDS)
#: Scores of the two paths agree to rounding (float64 sums in another order).
TOLERANCE = 1e-9


def synthetic(rows: int, seed: int, classes: list[str] = CLASSES) -> tuple[list[str], list[str]]:
    """Seeded texts of 3 to 12 words: filler, a class word or two, often after a cue word (``i feel``)."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(rows):
        label = rng.choice(classes)
        words = rng.choices(FILLER, k=rng.randint(2, 9)) + rng.choices(WORDS[label], k=rng.randint(1, 2))
        if rng.random() < 0.3:  # noise: a word of another class
            words.append(rng.choice(WORDS[rng.choice(classes)]))
        rng.shuffle(words)
        cue = rng.choice(["i feel ", "i felt so ", "feeling ", ""])
        texts.append(cue + " ".join(words))
        labels.append(label)
    return texts, labels


TEXTS, LABELS = synthetic(400, seed=1)
UNSEEN = synthetic(120, seed=2)[0] + ["", "zzz qqq", "feel", "i feel xyzzy", "happy happy happy happy sad"]


def member(texts: list[str], labels: list[str], **params) -> Pipeline:
    """A fitted member pipeline as the from-scratch trainer builds it."""
    params = {**DEFAULT_PARAMS, **params}
    return Pipeline([("features", build_features(params)), ("classifier", build_classifier(params, 0))]).fit(
        texts, labels
    )


def vote_of(members: list[Pipeline], classes: list[str]) -> Pipeline:
    temperatures = [0.3 + 0.2 * i for i in range(len(members))]
    offsets = np.linspace(0.0, 0.4, len(classes)).tolist()
    return Pipeline([("vote", CalibratedVote(members, temperatures, offsets, classes))])


def plain(model, texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The scikit-learn path: ``predict`` and ``predict_proba`` (or ``decision_function``) separately."""
    labels = [str(p) for p in model.predict(texts)]
    return labels, np.asarray(model.predict_proba(texts))


def assert_same(compiled, model, texts: list[str]) -> None:
    """The compiled model gives predict_with_scores' plain labels and scores, in a batch and one text at a time."""
    expected = predict_with_scores(model, texts)
    got = compiled.predict_scored(texts)
    assert got.labels == expected.labels == compiled.predict(texts).tolist()
    assert got.classes == expected.classes and got.score_kind == expected.score_kind
    assert np.allclose(got.scores, expected.scores, rtol=0, atol=TOLERANCE)
    for text in texts[::7]:  # one text (a majority vote's classes are those chosen for the texts given)
        one, expected_one = compiled.predict_scored([text]), predict_with_scores(model, [text])
        assert one.labels == expected_one.labels and one.classes == expected_one.classes
        assert np.allclose(one.scores, expected_one.scores, rtol=0, atol=TOLERANCE)


@pytest.fixture(scope="module")
def members() -> list[Pipeline]:
    return [
        member(TEXTS, LABELS, classifier="linear_svc", penalty="l1", C=1.0, cue_window=8, cue_weight=0.7),
        member(TEXTS, LABELS, classifier="nbsvm", C=0.3, cue_window=4),
        member(TEXTS, LABELS, classifier="nbsvm", C=1.0, cue_window=8, char_ngram_max=4),
        member(TEXTS, LABELS, classifier="logistic_regression", penalty="l2", C=2.0, word_ngram_max=1, min_df=2),
        member(TEXTS, LABELS, classifier="ridge", alpha=1.0, sublinear_tf=False),
        member(TEXTS, LABELS, classifier="sgd", penalty="l2", alpha=1e-3),
    ]


def test_the_calibrated_vote_compiles_to_the_same_labels_and_probabilities(members):
    model = vote_of(members, CLASSES)
    compiled = compile_model(model)
    assert isinstance(compiled, CompiledVote)
    assert compiled.members.weighing is None  # the ridge's blocks are not sublinear: each block weighs its own
    assert_same(compiled, model, UNSEEN)
    assert compiled.predict_scored([]).labels == [] and compiled.predict_scored([]).scores.shape == (0, 4)
    labels, proba = plain(model, UNSEEN)  # and predict_with_scores' plain path is predict + predict_proba
    assert predict_with_scores(model, UNSEEN).labels == labels
    assert np.allclose(predict_with_scores(model, UNSEEN).scores, proba, rtol=0, atol=TOLERANCE)


def test_identical_feature_blocks_are_kept_once(members):
    compiled = compile_members(members[:3])
    # word1-2 (in all three), cue8 (first and third), cue4, char2-4: four distinct blocks of seven.
    assert len(compiled.blocks) == 4
    assert compiled.weighing is not None  # alike: all blocks weighed in one pass
    assert compiled.weights.shape == (sum(block.size for block in compiled.blocks), 3 * len(CLASSES))


def test_a_vote_scores_each_member_once(members, monkeypatch):
    model = vote_of(members[:2], CLASSES)
    calls = []
    for fitted in members[:2]:
        original = fitted.decision_function
        monkeypatch.setattr(fitted, "decision_function", lambda x, f=original: calls.append(1) or f(x), raising=False)
    predict_with_scores(model, UNSEEN)
    assert len(calls) == 2


def test_a_majority_vote_and_a_single_pipeline_compile_too(members):
    majority = Pipeline([("vote", MajorityVote(members[:3]))])
    compiled = compile_model(majority)
    assert isinstance(compiled, CompiledMajority)
    assert_same(compiled, majority, UNSEEN)
    for single in (members[0], members[1]):
        compiled = compile_model(single)
        assert isinstance(compiled, CompiledLinear)
        assert_same(compiled, single, UNSEEN)
    # Logistic regression and modified-Huber SGD score by predict_proba; a ridge classifier predicts its own way.
    for single in (members[3], members[5], members[4], Pipeline([("vote", MajorityVote(members[3:5]))])):
        assert compile_model(single) is None


def test_two_classes(members):
    texts, labels = synthetic(200, seed=3, classes=["joy", "sadness"])
    svc = member(texts, labels, classifier="linear_svc", cue_window=6)  # one decision column
    nbsvm = member(texts, labels, classifier="nbsvm", cue_window=6)  # two
    unseen = synthetic(60, seed=4, classes=["joy", "sadness"])[0]
    model = vote_of([svc, nbsvm], ["joy", "sadness"])
    assert_same(compile_model(model), model, unseen)
    assert_same(compile_model(svc), svc, unseen)
    majority = MajorityVote([svc, nbsvm, svc])
    assert_same(compile_model(majority), majority, unseen)


def test_a_pickled_model_compiles_from_its_fitted_objects(members, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(vote_of(members[:2], CLASSES), path)
    loaded = joblib.load(path)
    assert_same(compile_model(loaded), loaded, UNSEEN)


def test_what_it_does_not_recognise_keeps_the_plain_path(members):
    def vote_with(extra: Pipeline) -> Pipeline:
        return vote_of([members[0], extra], CLASSES)

    complement = Pipeline([("features", TfidfVectorizer()), ("classifier", ComplementNB())]).fit(TEXTS, LABELS)
    counts = Pipeline([("features", CountVectorizer()), ("classifier", LinearSVC(dual=True))]).fit(TEXTS, LABELS)

    class Shouting(TfidfVectorizer):  # a transform of its own: not TfidfVectorizer's
        def transform(self, raw_documents):
            return super().transform([text.upper() for text in raw_documents])

    shouting = Pipeline([("features", Shouting(lowercase=False)), ("classifier", LinearSVC(dual=True))]).fit(
        TEXTS, LABELS
    )
    three_steps = Pipeline(
        [("features", TfidfVectorizer()), ("pass", "passthrough"), ("classifier", LinearSVC(dual=True))]
    )
    for extra in (complement, counts, shouting, three_steps.fit(TEXTS, LABELS)):
        assert compile_model(vote_with(extra)) is None
        assert compile_model(extra) is None
    assert compile_model(vote_of(members[:2], CLASSES), max_weights=10) is None
    assert compile_model(LogisticRegression()) is None


def test_a_cue_block_without_cues_keeps_the_plain_path():
    texts = ["glad day", "sad night", "happy times", "gloomy times"]
    labels = ["joy", "sadness", "joy", "sadness"]
    features = CueVectorizer(preprocessor=CueWindow(3))
    model = Pipeline([("features", features), ("classifier", LinearSVC(dual=True))])
    with pytest.raises(ValueError):  # the cue block alone has no columns: nothing to fit
        model.fit(texts, labels)
    assert features.no_cues_ and compile_members([model]) is None


def test_threads_share_a_compiled_model(members):
    model = vote_of(members[:3], CLASSES)
    compiled = compile_model(model)
    expected = predict_with_scores(model, UNSEEN)
    failures: list[str] = []

    def work(offset: int) -> None:
        for index in range(offset, len(UNSEEN), 3):
            got = compiled.predict_scored([UNSEEN[index]])
            if got.labels != [expected.labels[index]] or not np.allclose(got.scores[0], expected.scores[index]):
                failures.append(UNSEEN[index])

    threads = [threading.Thread(target=work, args=(i % 3,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_the_registered_model_predicts_with_its_compiled_form(members, tmp_path):
    from components.registry.packaging import load_packaged_model, package_model
    from components.text.rules import TextNormaliser

    joblib.dump(vote_of(members[:2], CLASSES), tmp_path / "model.joblib")
    folder = package_model(tmp_path / "model.joblib", tmp_path / "folder", text_rules=TextNormaliser(), metadata={})
    loaded, _ = load_packaged_model(folder)
    assert isinstance(loaded.compiled, CompiledVote)
    raw = ["I FEEL   so Glad &amp; sunny", "@bob i felt furious at http://x.com", *UNSEEN[:20]]
    expected = predict_with_scores(loaded.model, [loaded.normaliser(text) for text in raw])
    got = loaded.predict_texts(raw)
    assert got.labels == expected.labels
    assert np.allclose(got.scores, expected.scores, rtol=0, atol=TOLERANCE)


def read_split(path: Path) -> tuple[list[str], list[str]]:
    rows = [line.rsplit(";", 1) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [text for text, _ in rows], [label for _, label in rows]


@pytest.mark.slow
@pytest.mark.skipif(
    not (DATA / "train.txt").is_file() or not (DATA / "val.txt").is_file(),
    reason=f"real data not found in {DATA} (see ../shared/data/README.md)",
)
def test_on_the_real_validation_texts():
    texts, labels = read_split(DATA / "train.txt")
    val_texts, _ = read_split(DATA / "val.txt")
    classes = sorted(set(labels))
    members = [  # the default search space's two kinds of member
        member(texts, labels, classifier="linear_svc", penalty="l1", C=1.0, cue_window=8, cue_weight=0.7),
        member(texts, labels, classifier="nbsvm", penalty="l2", C=0.3, cue_window=4),
    ]
    model = vote_of(members, classes)
    compiled = compile_model(model)
    assert isinstance(compiled, CompiledVote) and len(compiled.members.blocks) == 3  # the word block is shared
    assert_same(compiled, model, val_texts)
    majority = MajorityVote([members[0], members[1], members[0]])
    assert_same(compile_model(majority), majority, val_texts[:500])
