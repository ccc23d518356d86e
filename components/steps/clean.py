"""Clean: repair and normalise texts, drop rows no model should see, and count what every rule did.

Per split (:func:`clean_texts`), in this order, each rule switchable by a parameter of
:class:`CleaningOptions` (rules 1b-5 are :meth:`components.text.rules.TextNormaliser.rules`, the very functions the
served model applies to every text it is sent):

1. ``label_map``: labels renamed (e.g. ``happy→joy``), only when a map is given;
1b. control characters (NUL and the other C0 controls but tab and line breaks, DEL) become a space
    (``control_characters``, always; a NUL no longer cuts a text);
2. ``unescape_html``: HTML entities (``&quot;``, ``&amp;``, also double-escaped ``&amp;quot;``) unescaped;
3. ``fix_mojibake``: mojibake repaired with ftfy (``Ã©→é``); what ftfy can only restore as U+FFFD
   (the ``ï¿½`` of the tweet file: the original character is lost) becomes a space;
4. ``url_token`` / ``mention_token``: URLs (with a scheme, ``www.``, a domain followed by a path such as
   ``bit.ly/x``, or a bare ``.com``/``.net``/``.org`` domain) and @mentions replaced by placeholder tokens;
   when mentions are replaced, a leading retweet marker ``RT @user:`` is removed first (``retweets``);
5. white space collapsed and trimmed, texts lower-cased (``lowercase``);
6. rows with an empty text (nothing left but white space and placeholders) or an empty label dropped;
7. ``conflict_policy``: texts repeated with different labels dropped, kept, or reduced to their majority label;
8. ``drop_duplicates``: exact repeats of a text and label dropped.

"Repeated" (rules 7, 8 and leakage) means the same :func:`match_key`: the word tokens the models' analyzers
see (scikit-learn's default ``token_pattern`` over the lower-cased, accent-stripped text without zero-width
characters), so ``great!`` and ``Great`` are one text; a text without any such token is matched on itself.

Across splits (:func:`clean_splits`): ``leakage`` (texts in both training and test data, compared on their match
key after the rules above; removed from training by default), ``min_class_count`` / ``small_classes`` (training
classes too small to learn), ``unseen_test_labels`` (test labels the model can never predict). Every refusal is
a :class:`~components.steps.ingest.DataError` naming the split's files, the labels and the parameter to change.
Near-duplicates (test texts whose token set has a Jaccard similarity of at least :data:`NEAR_DUPLICATE_JACCARD`
with a training text's, see :func:`near_duplicates`) are counted for the report, not dropped.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd

from components.checks.errors import DataError, ParameterError
from components.reporting.markdown import cell, code, table
from components.text.rules import CONTROL, TextNormaliser, fix_mojibake, unescape_html  # noqa: F401 (the rules' home)
from components.text.rules import WHITESPACE as _WHITESPACE

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token_pattern
_ZERO_WIDTH = re.compile("[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")  # soft hyphen, zero-width, direction marks
_KEY = "__match_key"  # the column holding each row's match_key while cleaning runs
NEAR_DUPLICATE_JACCARD = 0.9
CONFLICT_POLICIES = ("drop", "keep", "majority")
SMALL_CLASS_POLICIES = ("refuse", "drop")
UNSEEN_LABEL_POLICIES = ("refuse", "drop")
LEAKAGE_POLICIES = ("drop_train", "drop_test", "keep", "refuse")
LABEL_CASE_POLICIES = ("merge", "keep")
EXAMPLES = 5


@dataclass(frozen=True)
class CleaningOptions:
    """Every cleaning rule's parameter, with its default.

    Attributes:
        unescape_html: Unescape HTML entities.
        fix_mojibake: Repair mojibake with ftfy.
        url_token: Replaces URLs; empty to leave URLs as they are.
        mention_token: Replaces @mentions; empty to leave them as they are.
        lowercase: Lower-case texts (white space is always collapsed and trimmed).
        label_map: Old label → new label, applied to training and test labels; empty: labels unchanged.
        conflict_policy: Texts repeated with different labels: ``drop`` every row, ``keep`` them, or keep
            the ``majority`` label (every row dropped on a tie).
        drop_duplicates: Drop exact repeats of a text and label.
        min_class_count: Training classes with fewer rows (after cleaning) are handled by ``small_classes``.
        small_classes: ``refuse`` (error) or ``drop`` the small classes from training and test.
        unseen_test_labels: Test labels absent from training: ``refuse`` (error) or ``drop`` those test rows.
        leakage: Texts in both training and test: ``drop_train`` (default), ``drop_test``, ``keep`` or ``refuse``.
        label_case: Labels differing only in case (``Joy``, ``joy``): ``merge`` them into the spelling most training
            rows have (default; counted in the data report) or ``keep`` them as separate classes.
    """

    unescape_html: bool = True
    fix_mojibake: bool = True
    url_token: str = "xxurl"
    mention_token: str = "xxuser"
    lowercase: bool = True
    label_map: Mapping[str, str] = field(default_factory=dict)
    conflict_policy: str = "drop"
    drop_duplicates: bool = True
    min_class_count: int = 10
    small_classes: str = "refuse"
    unseen_test_labels: str = "refuse"
    leakage: str = "drop_train"
    label_case: str = "merge"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("label_case", LABEL_CASE_POLICIES),
            ("conflict_policy", CONFLICT_POLICIES),
            ("small_classes", SMALL_CLASS_POLICIES),
            ("unseen_test_labels", UNSEEN_LABEL_POLICIES),
            ("leakage", LEAKAGE_POLICIES),
        ):
            if getattr(self, name) not in allowed:
                raise ParameterError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}")
        count = self.min_class_count
        if isinstance(count, bool) or not isinstance(count, int | float) or count != int(count):
            raise ParameterError(f"min_class_count must be an integer, got {count!r}")
        object.__setattr__(self, "min_class_count", int(count))
        if self.min_class_count < 1:
            raise ParameterError(f"min_class_count must be >= 1, got {self.min_class_count}")
        if not isinstance(self.label_map, Mapping):
            raise ParameterError(f"label_map must be a mapping old → new label, got {self.label_map!r}")
        bad = {k: v for k, v in self.label_map.items() if not str(k).strip() or not str(v).strip()}
        if bad:
            raise ParameterError(f"label_map: blank old or new label in {bad}")
        for name in ("url_token", "mention_token"):
            token = getattr(self, name)
            if token and _WHITESPACE.search(token):
                raise ParameterError(f"{name} must be one word without spaces, got {token!r}")

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["label_map"] = dict(self.label_map)
        return out


@dataclass
class CleaningReport:
    """What cleaning did to one split.

    Attributes:
        rows_in: Rows before cleaning.
        rows_out: Rows after cleaning.
        dropped: Rows removed by each rule, in the order the rules ran.
        changed: Rows whose text (or label, for ``label_map``) a rule modified.
        label_counts_before: Rows per label before cleaning (blank labels left out).
        label_counts: Rows per label after cleaning.
        duplicates: Texts seen more than once after normalisation (``texts``) and their extra rows (``rows``).
        conflicts: Texts with more than one label (``texts``), their rows, and a few examples.
        text_length: Character and word length statistics of the texts ``before`` and ``after`` cleaning.
        sources: Rows per source file before cleaning.
    """

    rows_in: int
    rows_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)
    label_counts_before: dict[str, int] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    conflicts: dict[str, Any] = field(default_factory=dict)
    text_length: dict[str, dict[str, float]] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def drop(self, frame: pd.DataFrame, mask: pd.Series, rule: str) -> pd.DataFrame:
        """Removes the rows of ``mask`` and counts them under ``rule``."""
        self.dropped[rule] = self.dropped.get(rule, 0) + int(mask.sum())
        return frame[~mask]


@dataclass
class CleanResult:
    """Cleaned training and test rows with the statistics of :func:`clean_splits`."""

    train: pd.DataFrame
    test: pd.DataFrame
    stats: dict[str, Any]


def match_key(text: str) -> str:
    """What the models' word analyzers see of ``text``: its tokens, space separated; the text itself if none.

    Zero-width characters removed, NFKD accents stripped (``café`` → ``cafe``), lower-cased, then scikit-learn's
    default ``token_pattern`` (words of two or more characters): punctuation, ``#``, one-character words and
    spacing drop out. A text without such a word (``:)``, an emoji) is its own key, unchanged.
    """
    stripped = _ZERO_WIDTH.sub("", text)
    if not stripped.isascii():
        stripped = "".join(c for c in unicodedata.normalize("NFKD", stripped) if not unicodedata.combining(c))
    return " ".join(_TOKEN.findall(stripped.lower())) or text


def text_length_stats(texts: Iterable[str]) -> dict[str, float]:
    """Count, min, mean, median, 95th percentile and max of the texts' lengths in characters and words."""
    series = pd.Series(list(texts), dtype=str)
    out: dict[str, float] = {"count": len(series)}
    for unit, lengths in (("chars", series.str.len()), ("words", series.str.split().str.len())):
        lengths = lengths.fillna(0)
        empty = lengths.empty
        out |= {
            f"{unit}_min": 0 if empty else int(lengths.min()),
            f"{unit}_mean": 0.0 if empty else round(float(lengths.mean()), 1),
            f"{unit}_median": 0.0 if empty else float(lengths.median()),
            f"{unit}_p95": 0.0 if empty else float(lengths.quantile(0.95)),
            f"{unit}_max": 0 if empty else int(lengths.max()),
        }
    return out


