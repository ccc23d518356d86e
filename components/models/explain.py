"""Why a model predicted what it did: the words of a text that pushed it most toward its label, and each class's words.

Two ways, chosen per model:

* **Exact, for linear models** (the from-scratch vote of linear pipelines, a scikit-learn or PyCaret pipeline
  whose final estimator has ``coef_`` over TF-IDF/count columns). A linear member's score for class ``c`` is
  ``s_c = Σ_f coef[c, f]·x_f + b_c``. The weight of feature ``f`` toward class ``c`` is taken *relative to the
  other classes*: ``(coef[c, f] − mean_k coef[k, f])·x_f``, so the weights plus ``b_c − mean_k b_k`` add up
  exactly to ``s_c − mean_k s_k``, the member's margin of ``c`` over the average class (what a softmax, and so
  the vote's temperature scaling, depends on). In the soft vote each member's scores are divided by its
  temperature ``T_m`` and the ``M`` members are averaged: a member's weights count ``1 / (M·T_m)``. (The vote
  averages the members' *probabilities*, so this average of tempered margins is its first-order form; each
  member's part is exact.) Features become **words** of the text: a word n-gram's weight is split equally
  among its words (the cue block's n-grams too: they are words of the text), a character n-gram's goes to the
  words that contain it (in proportion to how often), and a feature of any other kind is named as itself.
  Naive Bayes (multinomial, complement) is linear in the same sense (``feature_log_prob_``). Steps between the
  vectoriser and the estimator must select columns (``SelectKBest``: AutoML's chi² columns map back to their
  terms) or leave them as they are (densifying, PyCaret's empty steps: checked on the texts).
* **Leave one word out, for the others** (the transformer, a hard vote, a non-linear AutoML model): a word's
  weight is the drop of the predicted label's score when every occurrence of it is removed from the text (one
  batched prediction of the text and its variants; at most :data:`MAX_WORDS_LEFT_OUT` distinct words a text, the
  first ones). A model with no per-class scores cannot be explained that way: :class:`ExplanationUnavailable`.

:func:`top_words` gives each class's largest word weights of a linear model (the report's table); for other models
it raises :class:`ExplanationUnavailable` with the reason.
"""

from __future__ import annotations

import contextlib
import re
import weakref
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse

from components.models.scoring import predict_with_scores

#: Words per text in an explanation.
DEFAULT_TOP = 5
#: Words per class in :func:`top_words` (the run report's table).
DEFAULT_TOP_WORDS = 15
#: Most distinct words of a text that leave-one-word-out removes (the first ones): one prediction each.
MAX_WORDS_LEFT_OUT = 64
#: Decimal places of the weights given out.
WEIGHT_DIGITS = 4
#: Vocabulary terms joined into the text that checks, when there are no texts, that the steps between a
#: vectoriser and its estimator leave the columns as they are.
PROBE_TERMS = 200
_EDGE_PUNCTUATION = re.compile(r"^\W+|\W+$")
#: Model → its linear parts (None: not linear), kept while the model lives (:func:`_parts_of`).
_PARTS: weakref.WeakKeyDictionary[Any, list[LinearPart] | None] = weakref.WeakKeyDictionary()


class ExplanationUnavailable(ValueError):
    """The model's predictions cannot be explained (the one-line reason is the message)."""


@dataclass(frozen=True)
class Block:
    """A vectoriser whose columns a linear model reads: how its features map to words.

    Attributes:
        vectoriser: The fitted vectoriser (``analyzer`` ``word``, ``char``, ``char_wb`` or a callable).
        terms: Its feature names, in column order.
        weight: Its weight in a ``FeatureUnion`` (``transformer_weights``; 1 without).
    """

    vectoriser: Any
    terms: np.ndarray
    weight: float

    @property
    def kind(self) -> str:
        analyzer = getattr(self.vectoriser, "analyzer", None)
        return analyzer if analyzer in ("word", "char", "char_wb") else "other"


@dataclass(frozen=True)
class LinearPart:
    """One linear model inside a text model: its features, their origins and its class-relative coefficients.

    Attributes:
        features: Texts → the sparse features the estimator reads (its columns).
        blocks: The vectorisers behind the columns.
        origins: Per column, ``(block index, column in that block)``.
        coef: Classes × columns: ``coef[c, f] − mean_k coef[k, f]`` (see the module docstring).
        intercept: Per class, ``b_c − mean_k b_k``.
        classes: The labels of ``coef``'s rows.
        weight: The part's share in the model's score (``1 / (M·T_m)`` in the soft vote, else 1).
    """

    features: Callable[[list[str]], sparse.csr_matrix]
    blocks: tuple[Block, ...]
    origins: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: list[str]
    weight: float = 1.0

    def relative_scores(self, texts: Sequence[str]) -> np.ndarray:
        """Texts × classes: each class's score less the mean over classes (unweighted)."""
        return np.asarray(self.features(list(texts)) @ self.coef.T) + self.intercept


