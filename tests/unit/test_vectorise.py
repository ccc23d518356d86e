"""Unit tests of components.arms.automl.vectorise: the cue-window preprocessor and the TF-IDF / dense views."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import sparse

from components.arms.automl.features import densify_rows, feature_names
from components.arms.automl.vectorise import VectoriseOptions, fit_vectorisers
from components.arms.scratch.cues import CueWindow


def test_cue_window_keeps_the_words_after_each_feeling_verb():
    cue = CueWindow(window=2)
    assert cue("i feel so tired today") == "so tired"
    assert cue("I FELT angry and then i was feeling calm again") == "angry and calm again"


def test_cue_window_is_empty_without_a_cue_and_matches_whole_words_only():
    cue = CueWindow(window=3)
    assert cue("nothing to see here") == ""
    assert cue("the feelgood movie") == ""  # "feelgood" is not "feel"
    assert cue("i feel") == ""  # nothing follows the cue


def test_cue_window_custom_words_and_pickling():
    cue = CueWindow(window=1, cue_words=["am"])
    restored = pickle.loads(pickle.dumps(cue))
    assert restored("i am happy i feel sad") == "happy"
    assert "window=1" in repr(restored)


@pytest.mark.parametrize("kwargs", [{"window": 0}, {"window": 2, "cue_words": []}])
def test_cue_window_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        CueWindow(**kwargs)


def test_fit_vectorisers_keeps_k_sparse_float32_columns_that_densify_as_the_vectoriser_does():
    texts = ["i feel happy", "i feel sad", "so happy today", "so sad today", "happy happy", "sad sad"]
    labels = ["joy", "sadness", "joy", "sadness", "joy", "sadness"]
    fitted = fit_vectorisers(texts, labels, options=VectoriseOptions(dense_features=4))
    assert sparse.isspmatrix_csr(fitted.train_features) and fitted.train_features.dtype == np.float32
    assert fitted.train_features.shape == (6, 4)
    table = densify_rows(fitted.train_features, np.array([3, 0]))
    assert list(table.columns) == feature_names(4) and table.dtypes.unique().tolist() == [np.float32]
    np.testing.assert_array_equal(table.to_numpy(), fitted.dense_vectoriser.transform([texts[3], texts[0]]))
    dense = fitted.dense_vectoriser.transform(["happy sad"])
    assert dense.shape == (1, 4) and dense.dtype == np.float32
    assert fitted.vocabulary_size == 13  # 5 words (single letters are not tokens) and 8 bigrams


def test_fit_vectorisers_rejects_bad_sizes():
    with pytest.raises(ValueError, match="dense_features"):
        fit_vectorisers(["a b", "c d"], ["x", "y"], options=VectoriseOptions(dense_features=0))