def _label_counts(labels: pd.Series) -> dict[str, int]:
    counts = labels[labels != ""].value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))}


def _rewrite(texts: pd.Series, func, report: CleaningReport, rule: str) -> pd.Series:
    rewritten = texts.map(func)
    report.changed[rule] = int((rewritten != texts).sum())
    return rewritten


def _resolve_conflicts(frame: pd.DataFrame, policy: str, report: CleaningReport) -> pd.DataFrame:
    labels_per_text = frame.groupby(_KEY)["label"].nunique()
    conflicting = labels_per_text[labels_per_text > 1].index
    in_conflict = frame[_KEY].isin(conflicting)
    examples = frame[in_conflict].groupby(_KEY).agg(text=("text", "first"), labels=("label", lambda s: sorted(set(s))))
    report.conflicts = {
        "texts": len(conflicting),
        "rows": int(in_conflict.sum()),
        "policy": policy,
        "examples": [{"text": t[:120], "labels": labels} for t, labels in examples.head(EXAMPLES).values],
    }
    if policy == "keep" or not len(conflicting):
        report.dropped["conflicting_labels"] = 0
        return frame
    if policy == "drop":
        return report.drop(frame, in_conflict, "conflicting_labels")
    # majority: per conflicting text, keep the rows of its most frequent label; a tie has no majority.
    counts = frame[in_conflict].groupby([_KEY, "label"]).size().rename("n").reset_index()
    counts = counts.sort_values([_KEY, "n"], ascending=[True, False])
    top_two = counts.groupby(_KEY)["n"].apply(lambda n: n.iloc[0] > n.iloc[1])
    winners = counts.drop_duplicates(_KEY).set_index(_KEY)["label"][top_two]
    keep = frame[_KEY].map(winners) == frame["label"]
    return report.drop(frame, in_conflict & ~keep, "conflicting_labels")