def explain_texts(model: Any, texts: Sequence[str], top: int = DEFAULT_TOP) -> list[list[dict[str, Any]]]:
    """The words that pushed each prediction most toward its predicted label, with their weights.

    Args:
        model: A fitted text → label model (``predict``; see the module docstring for the two methods).
        texts: The texts, already normalised as the training texts were.
        top: Most words per text (only words with a positive weight are given).

    Returns:
        Per text, up to ``top`` ``{"feature": word, "weight": float}``, heaviest first (weights rounded).

    Raises:
        ExplanationUnavailable: The model is not linear and gives no per-class scores, or ``top`` < 1.
    """
    if top < 1:
        raise ExplanationUnavailable(f"top must be >= 1 word, got {top}")
    return [_heaviest(found, top) for found in word_weights(model, texts)]


def word_weights(model: Any, texts: Sequence[str]) -> list[dict[str, float]]:
    """Per text, every word's weight toward the predicted label (unrounded, of either sign; see the module
    docstring): exact contributions for a linear model, else leave-one-word-out drops.

    Raises:
        ExplanationUnavailable: The model is not linear and gives no per-class scores.
    """
    texts = [str(text) for text in texts]
    if not texts:
        return []
    parts = _parts_of(model, texts)
    if parts is None:
        return [_left_out_weights(model, text) for text in texts]
    labels = [str(label) for label in model.predict(texts)]
    return _linear_weights(parts, texts, labels)


def top_words(model: Any, top: int = DEFAULT_TOP_WORDS) -> dict[str, list[tuple[str, float]]]:
    """Each class's ``top`` vocabulary terms (word n-grams) of largest weight in a linear model.

    A term's weight for a class sums, over the model's linear parts and the blocks that have it (the word and cue
    blocks), ``part weight × block weight × (coef[c, term] − mean_k coef[k, term])``.

    Returns:
        Class → ``[(term, weight)]``, heaviest first, weights rounded.

    Raises:
        ExplanationUnavailable: The model is not linear over words (the reason says why).
    """
    parts = linear_parts(model, None)
    if parts is None:
        raise ExplanationUnavailable(f"{_describe(model)} is not a linear model over words: it has no word weights")
    terms, weights = [], []  # per part: its word columns' terms, and classes × those columns' weights
    for part in parts:
        word_block = np.asarray([block.kind == "word" for block in part.blocks], dtype=bool)
        scale = np.asarray([block.weight for block in part.blocks])
        columns = np.flatnonzero(word_block[part.origins[:, 0]]) if len(part.origins) else np.zeros(0, dtype=int)
        terms.append(_terms_of(part, columns))
        weights.append(part.weight * scale[part.origins[columns, 0]] * part.coef[:, columns])
    if not sum(len(found) for found in terms):
        raise ExplanationUnavailable(f"{_describe(model)} reads no word features: it has no word weights")
    unique, inverse = np.unique(np.concatenate(terms), return_inverse=True)
    totals: dict[str, np.ndarray] = {}
    for part, found, offset in zip(parts, weights, np.cumsum([0] + [len(t) for t in terms[:-1]]), strict=True):
        where = inverse[offset : offset + found.shape[1]]
        for row, label in enumerate(part.classes):
            totals.setdefault(label, np.zeros(len(unique)))
            totals[label] += np.bincount(where, weights=found[row], minlength=len(unique))
    return {label: _heaviest_terms(unique, sums, top) for label, sums in totals.items()}


def _terms_of(part: LinearPart, columns: np.ndarray) -> np.ndarray:
    """The vocabulary terms of some of a part's columns."""
    names = np.empty(len(columns), dtype=object)
    blocks = part.origins[columns, 0]
    for index, block in enumerate(part.blocks):
        chosen = blocks == index
        names[chosen] = block.terms[part.origins[columns[chosen], 1]].astype(str)
    return names


def _heaviest_terms(terms: np.ndarray, weights: np.ndarray, top: int) -> list[tuple[str, float]]:
    order = np.lexsort((terms.astype(str), -weights))[:top]  # heaviest first, ties by term
    return [(str(terms[i]), round(float(weights[i]), WEIGHT_DIGITS)) for i in order]


