"""Vectorise: TF-IDF fitted on the training texts only, plus a signal-keeping view for AutoML.

PyCaret works on dense numeric columns. Reducing TF-IDF with TruncatedSVD to 300 dimensions loses most of
the signal (LinearSVC falls from 0.90 to 0.59 accuracy on the 6-emotion data: ``benchmarks/ablation.py``,
docs/RESULTS.md), so AutoML gets the ``dense_features`` most informative TF-IDF columns by chi², as float32.

The training features stay *sparse* here (about 20 non-zeros a text: 0.2 GB at a million texts, where the dense
table would take 8 GB): ``train_automl`` densifies only the rows it can afford
(``components.arms.automl.features.densify_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.feature_selection import SelectKBest, chi2
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from components.arms.automl.features import to_dense_float32
from components.checks.options import check_number


@dataclass
class Vectorised:
    """The fitted dense vectoriser and the training features it produces.

    Attributes:
        dense_vectoriser: Fitted text → dense float32 pipeline (TF-IDF, chi² top-k); its ``tfidf`` step is
            the fitted TF-IDF vectoriser.
        train_features: The chi² top-k TF-IDF features of the training texts, sparse (CSR, float32): what
            ``dense_vectoriser`` gives for them, before densifying.
    """

    dense_vectoriser: Pipeline
    train_features: sparse.csr_matrix

    @property
    def vocabulary_size(self) -> int:
        """Terms in the fitted TF-IDF vocabulary."""
        return len(self.dense_vectoriser.named_steps["tfidf"].vocabulary_)


@dataclass(frozen=True)
class VectoriseOptions:
    """The TF-IDF and chi² selection that give AutoML its dense features, with every default.

    Attributes:
        max_ngram: Largest word n-gram.
        min_df: Minimum number of documents a term appears in.
        max_features: Vocabulary cap.
        dense_features: Columns kept for AutoML (capped at the vocabulary size).
    """

    max_ngram: int = 2
    min_df: int = 1
    max_features: int = 200_000
    dense_features: int = 2000

    def __post_init__(self) -> None:
        for name in ("max_ngram", "min_df", "max_features", "dense_features"):
            check_number(name, getattr(self, name), low=1, integer=True)


def fit_vectorisers(
    texts: pd.Series | list[str], labels: pd.Series | list[str], *, options: VectoriseOptions | None = None
) -> Vectorised:
    """Fits TF-IDF on the training texts and selects the dense AutoML features by chi².

    Args:
        texts: Training texts (already cleaned).
        labels: Their labels (used by chi² only).
        options: n-grams, document frequency, vocabulary cap and dense columns; the defaults when ``None``.

    Returns:
        The fitted vectorisers and training features.
    """
    options = options or VectoriseOptions()
    tfidf = TfidfVectorizer(
        ngram_range=(1, options.max_ngram),
        min_df=options.min_df,
        max_features=options.max_features,
        sublinear_tf=True,
        dtype=np.float32,
    )
    train_sparse = tfidf.fit_transform(list(texts)).tocsr()
    selector = SelectKBest(chi2, k=min(options.dense_features, train_sparse.shape[1])).fit(train_sparse, list(labels))
    densify = FunctionTransformer(to_dense_float32, accept_sparse=True).fit(train_sparse[:1])
    dense_vectoriser = Pipeline([("tfidf", tfidf), ("chi2", selector), ("dense", densify)])
    train_features = sparse.csr_matrix(selector.transform(train_sparse), dtype=np.float32)
    return Vectorised(dense_vectoriser, train_features)