def clean_texts(
    frame: pd.DataFrame,
    lowercase: bool = True,
    drop_duplicates: bool = True,
    options: CleaningOptions | None = None,
) -> tuple[pd.DataFrame, CleaningReport]:
    """Cleans one ``text,label`` frame with the per-split rules (see the module docstring).

    Args:
        frame: Rows with ``text`` and ``label`` columns (other columns are kept).
        lowercase: Lower-case texts (used when ``options`` is not given).
        drop_duplicates: Drop exact repeats (used when ``options`` is not given).
        options: Every rule's parameter; ``CleaningOptions(lowercase=..., drop_duplicates=...)`` when empty.

    Returns:
        The cleaned frame (index reset) and a :class:`CleaningReport`.
    """
    options = options or CleaningOptions(lowercase=lowercase, drop_duplicates=drop_duplicates)
    normalised, report = _normalise(frame, options)
    return _finish(_drop_rows(normalised, options, report), report), report


def _normalise(frame: pd.DataFrame, options: CleaningOptions) -> tuple[pd.DataFrame, CleaningReport]:
    """Rules 1-5 of the module docstring: labels mapped, texts repaired and normalised; no row dropped."""
    missing = {"text", "label"} - set(frame.columns)
    if missing:
        raise DataError(f"clean: missing columns {sorted(missing)}; got {list(frame.columns)}")
    report = CleaningReport(rows_in=len(frame))
    out = frame.copy()
    out["text"] = out["text"].fillna("").astype(str)
    out["label"] = out["label"].fillna("").astype(str).str.strip()
    if "source" in out:
        report.sources = {str(k): int(v) for k, v in out["source"].value_counts(sort=False).items()}
    report.label_counts_before = _label_counts(out["label"])
    report.text_length["before"] = text_length_stats(out["text"])

    if options.label_map:
        label_map = {str(k).strip(): str(v).strip() for k, v in options.label_map.items()}
        out["label"] = _rewrite(out["label"], lambda label: label_map.get(label, label), report, "label_map")
    for rule, func in TextNormaliser.from_dict(options.to_dict()).rules():  # the served model's rules, in order
        if rule != "control_characters" or out["text"].str.contains(CONTROL).any():  # counted where present (rare)
            out["text"] = _rewrite(out["text"], func, report, rule)
    out[_KEY] = out["text"].map(match_key)
    return out, report


