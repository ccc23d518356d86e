"""A compiled form of fitted TF-IDF → linear-classifier pipelines: the same decision scores, a fraction of the time.

A served text passes through scikit-learn's ``Pipeline`` and ``FeatureUnion`` (joblib dispatch, parameter
validation, one sparse matrix per block and per member) although the arithmetic is a vocabulary look-up and one
matrix product. :func:`compile_members` turns fitted pipelines into that: each distinct TF-IDF block (blocks fitted
alike in several members are kept once) becomes its fitted analyser (``build_analyzer()``, so the text rules stay
the vectoriser's) and its vocabulary, and every member's coefficients, times the union's block weights, become
columns of one dense weight matrix over the blocks' columns. A call then analyses each text once per block, builds
the tf-idf values of the whole batch with a few numpy operations, and multiplies once (a dot product for one text,
a sparse × dense product for a batch). Nothing is stored: the compiled form is built from the fitted objects when
a model is loaded; anything it does not recognise (another vectoriser or classifier, a vectoriser sub-class with
a transform of its own, float32 features, a weight matrix over :data:`MAX_WEIGHTS` …) makes
:func:`compile_members` return ``None`` and the caller keeps the plain path. The per-text work left is Python (the
analysers and one dictionary look-up per token, which hold the GIL); no joblib, no threads.

:func:`compile_model` compiles a whole text → label model: a vote that combines its members' decision functions
(``scored_from_decisions``, e.g. the from-scratch model's calibrated vote) or a single linear pipeline without
``predict_proba``. The result's ``predict_scored`` gives the labels and scores of
:func:`~components.models.scoring.predict_with_scores`'s plain path, to rounding (float64 sums in another order:
about 1e-16).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model._base import LinearClassifierMixin
from sklearn.pipeline import FeatureUnion, Pipeline

from components.models.scoring import ScoredPredictions, decision_softmax, vote_shares
from components.models.trained import MajorityVote, vote

#: Most weights (columns of all blocks × score columns of all members) a compiled model may hold (400 MB of
#: float64); a larger model keeps the plain path.
MAX_WEIGHTS = 50_000_000
#: numpy keeps the GIL for an operation on at most this many elements (``NPY_BEGIN_THREADS_THRESHOLDED``): one
#: text's work stays below it, so threads serving a text each do not hand the GIL to each other mid-call.
GIL_KEPT_ELEMENTS = 500
#: A vectoriser class with this class attribute set to True promises that its ``transform`` is
#: ``TfidfVectorizer``'s (it may override ``fit``); sub-classes without it are not compiled.
TFIDF_COMPATIBLE = "tfidf_transform_compatible"
#: A classifier class with this class attribute set to True promises ``decision_function(X) = X @ coef_.T +
#: intercept_`` (rows × classes, also for two classes) and ``predict = classes_[argmax]``.
LINEAR_DECISION = "linear_decision_function"


@dataclass(frozen=True, eq=False)
class Weighing:
    """Counts → tf-idf values of one or more blocks, as ``TfidfTransformer.transform`` and ``normalize`` compute them.

    Attributes:
        idf: Per-column idf weights from column ``offset`` on (ones for a block without idf), or None.
        offset: The first column ``idf`` covers.
        sublinear: ``1 + log(tf)`` instead of ``tf``.
        binary: Counts capped at 1.
        norm: ``l2``, ``l1`` or None (each segment, i.e. a text's part from one block, separately).
    """

    idf: np.ndarray | None
    offset: int
    sublinear: bool
    binary: bool
    norm: str | None

    def weigh(self, segments: np.ndarray, columns: np.ndarray, counts: np.ndarray, n_segments: int) -> np.ndarray:
        """The values of the entries (``segments``: which text-and-block each belongs to, for the norm)."""
        values = self._scaled(columns, counts)
        if self.norm is not None:
            values /= self._norms(np.bincount(segments, weights=self._sizes(values), minlength=n_segments))[segments]
        return values

    def weigh_runs(self, columns: np.ndarray, counts: np.ndarray, starts: list[int], owner: list[int]) -> np.ndarray:
        """:meth:`weigh` of entries whose segments are runs (``starts``: each run's first entry; ``owner``: each
        entry's run), by numpy operations that keep the GIL on small arrays (ufuncs, 1-d indexing) and Python: a
        thread that drops it for a few microseconds then waits for it, and many threads lose throughput."""
        values = self._scaled(columns, counts)
        if self.norm is not None and len(values):
            sizes = self._sizes(values).tolist()  # summed in Python: np.add.reduceat drops the GIL
            sums = [sum(sizes[start:end]) for start, end in zip(starts, [*starts[1:], len(sizes)], strict=True)]
            values /= self._norms(np.asarray(sums, dtype=np.float64))[owner]
        return values

    def _scaled(self, columns: np.ndarray, counts: np.ndarray) -> np.ndarray:
        values = np.ones(len(counts)) if self.binary else np.asarray(counts, dtype=np.float64)
        if self.sublinear:
            values = np.log(values) + 1.0
        if self.idf is not None:
            values *= self.idf[columns - self.offset]
        return values

    def _sizes(self, values: np.ndarray) -> np.ndarray:
        return np.abs(values) if self.norm == "l1" else values * values

    def _norms(self, sums: np.ndarray) -> np.ndarray:
        norms = sums if self.norm == "l1" else np.sqrt(sums)
        return np.where(norms == 0.0, 1.0, norms)


@dataclass(frozen=True, eq=False)
class TfidfBlock:
    """One fitted TF-IDF vectoriser, compiled.

    Attributes:
        analyze: The vectoriser's own analyser (preprocessing, tokenising, n-grams).
        vocabulary: Token → column, offset to the block's place among all blocks' columns.
        size: Its number of columns.
        weighing: Its tf-idf settings and idf (from its first column on).
    """

    analyze: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    size: int
    weighing: Weighing

    def count(self, texts: Sequence[str], found: list[int], lengths: list[int]) -> None:
        """Appends each text's tokens' columns (-1: not in the vocabulary) and how many tokens it has (the Python
        part: the analyser, then a look-up per token, in C)."""
        analyze, lookup, missing = self.analyze, self.vocabulary.get, repeat(-1)
        for text in texts:
            before = len(found)
            found.extend(map(lookup, analyze(text), missing))
            lengths.append(len(found) - before)

    def features(self, texts: Sequence[str], width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The block's tf-idf entries of ``texts``: row, column and value arrays (``width``: all blocks' columns)."""
        found: list[int] = []
        lengths: list[int] = []
        self.count(texts, found, lengths)
        rows, columns, counts = tally(found, lengths, width)
        return rows, columns, self.weighing.weigh(rows, columns, counts, len(texts))


def tally(found: list[int], lengths: list[int], width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Segment, column and count of each distinct (segment, column) pair of looked-up tokens, in that order.

    Args:
        found: Every token's column (-1: not in the vocabulary), segment after segment.
        lengths: Each segment's number of tokens.
        width: More than any column.
    """
    columns = np.asarray(found, dtype=np.int64)
    segments = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    known = columns >= 0
    keys, counts = np.unique(segments[known] * width + columns[known], return_counts=True)
    segments, columns = np.divmod(keys, width)
    return segments, columns, counts


def _is_tfidf(vectoriser: Any) -> bool:
    kind = type(vectoriser)
    return (
        isinstance(vectoriser, TfidfVectorizer)
        and (kind.transform is TfidfVectorizer.transform or getattr(kind, TFIDF_COMPATIBLE, False) is True)
        and hasattr(vectoriser, "vocabulary_")
        and not getattr(vectoriser, "no_cues_", False)
        and vectoriser.dtype in (np.float64, float)
        and vectoriser.norm in ("l1", "l2", None)
    )


def _is_linear(classifier: Any) -> bool:
    """Whether the decision function is ``X @ coef_.T + intercept_`` (a scikit-learn linear classifier's own, or a
    class that says so with :data:`LINEAR_DECISION`)."""
    kind = type(classifier)
    sklearn_linear = (
        isinstance(classifier, LinearClassifierMixin)
        and kind.decision_function is LinearClassifierMixin.decision_function
    )
    own = getattr(kind, LINEAR_DECISION, False) is True
    return (sklearn_linear or own) and all(hasattr(classifier, a) for a in ("coef_", "intercept_", "classes_"))


def _predicts_by_decision(classifier: Any) -> bool:
    """Whether ``predict`` is the decision function's arg-max (its sign for one column): not a ridge classifier's,
    which also predicts several labels per row."""
    kind = type(classifier)
    return getattr(kind, LINEAR_DECISION, False) is True or kind.predict is LinearClassifierMixin.predict


def pipeline_parts(member: Any) -> tuple[list[tuple[TfidfVectorizer, float]], Any] | None:
    """The TF-IDF blocks (each with its union weight) and the linear classifier of a ``features → classifier``
    pipeline; None when it is not one this module compiles."""
    if not isinstance(member, Pipeline) or len(member.steps) != 2:
        return None
    features, classifier = member.steps[0][1], member.steps[1][1]
    if isinstance(features, FeatureUnion):
        weights = features.transformer_weights or {}
        blocks = [(block, float(weights.get(name, 1.0))) for name, block in features.transformer_list]
    else:
        blocks = [(features, 1.0)]
    if not blocks or not all(_is_tfidf(block) for block, _ in blocks) or not _is_linear(classifier):
        return None
    return blocks, classifier


def _same_block(first: TfidfVectorizer, second: TfidfVectorizer) -> bool:
    """Whether two fitted vectorisers transform alike (same class, parameters, vocabulary and idf)."""
    if first is second:
        return True
    if type(first) is not type(second) or repr(first.get_params()) != repr(second.get_params()):
        return False
    same_idf = (not first.use_idf) or np.array_equal(first.idf_, second.idf_)
    return same_idf and first.vocabulary_ == second.vocabulary_


def _weighing(vectoriser: TfidfVectorizer, offset: int) -> Weighing:
    idf = np.asarray(vectoriser.idf_, dtype=np.float64) if vectoriser.use_idf else None
    settings = (bool(vectoriser.sublinear_tf), bool(vectoriser.binary), vectoriser.norm)
    return Weighing(idf, offset, *settings)


def _compile_block(vectoriser: TfidfVectorizer, offset: int) -> TfidfBlock:
    vocabulary = {token: int(column) + offset for token, column in vectoriser.vocabulary_.items()}
    return TfidfBlock(vectoriser.build_analyzer(), vocabulary, len(vocabulary), _weighing(vectoriser, offset))


def _shared_weighing(blocks: Sequence[TfidfBlock]) -> Weighing | None:
    """One weighing for all blocks (their idf end to end), when their settings agree; else None."""
    settings = {(b.weighing.sublinear, b.weighing.binary, b.weighing.norm) for b in blocks}
    if len(settings) != 1:
        return None
    idf = None
    if any(b.weighing.idf is not None for b in blocks):
        idf = np.concatenate([b.weighing.idf if b.weighing.idf is not None else np.ones(b.size) for b in blocks])
    return Weighing(idf, 0, *settings.pop())


@dataclass(frozen=True, eq=False)
class CompiledMembers:
    """Fitted linear pipelines compiled into shared TF-IDF blocks and one weight matrix.

    Attributes:
        blocks: The distinct TF-IDF blocks.
        weighing: All blocks' weighing in one pass, when their settings agree (else each weighs its own).
        weights: (all blocks' columns) × (all members' score columns), C-ordered.
        intercepts: One per score column.
        columns: Each member's score columns (a slice of ``weights``' columns).
        binary: Per member, whether its decision function is one column returned flat (a scikit-learn linear
            model with two classes).
        classes: Each member's ``classes_``.
        spread: ``0, 1, … ``, one per score column.
    """

    blocks: tuple[TfidfBlock, ...]
    weighing: Weighing | None
    weights: np.ndarray
    intercepts: np.ndarray
    columns: tuple[slice, ...]
    binary: tuple[bool, ...]
    classes: tuple[np.ndarray, ...]
    spread: np.ndarray

    def decision_functions(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each member's ``decision_function`` of the texts (as the member pipeline's would be)."""
        texts = list(texts)
        if not texts:
            scores = np.zeros((0, self.weights.shape[1]))
        elif len(texts) == 1 and self.weighing is not None:  # one text: a dot product, no sparse matrix
            columns, values = self._one_text(texts[0], self.weighing)
            scores = self._product(columns, values)[None, :]
        else:
            rows, columns, values = self._features(texts)
            shape = (len(texts), self.weights.shape[0])
            scores = sparse.csr_matrix((values, (rows, columns)), shape=shape) @ self.weights + self.intercepts
        pairs = zip(self.columns, self.binary, strict=True)
        return [scores[:, cols].ravel() if flat else scores[:, cols] for cols, flat in pairs]

    def _product(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        """``values @ weights[columns] + intercepts``, the rows gathered a few at a time from the flat matrix:
        numpy drops the GIL for a 2-d gather, ``np.take`` or ``np.arange`` of any size and for an operation on more
        than :data:`GIL_KEPT_ELEMENTS` elements."""
        width = len(self.spread)
        flat_weights, step = self.weights.ravel(), max(GIL_KEPT_ELEMENTS // width, 1)
        scores = self.intercepts
        for start in range(0, len(columns), step):
            part = columns[start : start + step]
            rows = flat_weights[(part[:, None] * width + self.spread).ravel()].reshape(len(part), width)
            scores = scores + values[start : start + step] @ rows
        return scores

    def _one_text(self, text: str, weighing: Weighing) -> tuple[np.ndarray, np.ndarray]:
        """Columns and values of one text's tf-idf entries, counted in Python (no numpy call that drops the GIL:
        ``np.unique``'s sort, ``repeat``, ``bincount``, copies)."""
        columns: list[int] = []
        counts: list[int] = []
        starts: list[int] = []
        owner: list[int] = []
        for block in self.blocks:
            found = Counter(map(block.vocabulary.get, block.analyze(text)))
            found.pop(None, None)
            if found:
                owner += [len(starts)] * len(found)
                starts.append(len(columns))
                columns += found
                counts += found.values()
        found_columns = np.asarray(columns, dtype=np.int64)
        return found_columns, weighing.weigh_runs(found_columns, np.asarray(counts, np.float64), starts, owner)

    def _features(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column and value of every tf-idf entry of the texts, over all blocks."""
        width = self.weights.shape[0]
        if self.weighing is None:  # blocks weighed differently: each on its own
            parts = [block.features(texts, width) for block in self.blocks]
            rows, columns, values = (np.concatenate([part[i] for part in parts]) for i in range(3))
            return rows, columns, values
        found: list[int] = []
        lengths: list[int] = []
        for block in self.blocks:
            block.count(texts, found, lengths)
        segments, columns, counts = tally(found, lengths, width)  # segments: block × text, blocks outer
        values = self.weighing.weigh(segments, columns, counts, len(lengths))
        return segments % len(texts), columns, values

    def predictions(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each member's ``predict`` of the texts."""
        decisions = self.decision_functions(texts)
        return [
            classes[(scores > 0).astype(int)] if scores.ndim == 1 else classes[scores.argmax(axis=1)]
            for scores, classes in zip(decisions, self.classes, strict=True)
        ]


def compile_members(members: Sequence[Any], max_weights: int = MAX_WEIGHTS) -> CompiledMembers | None:
    """Compiles fitted ``TF-IDF blocks → linear classifier`` pipelines (see the module docstring).

    Args:
        members: Fitted pipelines.
        max_weights: Most entries of the weight matrix (:data:`MAX_WEIGHTS`).

    Returns:
        The compiled members, or None when one is not such a pipeline or the weights would be too many.
    """
    found = [pipeline_parts(member) for member in members]
    parts = [part for part in found if part is not None]
    if not parts or len(parts) != len(found):
        return None
    distinct: list[TfidfVectorizer] = []
    uses: list[list[tuple[int, float, int]]] = []  # per member: (distinct block, weight, first feature column)
    for blocks, _ in parts:
        used, start = [], 0
        for vectoriser, weight in blocks:
            index = next((i for i, seen in enumerate(distinct) if _same_block(seen, vectoriser)), len(distinct))
            distinct += [vectoriser] if index == len(distinct) else []
            used.append((index, weight, start))
            start += len(vectoriser.vocabulary_)
        uses.append(used)
    sizes = [len(vectoriser.vocabulary_) for vectoriser in distinct]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    widths = [np.atleast_2d(classifier.coef_).shape[0] for _, classifier in parts]
    if offsets[-1] * sum(widths) > max_weights:
        return None
    return _assemble(distinct, offsets, parts, uses, widths)


def _assemble(
    distinct: list[TfidfVectorizer],
    offsets: np.ndarray,
    parts: list[tuple[list[tuple[TfidfVectorizer, float]], Any]],
    uses: list[list[tuple[int, float, int]]],
    widths: list[int],
) -> CompiledMembers:
    """The weight matrix: each member's coefficients of each block, times the block's weight, at its columns."""
    weights = np.zeros((int(offsets[-1]), sum(widths)))
    intercepts, columns, binary, classes = [], [], [], []
    first = 0
    for (_, classifier), used, width in zip(parts, uses, widths, strict=True):
        coef = classifier.coef_.toarray() if sparse.issparse(classifier.coef_) else np.asarray(classifier.coef_)
        coef = np.atleast_2d(coef).astype(np.float64)
        for index, weight, start in used:
            size = offsets[index + 1] - offsets[index]
            weights[offsets[index] : offsets[index + 1], first : first + width] += (
                weight * coef[:, start : start + size].T
            )
        intercepts.append(np.broadcast_to(np.asarray(classifier.intercept_, dtype=np.float64), (width,)))
        columns.append(slice(first, first + width))
        binary.append(width == 1 and not getattr(type(classifier), LINEAR_DECISION, False))
        classes.append(np.asarray(classifier.classes_))
        first += width
    blocks = tuple(_compile_block(vectoriser, int(offsets[i])) for i, vectoriser in enumerate(distinct))
    return CompiledMembers(
        blocks=blocks,
        weighing=_shared_weighing(blocks),
        weights=np.ascontiguousarray(weights),
        intercepts=np.concatenate(intercepts),
        columns=tuple(columns),
        binary=tuple(binary),
        classes=tuple(classes),
        spread=np.arange(weights.shape[1]),
    )


class _Predicts(ABC):
    """``predict`` (labels only) of a compiled model, for what times or calls models by it."""

    @abstractmethod
    def predict_scored(self, texts: Sequence[str]) -> ScoredPredictions:
        """Labels and scores, as :func:`~components.models.scoring.predict_with_scores` gives them."""

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The labels of ``predict_scored``."""
        return np.asarray(self.predict_scored(texts).labels)


@dataclass(frozen=True, eq=False)
class CompiledVote(_Predicts):
    """A vote over its members' decision functions (``scored_from_decisions``) with compiled members."""

    vote: Any
    members: CompiledMembers

    def predict_scored(self, texts: Sequence[str]) -> ScoredPredictions:
        """Labels and scores of the vote, its members' decision functions computed once."""
        return self.vote.scored_from_decisions(self.members.decision_functions(texts))


@dataclass(frozen=True, eq=False)
class CompiledMajority(_Predicts):
    """A hard majority vote (:class:`~components.models.trained.MajorityVote`) with compiled members."""

    members: CompiledMembers

    def predict_scored(self, texts: Sequence[str]) -> ScoredPredictions:
        """The voted labels and each class's share of the votes (``vote_share``)."""
        votes = [[str(label) for label in labels] for labels in self.members.predictions(texts)]
        classes, shares = vote_shares(votes)
        return ScoredPredictions(vote(votes), classes, shares, "vote_share")


@dataclass(frozen=True, eq=False)
class CompiledLinear(_Predicts):
    """One linear pipeline without ``predict_proba``: its labels and the softmax of its decision function."""

    members: CompiledMembers

    def predict_scored(self, texts: Sequence[str]) -> ScoredPredictions:
        """Labels (the pipeline's ``predict``) and ``softmax_decision`` scores."""
        decision = self.members.decision_functions(texts)[0]
        classes = self.members.classes[0]
        labels = classes[(decision > 0).astype(int)] if decision.ndim == 1 else classes[decision.argmax(axis=1)]
        scores = decision_softmax(decision)
        return ScoredPredictions([str(p) for p in labels], [str(c) for c in classes], scores, "softmax_decision")


CompiledModel = CompiledVote | CompiledMajority | CompiledLinear


def compile_model(model: Any, max_weights: int = MAX_WEIGHTS) -> CompiledModel | None:
    """The compiled form of a fitted text → label model, or None when it has none (the plain path then serves).

    Compiles a vote with ``members`` and ``scored_from_decisions`` (the from-scratch calibrated vote), a
    :class:`~components.models.trained.MajorityVote`, alone or as the only step of a pipeline, and a single
    ``features → linear classifier`` pipeline without ``predict_proba`` (whose scores are then its decision
    function's softmax, as :func:`~components.models.scoring.predict_with_scores` gives them).

    Args:
        model: The fitted model.
        max_weights: Most entries of the weight matrix (:data:`MAX_WEIGHTS`).
    """
    steps = getattr(model, "steps", None)
    final = steps[0][1] if isinstance(model, Pipeline) and len(steps) == 1 else model
    if hasattr(final, "members") and callable(getattr(final, "scored_from_decisions", None)):
        members = compile_members(final.members, max_weights)
        return None if members is None else CompiledVote(final, members)
    if type(final) is MajorityVote:
        members = _predicting(final.members, max_weights)
        return None if members is None else CompiledMajority(members)
    if pipeline_parts(model) is not None and not hasattr(model, "predict_proba"):
        members = _predicting([model], max_weights)
        return None if members is None else CompiledLinear(members)
    return None


def _predicting(members: Sequence[Any], max_weights: int) -> CompiledMembers | None:
    """:func:`compile_members` for members whose labels are used: each ``predict`` must be its decision's arg-max."""
    parts = [pipeline_parts(member) for member in members]
    if any(part is None or not _predicts_by_decision(part[1]) for part in parts):
        return None
    return compile_members(members, max_weights)