def _heaviest(weights: Mapping[str, float], top: int) -> list[dict[str, Any]]:
    """The ``top`` words of largest positive weight (a weight that rounds to 0 is no push), heaviest first."""
    rounded = ((round(float(w), WEIGHT_DIGITS), f) for f, w in weights.items())
    ranked = sorted(((w, f) for w, f in rounded if w > 0), key=lambda item: (-item[0], item[1]))
    return [{"feature": feature, "weight": weight} for weight, feature in ranked[:top]]


def _describe(model: Any) -> str:
    final = _final(model)
    return type(final).__name__


def _final(model: Any) -> Any:
    steps = _flat_steps(model)
    return steps[-1] if steps else model


# --- the linear structure of a model -------------------------------------------------------------------------------


def linear_parts(model: Any, texts: Sequence[str] | None) -> list[LinearPart] | None:
    """The model's linear parts (one per member of a soft vote), or None when it is not linear over its features.

    Args:
        model: A fitted text → label model.
        texts: Texts that check that steps between vectoriser and estimator keep the columns (a few vocabulary
            terms are always added, so that the check never sees only zeros); None: those terms alone.
    """
    final = _final(model)
    members, temperatures = getattr(final, "members", None), getattr(final, "temperatures", None)
    if members is not None and temperatures is None:
        return None  # a hard vote: its labels are not a sum of member scores
    if members is not None:
        parts = []
        for member, temperature in zip(members, temperatures, strict=True):
            part = _linear_part(member, texts, 1.0 / (len(members) * float(temperature)))
            if part is None:
                return None
            parts.append(part)
        return parts
    part = _linear_part(model, texts, 1.0)
    return None if part is None else [part]


def _linear_part(pipeline: Any, texts: Sequence[str] | None, weight: float) -> LinearPart | None:
    """A text → features → linear estimator pipeline as a :class:`LinearPart`; None when it is not one."""
    steps = _flat_steps(pipeline)
    if len(steps) < 2:
        return None
    found = _coefficients(steps[-1], steps)
    blocks = _blocks(steps[0])
    if found is None or not blocks:
        return None
    origins = np.concatenate(
        [np.column_stack([np.full(len(b.terms), i), np.arange(len(b.terms))]) for i, b in enumerate(blocks)]
    ).astype(np.int64)
    probe = [*(texts or []), *_probe_texts(blocks)]  # vocabulary terms: never an all-zero check
    columns, features = _column_chain(steps[0], steps[1:-1], len(origins), probe)
    if columns is None:
        return None
    coef, intercept, classes = found
    if coef.shape[1] != len(columns):
        return None
    coef = coef - coef.mean(axis=0, keepdims=True)
    intercept = intercept - intercept.mean()
    return LinearPart(features, tuple(blocks), origins[columns], coef, intercept, classes, weight)


def _parts_of(model: Any, texts: Sequence[str]) -> list[LinearPart] | None:
    """:func:`linear_parts`, worked out once per model object (a served model explains many requests; the
    vocabulary's terms and the centred coefficients of a large model take a good part of a second)."""
    try:
        return _PARTS[model]
    except KeyError:
        pass
    except TypeError:  # a model that cannot be a weak key: worked out every time
        return linear_parts(model, texts)
    parts = linear_parts(model, texts)
    with contextlib.suppress(TypeError):
        _PARTS[model] = parts
    return parts


def _flat_steps(model: Any) -> list[Any]:
    """A pipeline's steps, nested pipelines flattened (``None``/``passthrough`` steps kept as ``None``)."""
    steps = getattr(model, "steps", None)
    if steps is None:
        return [model]
    flat: list[Any] = []
    for _, step in steps:
        if step is None or step == "passthrough":
            flat.append(None)
        else:
            flat.extend(_flat_steps(step))
    return flat


def _blocks(first: Any) -> list[Block] | None:
    """The vectorisers of the first step (a vectoriser, or a ``FeatureUnion`` of them); None for anything else."""
    transformers = getattr(first, "transformer_list", None)
    if transformers is None:
        block = _block(first, 1.0)
        return None if block is None else [block]
    weights = getattr(first, "transformer_weights", None) or {}
    blocks = []
    for name, transformer in transformers:
        if transformer == "drop":
            continue
        block = _block(transformer, float(weights.get(name, 1.0)))
        if block is None:
            return None
        blocks.append(block)
    return blocks