def _drop_rows(out: pd.DataFrame, options: CleaningOptions, report: CleaningReport) -> pd.DataFrame:
    """Rules 6-8 of the module docstring: empty texts and labels, conflicting labels, exact duplicates."""
    placeholders = {t for t in (options.url_token, options.mention_token) if t}
    has_content = out["text"].map(lambda t: any(w not in placeholders for w in t.split()))  # no word lists kept
    out = report.drop(out, ~has_content.astype(bool), "empty_text")
    out = report.drop(out, out["label"] == "", "empty_label")

    repeats = out[_KEY].duplicated()
    report.duplicates = {"texts": int(out.loc[repeats, _KEY].nunique()), "rows": int(repeats.sum())}
    out = _resolve_conflicts(out, options.conflict_policy, report)
    if options.drop_duplicates:
        out = report.drop(out, out.duplicated(subset=[_KEY, "label"]), "exact_duplicates")
    return out


def _finish(frame: pd.DataFrame, report: CleaningReport) -> pd.DataFrame:
    frame = frame.drop(columns=_KEY).reset_index(drop=True)
    report.rows_out = len(frame)
    report.label_counts = _label_counts(frame["label"])
    report.text_length["after"] = text_length_stats(frame["text"])
    return frame


def _files(report: CleaningReport, split: str) -> str:
    return f"{split} data ({', '.join(report.sources) or 'no source column'})"


