"""A registered model's reference profile: what its training data and its held-out predictions looked like.

``register`` writes it as ``reference_profile.json`` inside every version's model folder (so it travels with the
version in every registry backend); ``monitor`` compares a batch of new texts with it. It holds counts only:

* ``vocabulary``: the training texts' words (the model's features are word n-grams of these words; tokens as
  scikit-learn's default ``token_pattern``, ``\\b\\w\\w+\\b``, lower-cased) with their document frequencies, the
  :data:`MAX_TERMS` most frequent when there are more;
* ``training``: rows, label counts, text length (words) → count, source files (train, test);
* ``heldout``: on the held-out rows the model was evaluated on, the out-of-vocabulary rate, lengths, the labels,
  the predicted labels, the confidence (largest score) in 10 bins of width 0.1, the score kind, accuracy and
  macro-F1 (as ``evaluate`` computes them).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

PROFILE_FILE = "reference_profile.json"
PROFILE_FORMAT = 1
MAX_TERMS = 100_000
CONFIDENCE_BINS = 10
TOKEN = re.compile(r"(?u)\b\w\w+\b")


def tokens(text: str) -> list[str]:
    """The words of a text as the vocabulary counts them (scikit-learn's default token pattern, lower-cased)."""
    return TOKEN.findall(str(text).lower())


def confidence_bin(score: float) -> int:
    """Bin 0..9 of a confidence in [0, 1] (1.0 goes to the last bin)."""
    return min(int(float(score) * CONFIDENCE_BINS), CONFIDENCE_BINS - 1)


class TextStats:
    """Running counts of a stream of texts: lengths (words), document frequencies, tokens in a vocabulary."""

    def __init__(self, vocabulary: Mapping[str, int] | None = None) -> None:
        self.vocabulary = vocabulary
        self.rows = 0
        self.lengths: Counter = Counter()
        self.document_frequency: Counter = Counter()
        self.tokens = 0
        self.unknown = 0

    def add(self, texts: Iterable[str]) -> None:
        """Counts a chunk of texts (already normalised as the training texts were)."""
        for text in texts:
            words = tokens(text)
            self.rows += 1
            self.lengths[len(words)] += 1
            self.tokens += len(words)
            if self.vocabulary is None:
                self.document_frequency.update(set(words))
            else:
                self.unknown += sum(word not in self.vocabulary for word in words)

    @property
    def oov_rate(self) -> float:
        """Share of the tokens not in the vocabulary (0 when there are no tokens)."""
        return self.unknown / self.tokens if self.tokens else 0.0


class PredictionStats:
    """Running counts of predictions: predicted labels, confidence bins, and labelled rows (truth, prediction)."""

    def __init__(self) -> None:
        self.predicted: Counter = Counter()
        self.confidence = [0] * CONFIDENCE_BINS
        self.confidence_sum = 0.0
        self.truth: list[str] = []
        self.paired: list[str] = []

    def add(self, labels: Sequence[str], scores: np.ndarray, truth: Sequence[str | None] = ()) -> None:
        """Counts a chunk: predicted labels, their scores (rows × classes), and the true labels where known."""
        self.predicted.update(labels)
        top = np.asarray(scores, dtype=float).max(axis=1) if len(labels) else np.zeros(0)
        for value in top:
            self.confidence[confidence_bin(value)] += 1
        self.confidence_sum += float(top.sum())
        for true, label in zip(truth, labels, strict=False):
            if true is not None:
                self.truth.append(str(true))
                self.paired.append(str(label))

    @property
    def mean_confidence(self) -> float:
        rows = sum(self.predicted.values())
        return self.confidence_sum / rows if rows else 0.0


def build_profile(
    train_texts: Sequence[str],
    train_labels: Sequence[str],
    test_texts: Sequence[str],
    test_labels: Sequence[str],
    predicted: Any,
    *,
    sources: Mapping[str, Sequence[str]] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The reference profile of a model (see the module docstring).

    Args:
        train_texts: Cleaned training texts.
        train_labels: Their labels.
        test_texts: Cleaned held-out texts.
        test_labels: Their labels.
        predicted: The model's :class:`~components.models.scoring.ScoredPredictions` of ``test_texts``.
        sources: ``{"train": [uris], "test": [uris]}``: the files the rows came from (the retraining data policy).
        metadata: Recorded as is (task, model name, model kind …).

    Returns:
        The profile (JSON-ready).
    """
    from components.models.trained import score

    train = TextStats()
    train.add(train_texts)
    terms = dict(sorted(train.document_frequency.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_TERMS])
    held = TextStats(terms)
    held.add(test_texts)
    preds = PredictionStats()
    preds.add(predicted.labels, predicted.scores, list(test_labels))
    return {
        "format": PROFILE_FORMAT,
        **dict(metadata or {}),
        "classes": list(predicted.classes),
        "vocabulary": {
            "documents": train.rows,
            "terms_total": len(train.document_frequency),
            "truncated": len(train.document_frequency) > MAX_TERMS,
            "terms": terms,
        },
        "training": {
            "rows": train.rows,
            "label_counts": dict(Counter(map(str, train_labels))),
            "length_counts": _keyed(train.lengths),
            "sources": dict(sources or {}),
        },
        "heldout": {
            "rows": held.rows,
            "oov_rate": held.oov_rate,
            "length_counts": _keyed(held.lengths),
            "label_counts": dict(Counter(map(str, test_labels))),
            "predicted_counts": dict(preds.predicted),
            "confidence_counts": preds.confidence,
            "mean_confidence": preds.mean_confidence,
            "score_kind": predicted.score_kind,
            **score(list(map(str, test_labels)), predicted.labels),
        },
    }


def _keyed(counts: Mapping[int, int]) -> dict[str, int]:
    return {str(k): int(v) for k, v in sorted(counts.items())}


def write_profile(folder: str | Path, profile: Mapping[str, Any]) -> Path:
    """Writes the profile into a model folder; returns the file."""
    path = Path(folder) / PROFILE_FILE
    path.write_text(json.dumps(profile, ensure_ascii=False), encoding="utf-8")
    return path


def read_profile(folder: str | Path) -> dict[str, Any]:
    """Reads the profile of a model folder.

    Raises:
        FileNotFoundError: The folder has none (a version registered before monitoring existed).
    """
    path = Path(folder) / PROFILE_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no reference profile; this version was registered before monitoring existed: register a new "
            "one (emotion-pipeline run) to monitor it"
        )
    return json.loads(path.read_text(encoding="utf-8"))