def _block(vectoriser: Any, weight: float) -> Block | None:
    if not hasattr(vectoriser, "vocabulary_") and not getattr(vectoriser, "no_cues_", False):
        return None  # not a fitted vocabulary vectoriser (a block without cue words has no columns)
    terms = np.asarray([], dtype=str) if getattr(vectoriser, "no_cues_", False) else vectoriser.get_feature_names_out()
    return Block(vectoriser, np.asarray(terms), weight)


def _probe_texts(blocks: Sequence[Block]) -> list[str]:
    terms = [str(term) for block in blocks for term in block.terms[:PROBE_TERMS]]
    return [" ".join(terms[: len(terms) // 2]), " ".join(terms[len(terms) // 2 :])]


def _column_chain(
    first: Any, middle: Sequence[Any], width: int, texts: Sequence[str]
) -> tuple[np.ndarray | None, Callable[[list[str]], sparse.csr_matrix]]:
    """The columns the estimator reads (indices into the vectorisers' columns) and texts → those features.

    Column selectors (``get_support``) pick columns; any other step must give back what it is given, which is
    checked on ``texts``. Returns ``(None, …)`` when a step does neither.
    """
    columns = np.arange(width)
    current: Any = first.transform(list(texts))
    for step in middle:
        if step is None:
            continue
        if hasattr(step, "get_support"):
            chosen = np.asarray(step.get_support(indices=True))
            columns, current = columns[chosen], step.transform(current)
            continue
        after = step.transform(current)
        if not _same_values(current, after):
            return None, first.transform
        current = after
    if _width(current) != len(columns):
        return None, first.transform

    def features(batch: list[str]) -> sparse.csr_matrix:
        return sparse.csr_matrix(first.transform(batch), dtype=np.float64)[:, columns]

    return columns, features


def _dense(values: Any) -> np.ndarray:
    return values.toarray() if sparse.issparse(values) else np.asarray(values, dtype=np.float64)


def _width(values: Any) -> int:
    return int(values.shape[1]) if len(getattr(values, "shape", ())) == 2 else -1


def _same_values(before: Any, after: Any) -> bool:
    try:
        first, second = _dense(before), _dense(after)
    except (TypeError, ValueError):
        return False
    return first.shape == second.shape and np.allclose(first, second, rtol=1e-6, atol=1e-7)


def _coefficients(estimator: Any, steps: Sequence[Any]) -> tuple[np.ndarray, np.ndarray, list[str]] | None:
    """``(coef, intercept, classes)`` of a linear estimator (classes × columns); None when it is not linear.

    A binary model's one row of ``coef`` becomes two, ``[−w/2, w/2]`` (as its decision function is read); an
    estimator fitted on label codes (a PyCaret pipeline's, or a ``DecodedClassifier``'s) has its codes named.
    """
    names: Sequence[Any] | None = None
    if hasattr(estimator, "estimator") and hasattr(estimator, "classes") and not hasattr(estimator, "coef_"):
        names, estimator = list(estimator.classes), estimator.estimator  # a DecodedClassifier
    classes = getattr(estimator, "classes_", None)
    weights = _weights(estimator)
    if classes is None or weights is None:
        return None
    coef, intercept = weights
    if coef.shape[0] == 1 and len(classes) == 2:
        coef, intercept = np.vstack([-coef[0] / 2, coef[0] / 2]), np.asarray([-intercept[0] / 2, intercept[0] / 2])
    if coef.shape[0] != len(classes):
        return None
    names = names if names is not None else _label_names(steps)
    try:
        labels = [str(names[int(c)]) if names is not None else str(c) for c in classes]
    except (IndexError, TypeError, ValueError):  # classes that are not codes: they are the labels
        labels = [str(c) for c in classes]
    return coef, intercept, labels


def _weights(estimator: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """A linear estimator's coefficients (2-D) and intercepts; naive Bayes by its log probabilities."""
    kind = type(estimator).__name__
    if kind in ("MultinomialNB", "ComplementNB") and hasattr(estimator, "feature_log_prob_"):
        coef = np.asarray(estimator.feature_log_prob_, dtype=np.float64)
        with_prior = kind == "MultinomialNB" or len(coef) == 1  # ComplementNB adds its prior for one class only
        return coef, np.asarray(estimator.class_log_prior_ if with_prior else np.zeros(len(coef)), dtype=np.float64)
    coef = getattr(estimator, "coef_", None)
    if coef is None:
        return None
    coef = np.atleast_2d(coef.toarray() if sparse.issparse(coef) else np.asarray(coef, dtype=np.float64))
    intercept = np.asarray(getattr(estimator, "intercept_", 0.0), dtype=np.float64)
    return coef, np.broadcast_to(intercept, (len(coef),)).copy()


def _label_names(steps: Sequence[Any]) -> Sequence[Any] | None:
    """The labels a pipeline's label encoder (PyCaret's, wrapped as ``transformer``) decodes codes to, if any."""
    for step in steps:
        encoder = getattr(step, "transformer", None)
        if encoder is not None and hasattr(encoder, "classes_") and hasattr(encoder, "inverse_transform"):
            return list(encoder.classes_)
    return None


# --- weights of the words of a text --------------------------------------------------------------------------------


def _linear_weights(parts: Sequence[LinearPart], texts: list[str], labels: list[str]) -> list[dict[str, float]]:
    """Per text, word → its weight toward the text's label, summed over the linear parts."""
    found: list[defaultdict[str, float]] = [defaultdict(float) for _ in texts]
    for part in parts:
        missing = sorted(set(labels) - set(part.classes))
        if missing:
            raise ExplanationUnavailable(f"labels {missing} are not among the model's classes {part.classes}")
        rows = np.asarray([part.classes.index(label) for label in labels])
        matrix = part.features(texts).tocsr()
        matrix.eliminate_zeros()
        text_of = np.repeat(np.arange(len(texts)), np.diff(matrix.indptr))
        contributions = part.weight * part.coef[rows[text_of], matrix.indices] * matrix.data
        for index, column, contribution in zip(text_of, matrix.indices, contributions, strict=True):
            block_index, term_index = part.origins[column]
            block = part.blocks[block_index]
            for word, share in _words_of(block, str(block.terms[term_index]), texts[index]):
                found[index][word] += share * float(contribution)
    return [dict(words) for words in found]


def _words_of(block: Block, term: str, text: str) -> list[tuple[str, float]]:
    """The words a feature's weight goes to, with their shares (summing to 1)."""
    if block.kind == "word":
        words = term.split(" ")
        return [(word, 1.0 / len(words)) for word in words]
    if block.kind in ("char", "char_wb"):
        preprocess = block.vectoriser.build_preprocessor()
        counts: dict[str, int] = defaultdict(int)
        for token in preprocess(text).split():
            occurrences = _overlapping(f" {token} " if block.kind == "char_wb" else token, term)
            if occurrences:
                counts[_EDGE_PUNCTUATION.sub("", token) or token] += occurrences
        total = sum(counts.values())
        if total:
            return [(word, count / total) for word, count in counts.items()]
    return [(term.strip() or term, 1.0)]


def _overlapping(haystack: str, needle: str) -> int:
    return sum(1 for start in range(len(haystack) - len(needle) + 1) if haystack.startswith(needle, start))


def _left_out_weights(model: Any, text: str) -> dict[str, float]:
    """Word → drop of the predicted label's score when every occurrence of the word is left out of ``text``."""
    tokens = text.split()
    words = list(dict.fromkeys(tokens))[:MAX_WORDS_LEFT_OUT]
    variants = [" ".join(token for token in tokens if token != word) for word in words]
    scored = predict_with_scores(model, [text, *variants])
    if scored.score_kind == "label_only":
        raise ExplanationUnavailable(
            f"{_describe(model)} gives no per-class scores, so leaving words out cannot measure them"
        )
    label = scored.labels[0]
    if label not in scored.classes:
        raise ExplanationUnavailable(f"{_describe(model)} gives no score for its own label {label!r}")
    column = scored.scores[:, scored.classes.index(label)]
    return {word: float(column[0] - column[1 + index]) for index, word in enumerate(words)}


def top_words_record(model: Any, top: int = DEFAULT_TOP_WORDS) -> dict[str, Any]:
    """:func:`top_words` as the run records it (JSON): ``{"top": n, "classes": {class: [[term, weight], …]}}``, or
    ``{"unavailable": reason}`` for a model that has none (or whose weights cannot be read: never an error)."""
    try:
        found = top_words(model, top)
    except ExplanationUnavailable as err:
        return {"unavailable": str(err)}
    except (AttributeError, IndexError, TypeError, ValueError) as err:  # the report must not fail the run
        return {"unavailable": f"its word weights could not be read ({type(err).__name__}: {str(err)[:200]})"}
    return {
        "top": top,
        "classes": {label: [[term, weight] for term, weight in words] for label, words in found.items()},
    }
