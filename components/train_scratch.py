"""Train from scratch: a scikit-learn linear model on the TF-IDF features, saved as one text → label model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC


@dataclass
class TrainedModel:
    """A fitted text → label model and what its training found.

    Attributes:
        model: Fitted pipeline; ``predict`` takes a list of texts.
        fit_seconds: Time spent fitting (search included).
        params: The chosen parameters.
        scores: Validation scores, where the trainer measured any.
    """

    model: Pipeline
    fit_seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)


def train_scratch_model(
    features: sparse.spmatrix,
    labels: list[str],
    tfidf: TfidfVectorizer,
    c: float = 0.5,
    class_weight: str | None = "balanced",
    seed: int = 42,
) -> TrainedModel:
    """Fits a linear SVM on TF-IDF features and joins it to the fitted vectoriser.

    Args:
        features: Sparse TF-IDF of the training texts (from ``tfidf``).
        labels: Training labels.
        tfidf: The fitted vectoriser that produced ``features``.
        c: Inverse regularisation strength.
        class_weight: ``"balanced"`` or ``None``.
        seed: Random state.

    Returns:
        The text → label model.
    """
    if features.shape[0] != len(labels):
        raise ValueError(f"features have {features.shape[0]} rows but labels have {len(labels)}")
    if len(set(labels)) < 2:
        raise ValueError("train_scratch_model: need at least two classes in the training labels")
    start = time.perf_counter()
    classifier = LinearSVC(C=c, class_weight=class_weight, random_state=seed, dual="auto").fit(features, labels)
    fit_seconds = time.perf_counter() - start
    model = Pipeline([("tfidf", tfidf), ("classifier", classifier)])
    params = {"classifier": "LinearSVC", "C": c, "class_weight": class_weight, **_tfidf_params(tfidf)}
    return TrainedModel(model=model, fit_seconds=round(fit_seconds, 4), params=params)


def _tfidf_params(tfidf: TfidfVectorizer) -> dict[str, Any]:
    return {
        "ngram_range": list(tfidf.ngram_range),
        "min_df": tfidf.min_df,
        "sublinear_tf": tfidf.sublinear_tf,
    }
