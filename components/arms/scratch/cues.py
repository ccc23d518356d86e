"""The from-scratch model's cue features: TF-IDF over the words around a cue word (*feel*, *felt* …).

:class:`CueWindow` is the preprocessor and :class:`CueVectorizer` the vectoriser of that feature block; both are
carried by the fitted model, so they must pickle and load wherever it is served.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

DEFAULT_CUE_WORDS = ("feel", "feels", "feeling", "feelings", "felt")


class CueVectorizer(TfidfVectorizer):
    """TF-IDF over the cue windows (``preprocessor=CueWindow(...)``) that tolerates data without any cue word.

    A plain ``TfidfVectorizer`` raises "empty vocabulary" when no training text has a cue word (texts that never
    say *feel*); this one then gives the block no columns, so the candidate falls back on its other blocks.
    """

    #: Its ``transform`` is ``TfidfVectorizer``'s once fitted with cues: the compiled form of a model
    #: (:mod:`components.models.compiled`) may compute it from the vocabulary (a block without cues is not compiled).
    tfidf_transform_compatible = True

    def fit_transform(self, raw_documents: Any, y: Any = None) -> sparse.csr_matrix:
        documents = list(raw_documents)
        try:
            features = super().fit_transform(documents, y)
        except ValueError as err:
            if "empty vocabulary" not in str(err):
                raise
            self.no_cues_ = True
            return sparse.csr_matrix((len(documents), 0))
        self.no_cues_ = False
        return features

    def fit(self, raw_documents: Any, y: Any = None) -> CueVectorizer:
        self.fit_transform(raw_documents, y)
        return self

    def transform(self, raw_documents: Any) -> sparse.csr_matrix:
        if getattr(self, "no_cues_", False):
            return sparse.csr_matrix((len(list(raw_documents)), 0))
        return super().transform(raw_documents)


class CueWindow:
    """Text → the words that follow a feeling verb ("i feel so *very tired* today" → "so very tired").

    Emotion texts name the emotion right after the verb of feeling; a bag of words over the whole text
    dilutes that word among the others. This preprocessor keeps only the ``window`` words after each cue
    word, so a vectoriser over its output gives those words a feature of their own ("cue features").
    Texts without a cue word give an empty string (an all-zero row). A plain class, so models pickle.

    Args:
        window: Number of words kept after each cue word (>= 1).
        cue_words: The cue words (whole, lower-case words).
    """

    def __init__(self, window: int = 8, cue_words: Sequence[str] = DEFAULT_CUE_WORDS) -> None:
        if window < 1:
            raise ValueError(f"cue window must be >= 1 word, got {window}")
        if not cue_words:
            raise ValueError("cue_words: give at least one word")
        self.window = int(window)
        self.cue_words = tuple(cue_words)
        alternatives = "|".join(re.escape(word) for word in self.cue_words)
        self._pattern = re.compile(rf"\b(?:{alternatives})\b((?:\s+\w+){{1,{self.window}}})")

    def __call__(self, text: str) -> str:
        return " ".join(match.group(1).strip() for match in self._pattern.finditer(text.lower()))

    def __repr__(self) -> str:
        return f"CueWindow(window={self.window}, cue_words={list(self.cue_words)})"