def _leakage(
    train: pd.DataFrame, test: pd.DataFrame, reports: dict[str, CleaningReport], policy: str
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    shared = set(train[_KEY]) & set(test[_KEY])
    in_train, in_test = train[_KEY].isin(shared), test[_KEY].isin(shared)
    train_labels = train[in_train].groupby(_KEY)["label"].agg(set)
    test_labels = test[in_test].groupby(_KEY)["label"].agg(set)
    disagree = sum(1 for t in shared if train_labels[t] != test_labels[t])
    info = {
        "policy": policy,
        "matched_on": "analyzer tokens (match_key)",
        "texts": len(shared),
        "texts_same_string": len(set(train["text"]) & set(test["text"])),  # what matching whole strings finds
        "train_rows": int(in_train.sum()),
        "test_rows": int(in_test.sum()),
        "label_disagreements": disagree,
        "examples": sorted(test.loc[in_test, "text"].drop_duplicates().str[:120])[:EXAMPLES],
    }
    if shared and policy == "refuse":
        raise DataError(
            f"leakage: {len(shared)} texts ({info['test_rows']} test rows) of {_files(reports['test'], 'test')} are "
            f"also in {_files(reports['train'], 'training')}, e.g. {info['examples'][0]!r}; a score on them "
            "measures memory, not generalisation (set leakage to drop_train, drop_test or keep)"
        )
    if policy == "drop_train":
        train = reports["train"].drop(train, in_train, "leakage")
    elif policy == "drop_test":
        test = reports["test"].drop(test, in_test, "leakage")
    for split, left in (("training", train), ("test", test)):
        if left.empty:
            raise DataError(
                f"leakage: every {split} row left was also in the other split ({len(shared)} texts; leakage={policy} "
                f"removed them): the test file is the training file or contains it ({_files(reports['test'], 'test')})"
                "; give another test file, or none to hold out a split"
            )
    return train, test, info


def _small_classes(
    train: pd.DataFrame, test: pd.DataFrame, reports: dict[str, CleaningReport], options: CleaningOptions
) -> tuple[pd.DataFrame, pd.DataFrame]:
    counts = train["label"].value_counts()
    small = counts[counts < options.min_class_count]
    if small.empty:
        return train, test
    if options.small_classes == "refuse":
        raise DataError(
            f"{_files(reports['train'], 'training')}: classes with fewer than min_class_count="
            f"{options.min_class_count} rows after cleaning: {small.to_dict()}; fix or merge their labels "
            "(label_map), lower min_class_count, or set small_classes=drop"
        )
    train = reports["train"].drop(train, train["label"].isin(small.index), "small_classes")
    test = reports["test"].drop(test, test["label"].isin(small.index), "small_classes")
    return train, test


def _unseen_labels(
    train: pd.DataFrame, test: pd.DataFrame, reports: dict[str, CleaningReport], policy: str
) -> pd.DataFrame:
    unseen = ~test["label"].isin(set(train["label"]))
    if not unseen.any():
        return test
    if policy == "refuse":
        counts = test.loc[unseen, "label"].value_counts().to_dict()
        raise DataError(
            f"{_files(reports['test'], 'test')}: labels not in the training data after cleaning: {counts}; "
            f"training has {sorted(set(train['label']))}. Map them with label_map, or set "
            "unseen_test_labels=drop to leave those test rows out"
        )
    return reports["test"].drop(test, unseen, "unseen_label")


def _check_labels(train: pd.DataFrame, test: pd.DataFrame, options: CleaningOptions) -> dict[str, list[str]]:
    """Refuses a ``label_map`` naming a label the data does not have; finds labels that differ only in case.

    Returns:
        Lower-cased label → its spellings, for labels spelt in several cases after ``label_map`` (``Joy`` and
        ``joy`` are two classes: reported, merged only by a ``label_map``).

    Raises:
        DataError: A ``label_map`` key is no label of the training or test data.
    """
    labels = {str(v).strip() for frame in (train, test) for v in frame["label"].fillna("")} - {""}
    unknown = sorted({str(k).strip() for k in options.label_map} - labels)
    if unknown:
        raise DataError(
            f"label_map: {unknown} not among the data's labels {sorted(labels)[:30]}; fix the map (CLI --label-map)"
        )
    mapped = {options.label_map.get(label, label) for label in labels}
    spellings: dict[str, set[str]] = {}
    for label in mapped:
        spellings.setdefault(label.lower(), set()).add(label)
    return {key: sorted(found) for key, found in sorted(spellings.items()) if len(found) > 1}


def _case_merges(train: pd.DataFrame, variants: dict[str, list[str]], options: CleaningOptions) -> dict[str, str]:
    """Spelling → the spelling it merges into, for labels that differ only in case: the one most training rows
    have (after ``label_map``), the lower-case one on a tie."""
    counts = train["label"].fillna("").astype(str).str.strip().map(lambda x: options.label_map.get(x, x))
    counts = counts.value_counts()
    merged: dict[str, str] = {}
    for key, spellings in variants.items():
        target = max(spellings, key=lambda label: (int(counts.get(label, 0)), label == key, label))
        merged |= {label: target for label in spellings if label != target}
    return merged


def _merge_case_variants(
    train: pd.DataFrame, test: pd.DataFrame, variants: dict[str, list[str]], options: CleaningOptions
) -> tuple[CleaningOptions, dict[str, str]]:
    """The options with case variants added to the label map (``label_case=merge``), and the merges made."""
    if options.label_case != "merge" or not variants:
        return options, {}
    merged = _case_merges(train, variants, options)
    raw = {str(v).strip() for frame in (train, test) for v in frame["label"].fillna("")} - {""}
    mapped = {label: options.label_map.get(label, label) for label in raw}
    combined = {label: merged.get(target, target) for label, target in mapped.items()}
    return replace(options, label_map={k: v for k, v in combined.items() if k != v}), merged


def _refuse_empty(frames: Mapping[str, pd.DataFrame], reports: Mapping[str, CleaningReport]) -> None:
    """A split with no row left after cleaning is refused, naming its files and what each rule dropped."""
    for name, frame in frames.items():
        if frame.empty:
            raise DataError(
                f"{_files(reports[name], name)}: no rows left after cleaning "
                f"({reports[name].rows_in} in; dropped {reports[name].dropped})"
            )


def clean_splits(train: pd.DataFrame, test: pd.DataFrame, options: CleaningOptions | None = None) -> CleanResult:
    """Cleans training and test rows, removes leakage and applies the class rules.

    Args:
        train: Training rows (``text``, ``label``, usually ``source``).
        test: Held-out rows.
        options: Every rule's parameter (defaults when empty).

    Returns:
        The cleaned rows and ``stats``: ``train`` and ``test`` (:meth:`CleaningReport.to_dict`, with
        ``rows_out`` and ``label_counts``), ``leakage``, ``near_duplicates`` (:func:`near_duplicate_report`),
        ``labels`` (training labels) and ``options``.

    Raises:
        DataError: Leakage with ``leakage=refuse``, small classes with ``small_classes=refuse``, unseen test labels
            with ``unseen_test_labels=refuse``, no rows left in a split, or one training class only.
    """
    options = options or CleaningOptions()
    case_variants = _check_labels(train, test, options)
    options, merged = _merge_case_variants(train, test, case_variants, options)
    (train_norm, train_report), (test_norm, test_report) = _normalise(train, options), _normalise(test, options)
    reports = {"train": train_report, "test": test_report}
    # leakage as the raw files have it (after text normalisation, before any row is dropped), for the report
    leaked_before = test_norm[_KEY].isin(set(train_norm[_KEY]))
    train_out = _drop_rows(train_norm, options, train_report)
    test_out = _drop_rows(test_norm, options, test_report)
    _refuse_empty({"train": train_out, "test": test_out}, reports)
    train_out, test_out, leakage = _leakage(train_out, test_out, reports, options.leakage)
    leakage["test_rows_before_drops"] = int(leaked_before.sum())
    train_out, test_out = _small_classes(train_out, test_out, reports, options)
    test_out = _unseen_labels(train_out, test_out, reports, options.unseen_test_labels)
    labels = sorted(set(train_out["label"]))
    if len(labels) < 2:
        raise DataError(
            f"{_files(reports['train'], 'training')}: one class only after cleaning ({labels}); "
            f"a classifier needs at least two (dropped {reports['train'].dropped})"
        )
    if test_out.empty:
        raise DataError(f"{_files(reports['test'], 'test')}: no rows left (dropped {reports['test'].dropped})")
    near = near_duplicate_report(test_out, train_out)
    train_out, test_out = _finish(train_out, reports["train"]), _finish(test_out, reports["test"])
    stats = {
        "train": reports["train"].to_dict(),
        "test": reports["test"].to_dict(),
        "leakage": leakage,
        "near_duplicates": near,
        "labels": labels,
        "label_case_variants": case_variants,
        "label_case": {
            "policy": options.label_case,
            "merged": merged,
            "rows": int(train_report.changed.get("label_map", 0) + test_report.changed.get("label_map", 0)),
        },
        "columns": dict(train.attrs.get("columns", {})),
        "multi_label": dict(train.attrs.get("multi_label", {})),
        "options": options.to_dict(),
    }
    return CleanResult(train_out, test_out, stats)


def _prefix_length(size: int, threshold: float) -> int:
    """Tokens of a set's prefix that any set at least ``threshold`` Jaccard-similar to it must share one of."""
    return size - math.ceil(threshold * size - 1e-9) + 1


def near_duplicates(
    test_keys: Sequence[str], train_keys: Sequence[str], threshold: float = NEAR_DUPLICATE_JACCARD
) -> dict[int, tuple[int, float]]:
    """Test texts whose token set has a Jaccard similarity of at least ``threshold`` with a different training text.

    Exact and fast through prefix filtering: with the tokens of every set ordered rarest first, two sets of
    similarity >= ``threshold`` share a token among the first ``n - ceil(threshold * n) + 1`` of each. The test
    sets' prefixes are indexed; the training texts stream past them one at a time (two passes: token frequencies,
    then probing), so memory grows with the test set and the vocabulary, not with the training rows.

    Args:
        test_keys: Test texts as space-separated tokens (:func:`match_key`).
        train_keys: Training texts, the same way.
        threshold: Smallest Jaccard similarity reported (0 < threshold <= 1).

    Returns:
        Test index → (index of its most similar training text, the first at a tie; their similarity), for the test
        texts with a similar training text whose key differs from their own (identical keys are leakage, not
        near-duplicates).
    """
    test_sets = [set(key.split()) for key in test_keys]
    frequency = Counter(token for tokens in test_sets for token in tokens)
    for key in train_keys:
        frequency.update(set(key.split()))
    rank = {token: i for i, (token, _) in enumerate(sorted(frequency.items(), key=lambda kv: (kv[1], kv[0])))}
    del frequency

    def prefix(tokens: set[str]) -> list[str]:
        return sorted(tokens, key=rank.__getitem__)[: _prefix_length(len(tokens), threshold)]

    index: dict[str, list[int]] = {}
    for i, tokens in enumerate(test_sets):
        for token in prefix(tokens):
            index.setdefault(token, []).append(i)
    found: dict[int, tuple[int, float]] = {}
    for j, key in enumerate(train_keys):
        other = set(key.split())
        for i in {i for token in prefix(other) for i in index.get(token, ())}:
            tokens = test_sets[i]
            if key == test_keys[i] or not threshold * len(tokens) <= len(other) <= len(tokens) / threshold:
                continue
            similarity = len(tokens & other) / len(tokens | other)
            if similarity >= threshold and similarity > found.get(i, (-1, 0.0))[1]:
                found[i] = (j, similarity)
    return found


def near_duplicate_report(
    test: pd.DataFrame, train: pd.DataFrame, threshold: float = NEAR_DUPLICATE_JACCARD
) -> dict[str, Any]:
    """Counts the test rows with a near-duplicate in training (:func:`near_duplicates`), with a few examples.

    Args:
        test: Cleaned test rows (``text``, ``label`` and their match keys).
        train: Cleaned training rows, the same way.
        threshold: Smallest token-set Jaccard similarity counted.

    Returns:
        ``threshold``, ``test_rows`` (test rows with a near-duplicate), ``train_rows`` (distinct training rows
        matched), ``label_disagreements`` (pairs with different labels) and ``examples`` (test and training text,
        their similarity and labels).
    """
    keys = (test[_KEY] if _KEY in test else test["text"].map(match_key)).tolist()
    train_keys = (train[_KEY] if _KEY in train else train["text"].map(match_key)).tolist()
    found = near_duplicates(keys, train_keys, threshold)
    pairs = [(test.iloc[i], train.iloc[j], similarity) for i, (j, similarity) in sorted(found.items())]
    return {
        "threshold": threshold,
        "test_rows": len(found),
        "train_rows": len({j for j, _ in found.values()}),
        "label_disagreements": sum(1 for a, b, _ in pairs if a["label"] != b["label"]),
        "examples": [
            {
                "test": a["text"][:120],
                "train": b["text"][:120],
                "jaccard": round(similarity, 3),
                "test_label": a["label"],
                "train_label": b["label"],
            }
            for a, b, similarity in pairs[:EXAMPLES]
        ],
    }


def near_duplicate_line(near: Mapping[str, Any]) -> str:
    """One line of the data report on :func:`near_duplicate_report`'s figures."""
    return (
        f"Near-duplicates (token-set Jaccard ≥ {near['threshold']}, not identical; kept): {near['test_rows']} test "
        f"rows close to {near['train_rows']} training rows, {near['label_disagreements']} with another label."
    )


def data_metrics(stats: Mapping[str, Any]) -> dict[str, float]:
    """The key counts of :func:`clean_splits` statistics as flat numbers (for a KFP ``Metrics`` artifact)."""
    out: dict[str, float] = {}
    for split in ("train", "test"):
        report = stats[split]
        out[f"{split}_rows_in"] = report["rows_in"]
        out[f"{split}_rows_out"] = report["rows_out"]
        out |= {f"{split}_dropped_{rule}": n for rule, n in report["dropped"].items()}
        out[f"{split}_conflicting_texts"] = report["conflicts"].get("texts", 0)
    out |= {f"leaked_{key}": stats["leakage"][key] for key in ("texts", "train_rows", "test_rows")}
    if "near_duplicates" in stats:
        out["near_duplicate_test_rows"] = stats["near_duplicates"]["test_rows"]
    out["labels"] = len(stats["labels"])
    out["label_case_variants"] = len(stats.get("label_case_variants", {}))
    return out


_RULE_TEXT = {
    "label_map": "labels renamed by label_map",
    "control_characters": "control characters (NUL …) replaced by a space",
    "html_entities": "HTML entities unescaped",
    "mojibake": "mojibake repaired (ftfy)",
    "urls": "URLs replaced by url_token",
    "mentions": "@mentions replaced by mention_token",
    "retweets": "leading RT @user: removed (with mention_token)",
    "whitespace_case": "white space / case normalised",
    "empty_text": "empty text (after placeholders)",
    "empty_label": "empty label",
    "conflicting_labels": "same text, different labels (conflict_policy)",
    "exact_duplicates": "exact duplicate text and label",
    "leakage": "text also in the other split (leakage)",
    "small_classes": "class under min_class_count",
    "unseen_label": "test label not in training",
}


def render_data_report(stats: Mapping[str, Any]) -> str:
    """Renders :func:`clean_splits` statistics as Markdown: rows per rule, classes, conflicts, leakage, lengths.

    Also accepts the older ``{"train": report_dict, "test": report_dict}`` form (missing sections are skipped).

    Returns:
        The report: an overview, then one section after the other.
    """
    reports = {split: stats[split] for split in ("train", "test") if split in stats}
    leakage = stats.get("leakage")
    lines = [
        *_overview_lines(reports, leakage),
        *_rules_section(reports),
        *_classes_section(reports),
        *_duplicates_section(reports),
    ]
    if leakage and leakage["examples"]:
        lines += ["## Leakage examples", "", *(f"- {cell(t)}" for t in leakage["examples"]), ""]
    if "near_duplicates" in stats:
        lines += [near_duplicate_line(stats["near_duplicates"]), ""]
    for spellings in stats.get("label_case_variants", {}).values():
        names = ", ".join(cell(label) for label in spellings)
        lines += [
            f"**Warning:** labels {names} differ only in case and are separate classes; merge them with "
            f"label_map (e.g. --label-map {cell(spellings[0])}={cell(spellings[-1])}).",
            "",
        ]
    lines += _length_section(reports)
    for uri, multi in stats.get("multi_label", {}).items():
        lines += [
            f"Multi-label rows ({code(uri)}): {multi['rows']} rows listed several labels; policy "
            f"`{multi['policy']}`: {multi['rows_before']} rows became {multi['rows_after']}.",
            "",
        ]
    if stats.get("columns"):
        used = (
            f"- {code(uri)}: text {code(c['text'])}, label {code(c['label'])}" for uri, c in stats["columns"].items()
        )
        lines += ["## Columns used", "", *used, ""]
    if "options" in stats:
        lines += ["## Parameters", "", *(f"- `{k}`: {code(v)}" for k, v in stats["options"].items()), ""]
    return "\n".join(lines)


def _overview_lines(reports: Mapping[str, Mapping[str, Any]], leakage: Mapping[str, Any] | None) -> list[str]:
    """The title and one line a split (rows in and out, sources), then one for leakage."""
    lines = ["# Data report", ""]
    for split, report in reports.items():
        sources = ", ".join(f"{code(k)} ({v})" for k, v in report.get("sources", {}).items())
        lines.append(f"- **{split}**: {report['rows_in']} rows in, {report['rows_out']} out. {sources}")
    if leakage:
        lines.append(
            f"- **leakage** (policy `{leakage['policy']}`): {leakage['texts']} texts in both splits after cleaning, "
            f"{leakage['train_rows']} training rows, {leakage['test_rows']} test rows "
            f"({leakage.get('test_rows_before_drops', '?')} test rows before rows were dropped); "
            f"{leakage['label_disagreements']} of these texts have different labels in the two splits."
        )
    return [*lines, ""]


def _rules_section(reports: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Rows each rule changed or dropped, per split, in the order the rules ran."""
    rules = list(dict.fromkeys(r for rep in reports.values() for r in [*rep.get("changed", {}), *rep["dropped"]]))
    rows = []
    for rule in rules:
        kind = "changed" if any(rule in rep.get("changed", {}) for rep in reports.values()) else "dropped"
        rows.append([rule, _RULE_TEXT.get(rule, rule), kind, *(rep[kind].get(rule, 0) for rep in reports.values())])
    return [
        "## Rows per rule",
        "",
        "Rules in the order they ran; *changed* rows are kept, *dropped* rows are not.",
        "",
        *table(["rule", "what", "kind", *reports], rows),
    ]


def _classes_section(reports: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Rows per label and split: before and after cleaning with the share after, or after only (older form)."""
    labels = sorted(
        {lab for rep in reports.values() for lab in [*rep.get("label_counts_before", {}), *rep["label_counts"]]}
    )
    header = ["label"]
    for split, rep in reports.items():
        header += [f"{split} before", f"{split} after", f"{split} after %"] if "label_counts_before" in rep else [split]
    rows = []
    for label in labels:
        row: list[Any] = [label]
        for rep in reports.values():
            after = rep["label_counts"].get(label, 0)
            share = round(100 * after / rep["rows_out"], 1) if rep["rows_out"] else 0.0
            row += [rep["label_counts_before"].get(label, 0), after, share] if "label_counts_before" in rep else [after]
        rows.append(row)
    return ["## Class distribution", "", *table(header, rows)]


def _duplicates_section(reports: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Repeated and conflicting texts per split, with the first conflicting examples; none in the older form."""
    if not all("duplicates" in rep for rep in reports.values()):
        return []
    rows = [
        [split, *rep["duplicates"].values(), *(rep["conflicts"][k] for k in ("texts", "rows", "policy"))]
        for split, rep in reports.items()
    ]
    lines = [
        "## Duplicates and conflicts",
        "",
        "After normalisation and the empty-row rules, before the duplicate rules.",
        "",
        *table(["split", "repeated texts", "extra rows", "conflicting texts", "their rows", "policy"], rows),
    ]
    examples = [(s, e) for s, rep in reports.items() for e in rep["conflicts"]["examples"]]
    if examples:
        lines += table(
            ["split", "conflicting text (first examples)", "labels"],
            [[s, e["text"], ", ".join(e["labels"])] for s, e in examples],
        )
    return lines


def _length_section(reports: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Text lengths in characters and words per split, before and after cleaning; none in the older form."""
    if not all("text_length" in rep for rep in reports.values()):
        return []
    keys = ["count", "chars_min", "chars_mean", "chars_median", "chars_p95", "chars_max", "words_mean", "words_max"]
    rows = [
        [split, stage, *(rep["text_length"][stage][k] for k in keys)]
        for split, rep in reports.items()
        for stage in ("before", "after")
        if stage in rep["text_length"]
    ]
    return ["## Text length", "", *table(["split", "stage", *keys], rows)]
