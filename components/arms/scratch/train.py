"""Train from scratch: a budgeted search over text features and linear models, refitted as one text → label model.

The search carves a stratified validation split out of the *training* rows (the held-out test set is never
seen), scores every candidate on it, then refits a vote of the best candidate of each classifier (``members``)
on all training rows: by default a soft vote of their calibrated probabilities with a class-prior correction,
both fitted on that validation split (:mod:`components.arms.scratch.voting`), or a majority vote (``vote``).
Candidates are drawn from a search space (scikit-learn ``ParameterSampler`` format: a dict or a list of dicts of
value lists) in a seeded order (round robin over the entries of a list of spaces); feature blocks are fitted once
per configuration and reused across candidates. Every default (space, vote, members) was chosen by 5-fold
cross-validation of the training rows, never on a test set (docs/RESULTS.md, benchmarks/ablation.py).

Features (a ``FeatureUnion`` of TF-IDF blocks):
    * ``word``: word n-grams (``word_ngram_max``, ``min_df``, ``sublinear_tf``);
    * ``cue``: word n-grams over the ``cue_window`` words after a feeling verb (see
      :class:`components.arms.scratch.cues.CueWindow`), weighted by ``cue_weight``; 0 turns it off;
    * ``char``: character n-grams within word boundaries, 2 to ``char_ngram_max``; 0 turns it off.

Classifiers: ``linear_svc``, ``nbsvm`` (:class:`components.arms.scratch.nbsvm.NBSVM`), ``logistic_regression``
(liblinear), ``sgd`` (modified Huber), ``ridge`` and ``complement_nb``, with ``penalty`` (l1/l2/elasticnet where
the model has one), ``C`` or ``alpha`` and ``class_weight``.

The budget is a wall-clock budget for search *and* refit. Each candidate runs in a forked process
(:class:`components.runtime.processes.TimedRun`, ``workers`` at a time) with a limit of the time left minus the
estimated refit of the vote's members so far, and is killed and listed as ``timeout`` when over
(a result that raises that estimate shortens the limit of the candidates still running); candidates with no time
left are listed as ``skipped``. A candidate's refit estimate is its fit time plus that of the feature blocks it
reused from earlier candidates (a refit fits every block again), scaled to the refit's rows; the vote's members are
refitted in parallel on ``workers`` processes. The vote drops its weakest members when their estimated refit
would not fit. The refit itself runs to completion (the result needs a
model), so a run can pass its budget only by the error of that estimate. Data larger than twice
:data:`PROBE_ROWS` are sized first (:mod:`components.models.sizing`): the first candidate is timed on two small
samples, and when search and refit on all rows would not fit, the search runs on a stratified sample and the
refit on as many rows as fit (both in the search report and the model's ``rows`` parameter); a budget too small
even for the smallest search is refused at once with the estimate.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, RidgeClassifier, SGDClassifier
from sklearn.model_selection import ParameterGrid, ParameterSampler, train_test_split
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from components.arms.scratch.cues import CueVectorizer, CueWindow
from components.arms.scratch.nbsvm import NBSVM
from components.arms.scratch.voting import CalibratedVote, calibrate, decision_scores, mean_log_proba
from components.checks.errors import ParameterError
from components.checks.options import check_choice, check_number
from components.models.sizing import FitCost, RowPlan, plan_rows
from components.models.trained import MajorityVote, TrainedModel, score, vote
from components.runtime.processes import TimedRun, wait_any

#: Values a candidate takes for every parameter its search-space entry does not set.
DEFAULT_PARAMS: dict[str, Any] = {
    "classifier": "linear_svc",
    "penalty": "l2",
    "C": 0.5,
    "alpha": 1e-4,
    "class_weight": "balanced",
    "word_ngram_max": 2,
    "min_df": 1,
    "sublinear_tf": True,
    "cue_window": 0,
    "cue_ngram_max": 2,
    "cue_weight": 1.0,
    "char_ngram_max": 0,
}

#: The default search space, chosen by 5-fold cross-validation of emotion6's training rows (docs/RESULTS.md,
#: benchmarks/ablation.py): L1 LinearSVC with the cue block, and NB-SVM, whose errors differ from the SVM's; their
#: calibrated soft vote beat either alone. L1 logistic regression, L2 SVMs, SGD, ComplementNB and character
#: n-grams added nothing to that vote (and L1 logistic regression takes minutes on 14 classes), so they are left to
#: user-given spaces.
DEFAULT_SEARCH_SPACE: list[dict[str, list[Any]]] = [
    {
        "classifier": ["linear_svc"],
        "penalty": ["l1"],
        "C": [0.7, 1.0, 1.5],
        "cue_window": [3, 6, 8],
        "cue_weight": [0.7, 1.0],
    },
    {"classifier": ["nbsvm"], "C": [0.3, 1.0], "cue_window": [4, 8]},
]
#: A candidate is not started with less than this many seconds left.
MIN_CANDIDATE_SECONDS = 0.5
#: Rows of the larger timed probe fit that sizes the search to the budget (the smaller has half); data up to twice
#: this size skip the probes.
PROBE_ROWS = 4000
#: Rounds of candidates (``workers`` at a time) a sampled search is sized to afford: the first two rounds of the
#: default space hold both classifiers twice; later candidates run while time is left.
PLANNED_ROUNDS = 2
REFIT_TIMEOUT_SECONDS = 24 * 3600.0  # the refit always finishes: the result needs a model
CLASSIFIERS = ("linear_svc", "nbsvm", "logistic_regression", "sgd", "ridge", "complement_nb")
METRICS = ("macro_f1", "accuracy")
VOTES = ("soft", "majority")
MEMBER_RULES = ("diverse", "top")


def _block_specs(params: Mapping[str, Any]) -> dict[str, tuple[Any, ...]]:
    """The feature blocks a candidate uses, each as a hashable key (shared blocks are fitted once)."""
    min_df, sublinear = int(params["min_df"]), bool(params["sublinear_tf"])
    specs: dict[str, tuple[Any, ...]] = {"word": ("word", int(params["word_ngram_max"]), min_df, sublinear)}
    if int(params["cue_window"]) > 0:
        specs["cue"] = ("cue", int(params["cue_window"]), int(params["cue_ngram_max"]), sublinear)
    if int(params["char_ngram_max"]) > 0:
        specs["char"] = ("char", int(params["char_ngram_max"]), min_df, sublinear)
    return specs


def _make_block(spec: tuple[Any, ...]) -> TfidfVectorizer:
    kind, size = spec[0], spec[1]
    if kind == "word":
        return TfidfVectorizer(ngram_range=(1, size), min_df=spec[2], sublinear_tf=spec[3])
    if kind == "cue":
        # Cue texts are short: min_df 1 keeps rare emotion words, which carry the signal.
        return CueVectorizer(preprocessor=CueWindow(size), ngram_range=(1, spec[2]), sublinear_tf=spec[3])
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(2, size), min_df=spec[2], sublinear_tf=spec[3])


def build_features(params: Mapping[str, Any]) -> FeatureUnion:
    """The (unfitted) text → sparse features union of a candidate."""
    specs = _block_specs(params)
    weights = {name: (float(params["cue_weight"]) if name == "cue" else 1.0) for name in specs}
    return FeatureUnion([(name, _make_block(spec)) for name, spec in specs.items()], transformer_weights=weights)


def build_classifier(params: Mapping[str, Any], seed: int = 42) -> BaseEstimator:
    """The (unfitted) classifier of a candidate.

    Raises:
        ValueError: Unknown ``classifier``.
    """
    name, penalty, weight = params["classifier"], params["penalty"], params["class_weight"]
    c, alpha = float(params["C"]), float(params["alpha"])
    if name == "linear_svc":
        dual = penalty != "l1"  # liblinear solves L1 only in the primal
        return LinearSVC(C=c, penalty=penalty, dual=dual, class_weight=weight, random_state=seed)
    if name == "nbsvm":
        return NBSVM(C=c, penalty=penalty, class_weight=weight, random_state=seed)
    if name == "logistic_regression":
        return LogisticRegression(C=c, penalty=penalty, solver="liblinear", class_weight=weight, random_state=seed)
    if name == "sgd":
        return SGDClassifier(
            loss="modified_huber", penalty=penalty, alpha=alpha, class_weight=weight, random_state=seed, tol=1e-4
        )
    if name == "ridge":
        return RidgeClassifier(alpha=alpha, class_weight=weight, solver="sparse_cg", random_state=seed)
    if name == "complement_nb":
        return ComplementNB(alpha=alpha)
    raise ValueError(f"search space: unknown classifier {name!r}; known: {', '.join(CLASSIFIERS)}")


def check_search_space(entries: Sequence[Mapping[str, Sequence[Any]]]) -> None:
    """Refuses a search space with a key this trainer does not know, a value that is not a list, or an unknown
    classifier.

    Raises:
        ParameterError: Naming ``search_space`` and the key or value (a ``ValueError``).
    """
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ParameterError(f"search_space: each entry must be a dict of value lists, got {entry!r}")
        unknown = sorted(set(entry) - set(DEFAULT_PARAMS))
        if unknown:
            raise ParameterError(f"search_space: unknown parameters {unknown}; known: {sorted(DEFAULT_PARAMS)}")
        for key, values in entry.items():
            if isinstance(values, str) or not isinstance(values, Sequence) or not values:
                raise ParameterError(f"search_space: {key} must be a non-empty list of values, got {values!r}")
        unknown_classifiers = set(entry.get("classifier", [])) - set(CLASSIFIERS)
        if unknown_classifiers:
            raise ParameterError(
                f"search_space: unknown classifier {sorted(unknown_classifiers)}; known: {list(CLASSIFIERS)}"
            )


def sample_candidates(
    search_space: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]],
    max_candidates: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Draws up to ``max_candidates`` distinct candidates from the space, in a seeded order.

    Raises:
        ValueError: An empty space, a parameter this trainer does not know, or a value that is not a list.
    """
    entries = [search_space] if isinstance(search_space, Mapping) else list(search_space)
    if not entries or max_candidates < 1:
        raise ValueError("search_space must have at least one entry and max_candidates must be >= 1")
    check_search_space(entries)
    # Round robin over the entries (each with its own seeded sampler), so a short budget still sees every kind
    # of model; duplicates (ParameterSampler draws with replacement when a value is not a list) are dropped.
    streams = [
        iter(
            ParameterSampler(
                dict(entry), n_iter=min(max_candidates, len(ParameterGrid(dict(entry)))), random_state=seed + index
            )
        )
        for index, entry in enumerate(entries)
    ]
    seen: set[tuple[Any, ...]] = set()
    candidates: list[dict[str, Any]] = []
    while streams and len(candidates) < max_candidates:
        for stream in list(streams):
            drawn = next(stream, None)
            if drawn is None:
                streams.remove(stream)
                continue
            params = {**DEFAULT_PARAMS, **drawn}
            key = tuple(sorted((k, repr(v)) for k, v in params.items()))
            if key not in seen and len(candidates) < max_candidates:
                seen.add(key)
                candidates.append(params)
    return candidates


@dataclass(frozen=True)
class ScratchOptions:
    """The from-scratch search: its space, budget, vote and validation split, with every default.

    Attributes:
        search_space: ``ParameterSampler`` space (a dict or a list of dicts of value lists) over the keys of
            :data:`DEFAULT_PARAMS`; empty for :data:`DEFAULT_SEARCH_SPACE`.
        budget_seconds: Wall-clock budget for search and refit together.
        max_candidates: Most candidates drawn from the space.
        ensemble_size: Most members of the vote; its own validation scores are reported next to the best single
            candidate's. 1 keeps the single best candidate.
        validation_size: Fraction of the training rows held out for scoring candidates (stratified).
        metric: ``macro_f1`` or ``accuracy``: how candidates are ranked.
        seed: Seed of the split, the candidate order and the models.
        workers: Candidates fitted at once, each in its own process (one per core the step may use).
        vote: ``soft``: the members' calibrated probabilities, averaged, with the class-prior correction tuned for
            ``metric`` on the validation split (:mod:`components.arms.scratch.voting`); ``majority``: a hard vote
            (ties go to the best member). Not a pipeline parameter: chosen by cross-validation (docs/RESULTS.md).
        members: ``diverse``: the best candidate of each classifier, best first; ``top``: the best candidates,
            whatever their classifier. Not a pipeline parameter either.
    """

    search_space: Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]] = ()
    budget_seconds: float = 45.0
    max_candidates: int = 8
    ensemble_size: int = 3
    validation_size: float = 0.2
    metric: str = "macro_f1"
    seed: int = 42
    workers: int = 2  # candidates fitted at once: the 2 cores the step asks for (pipelines/config/env)
    vote: str = "soft"
    members: str = "diverse"

    def __post_init__(self) -> None:
        check_number("budget_seconds", self.budget_seconds, low=0, low_open=True)
        if self.search_space:
            space = self.search_space
            check_search_space([space] if isinstance(space, Mapping) else list(space))  # type: ignore[list-item]
        check_number("validation_size", self.validation_size, low=0, high=1, low_open=True, high_open=True)
        for name in ("max_candidates", "ensemble_size", "workers"):
            check_number(name, getattr(self, name), low=1, integer=True)
        check_number("seed", self.seed, low=0, integer=True)
        check_choice("metric", self.metric, METRICS)
        check_choice("vote", self.vote, VOTES)
        check_choice("members", self.members, MEMBER_RULES)

    @property
    def space(self) -> Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Sequence[Any]]]:
        """The space to search: :attr:`search_space`, or :data:`DEFAULT_SEARCH_SPACE` when it is empty."""
        return self.search_space or DEFAULT_SEARCH_SPACE


def train_scratch_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    options: ScratchOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> TrainedModel:
    """Searches features and linear models on a validation split of the training rows, then refits the best.

    The phases: :func:`_plan` (candidates and split), :func:`_search` (the budgeted candidates),
    :func:`_choose` (the best one and the vote) and :func:`_refit` (on all training rows).

    Args:
        texts: Training texts (already cleaned).
        labels: Their labels.
        options: Space, budget, vote, split and workers (:class:`ScratchOptions`); the defaults when ``None``.
        progress: Called with one line per candidate (e.g. :class:`components.runtime.progress.Progress`).

    Returns:
        The refitted text → label model, the chosen parameters, their validation scores and the search log.

    Raises:
        ValueError: Bad arguments, a bad search space, or fewer than two classes.
        BudgetTooSmallError: The budget cannot fit the smallest useful search (a ``ValueError``; raised after a
            probe fit of a few seconds, before any search).
        TimeoutError: No candidate finished within the budget.
    """
    report = progress or (lambda message: None)
    plan = _plan(texts, labels, options or ScratchOptions())
    if plan.rows.cost is not None:
        report(f"rows: {plan.rows.reason}")
    state = _search(plan, report)
    choice = _choose(plan, state, report)
    model = _refit(plan, choice, report)
    return _trained_model(plan, state, choice, model, report)


@dataclass(frozen=True)
class SearchPlan:
    """What the search runs, on which rows and within what budget.

    Attributes:
        options: The search's options.
        texts: The refit's rows: all training texts, or the sample the budget affords (:attr:`rows`).
        labels: Their labels.
        candidates: Candidate parameters, in the order they are tried (numbered from 1).
        fit_texts: The part of the training rows candidates are fitted on.
        val_texts: The validation part they are scored on.
        fit_labels: Labels of ``fit_texts``.
        val_labels: Labels of ``val_texts``.
        start: ``time.perf_counter()`` when the search began: the budget counts from here.
        classes: The labels, sorted: the columns of every candidate's decision scores.
        rows: How many rows the search and the refit use, and why (:mod:`components.models.sizing`).
    """

    options: ScratchOptions
    texts: list[str]
    labels: list[str]
    candidates: list[dict[str, Any]]
    fit_texts: list[str]
    val_texts: list[str]
    fit_labels: list[str]
    val_labels: list[str]
    start: float
    classes: list[str]
    rows: RowPlan

    @property
    def val_codes(self) -> np.ndarray:
        """The validation rows' labels as column numbers of the decision scores."""
        return np.searchsorted(self.classes, self.val_labels)

    def refit_estimate(self, rows: list[dict[str, Any]]) -> float:
        """Seconds to refit these candidates: their refit times on ``workers``, scaled to the refit's rows."""
        refit_factor = len(self.texts) / len(self.fit_texts)  # a candidate's time scaled to the refit's rows
        return refit_factor * _makespan([row["refit_seconds"] for row in rows], self.options.workers)

    def reserve(self, log: list[dict[str, Any]]) -> float:
        """Seconds to keep back for the refit of the vote as it stands (see :func:`_pick_members`)."""
        done = [row for row in log if row["status"] == "ok"]
        return self.refit_estimate(_pick_members(_ranked(done, self.options.metric), self.options))


@dataclass
class SearchState:
    """What the search has found so far; :func:`_search` fills it.

    Attributes:
        queue: Candidates not started yet, as (number, params).
        running: Candidates running, by number: (their run, params).
        log: One row per candidate that finished, was killed or was skipped.
        scores: Validation decision scores (rows × classes) of each finished candidate, by number.
        blocks: Fitted feature blocks (fit part, validation part) by spec, reused by later candidates.
        block_seconds: Fit seconds of each cached block, for refit estimates.
    """

    queue: list[tuple[int, dict[str, Any]]]
    running: dict[int, tuple[TimedRun, dict[str, Any]]] = field(default_factory=dict)
    log: list[dict[str, Any]] = field(default_factory=list)
    scores: dict[int, np.ndarray] = field(default_factory=dict)
    blocks: dict[tuple[Any, ...], tuple[sparse.csr_matrix, sparse.csr_matrix]] = field(default_factory=dict)
    block_seconds: dict[tuple[Any, ...], float] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchChoice:
    """What the search chose.

    Attributes:
        best: The log row of the best single candidate.
        members: The log rows of the vote's members, best first (``[best]`` without a vote).
        scores: Validation accuracy and macro-F1 of the chosen model: the vote's, or the best candidate's.
        calibration: The soft vote's (temperatures, prior weight, per-class offsets); ``None`` for a majority vote.
    """

    best: dict[str, Any]
    members: list[dict[str, Any]]
    scores: dict[str, float]
    calibration: tuple[list[float], float, np.ndarray] | None = None


def _plan(texts: Sequence[str], labels: Sequence[str], options: ScratchOptions) -> SearchPlan:
    """Checks the rows, draws the candidates, sizes the search and refit to the budget (:func:`_size_rows`) and
    carves the stratified validation split; the budget starts here.

    Raises:
        ValueError: Texts and labels differ in length, fewer than two classes, or a bad search space.
        BudgetTooSmallError: The budget cannot fit the smallest useful search.
    """
    texts, labels = [str(t) for t in texts], [str(label) for label in labels]
    if len(texts) != len(labels):
        raise ValueError(f"texts ({len(texts)}) and labels ({len(labels)}) differ in length")
    if len(set(labels)) < 2:
        raise ValueError("train_scratch_model: need at least two classes in the training labels")
    start = time.perf_counter()
    candidates = sample_candidates(options.space, options.max_candidates, options.seed)
    rows = _size_rows(texts, labels, candidates[0], options, start)
    search_texts, search_labels = _stratified_sample(texts, labels, rows.search_rows, options.seed)
    fit_texts, val_texts, fit_labels, val_labels = train_test_split(
        search_texts,
        search_labels,
        test_size=options.validation_size,
        stratify=search_labels,
        random_state=options.seed,
    )
    refit_texts, refit_labels = _stratified_sample(texts, labels, rows.refit_rows, options.seed)
    classes = sorted(set(labels))
    return SearchPlan(
        options,
        refit_texts,
        refit_labels,
        candidates,
        fit_texts,
        val_texts,
        fit_labels,
        val_labels,
        start,
        classes,
        rows,
    )


def _size_rows(
    texts: list[str], labels: list[str], first: Mapping[str, Any], options: ScratchOptions, start: float
) -> RowPlan:
    """All rows for data up to twice :data:`PROBE_ROWS`; else times the first candidate on stratified samples of
    half and all :data:`PROBE_ROWS` rows and plans the rows the rest of the budget affords
    (:func:`components.models.sizing.plan_rows`).
    """
    if len(texts) <= 2 * PROBE_ROWS:
        return RowPlan(rows=len(texts), search_rows=len(texts), refit_rows=len(texts))
    probes = []
    for size in (PROBE_ROWS // 2, PROBE_ROWS):
        probe_texts, probe_labels = _stratified_sample(texts, labels, size, options.seed)
        began, cpu = time.perf_counter(), time.process_time()
        features, classifier = build_features(first), build_classifier(first, options.seed)
        Pipeline([("features", features), ("classifier", classifier)]).fit(probe_texts, probe_labels)
        probes.append((size, time.perf_counter() - began, time.process_time() - cpu))
    return plan_rows(
        len(texts),
        budget_seconds=options.budget_seconds - (time.perf_counter() - start),
        cost=FitCost.from_probes(*probes),
        rounds=min(PLANNED_ROUNDS, -(-options.max_candidates // options.workers)),
        fit_share=1.0 - options.validation_size,
        min_search_rows=PROBE_ROWS,
    )


def _stratified_sample(texts: list[str], labels: list[str], size: int, seed: int) -> tuple[list[str], list[str]]:
    """``size`` rows drawn with the labels' shares (seeded); all rows, in order, when ``size`` covers them."""
    if size >= len(texts):
        return texts, labels
    sample_texts, _, sample_labels, _ = train_test_split(
        texts, labels, train_size=size, stratify=labels, random_state=seed
    )
    return sample_texts, sample_labels


def _search(plan: SearchPlan, report: Callable[[str], None]) -> SearchState:
    """Runs every candidate, ``workers`` at a time, each in a forked :class:`TimedRun` killed at its limit.

    Returns:
        The search log (sorted by candidate number), the finished candidates' validation scores and the cached blocks.
    """
    state = SearchState(queue=list(enumerate(plan.candidates, 1)))
    while state.queue or state.running:
        _start_candidates(plan, state)
        if not state.running:
            continue
        ready = wait_any([run for run, _ in state.running.values()])
        for number in [n for n, (run, _) in state.running.items() if run in ready]:
            run, params = state.running.pop(number)
            _record(plan, state, number, params, run, report)
        # A result raises the refit to keep back: candidates still running must now end by the new limit too.
        latest = plan.start + plan.options.budget_seconds - plan.reserve(state.log)
        for run, _ in state.running.values():
            run.deadline = min(run.deadline, latest)
    state.log.sort(key=lambda row: row["candidate"])
    return state


def _start_candidates(plan: SearchPlan, state: SearchState) -> None:
    """Starts queued candidates while a worker is free; one with too little time left is logged as skipped."""
    while state.queue and len(state.running) < plan.options.workers:
        number, params = state.queue.pop(0)
        elapsed = time.perf_counter() - plan.start
        # Keep back the refit of the vote as it stands: a search that eats the budget would leave one member.
        timeout = plan.options.budget_seconds - elapsed - plan.reserve(state.log)
        if timeout < MIN_CANDIDATE_SECONDS:
            state.log.append({"candidate": number, "params": params, "status": "skipped", "seconds": 0.0})
            continue
        work = partial(
            _fit_candidate, params, state.blocks, plan.fit_texts, plan.val_texts, plan.fit_labels, plan.options.seed
        )
        state.running[number] = (TimedRun(work, timeout), params)


def _record(
    plan: SearchPlan,
    state: SearchState,
    number: int,
    params: dict[str, Any],
    run: TimedRun,
    report: Callable[[str], None],
) -> None:
    """Logs a candidate that ended (status, validation scores, refit estimate) and caches the blocks it fitted."""
    status, result, seconds = run.finish()
    timeout = run.deadline - run.started
    scores: dict[str, float] = {}
    if status == "ok":
        state.scores[number], fitted_blocks, fitted_seconds = result
        # Blocks it took from the cache: a refit fits them again, so their time counts in its estimate.
        specs = [spec for spec in _block_specs(params).values() if spec not in fitted_seconds]
        reused = sum(state.block_seconds.get(spec, 0.0) for spec in specs)
        state.blocks.update(fitted_blocks)  # reuse the child's fitted feature blocks in later candidates
        state.block_seconds.update(fitted_seconds)
        predicted = [plan.classes[i] for i in state.scores[number].argmax(axis=1)]
        scores = {**score(plan.val_labels, predicted), "refit_seconds": round(seconds + reused, 3)}
    row = {"candidate": number, "params": params, "status": status, "seconds": seconds, **scores}
    state.log.append({**row, "limit_seconds": round(timeout, 3)})
    report(
        f"candidate {number}/{len(plan.candidates)} {_describe(params)}: "
        + (f"val acc {scores['accuracy']:.4f} macro-F1 {scores['macro_f1']:.4f}" if scores else status)
        + f" ({seconds:.1f}s, limit {timeout:.0f}s)"
    )


def _choose(plan: SearchPlan, state: SearchState, report: Callable[[str], None]) -> SearchChoice:
    """The best candidate and the vote's members (:func:`_pick_members`), less the weakest whose refit would not
    fit; a soft vote is calibrated on the validation split.

    Raises:
        TimeoutError: No candidate finished within the budget.
    """
    budget_seconds = plan.options.budget_seconds
    ranked = _ranked([row for row in state.log if row["status"] == "ok"], plan.options.metric)
    if not ranked:
        raise TimeoutError(
            f"train_scratch_model: no candidate finished within budget_seconds={budget_seconds}; "
            f"statuses: {[row['status'] for row in state.log]}"
        )
    best, members = ranked[0], _pick_members(ranked, plan.options)
    # Drop the weakest members whose refit would not fit in the budget (the best one is always refitted).
    while len(members) > 1 and time.perf_counter() - plan.start + plan.refit_estimate(members) > budget_seconds:
        members = members[:-1]
    chosen, calibration = {"accuracy": best["accuracy"], "macro_f1": best["macro_f1"]}, None
    if plan.options.vote == "soft":
        scores = [state.scores[row["candidate"]] for row in members]
        calibration = calibrate(scores, plan.val_codes, plan.options.metric)
        voted = (mean_log_proba(scores, calibration[0]) + calibration[2]).argmax(axis=1)
        chosen = score(plan.val_labels, [plan.classes[i] for i in voted])
        report(
            f"soft vote of {len(members)} (temperatures {', '.join(f'{t:.3g}' for t in calibration[0])}, prior "
            f"weight {calibration[1]:g}): val acc {chosen['accuracy']:.4f} macro-F1 {chosen['macro_f1']:.4f}"
        )
    elif len(members) > 1:
        voted = vote([[plan.classes[i] for i in state.scores[row["candidate"]].argmax(axis=1)] for row in members])
        chosen = score(plan.val_labels, voted)
        report(f"vote of the best {len(members)}: val acc {chosen['accuracy']:.4f} macro-F1 {chosen['macro_f1']:.4f}")
    return SearchChoice(best=best, members=members, scores=chosen, calibration=calibration)


def _pick_members(ranked: list[dict[str, Any]], options: ScratchOptions) -> list[dict[str, Any]]:
    """The vote's members, best first: up to ``ensemble_size`` of the ranked candidates; with ``members="diverse"``
    only the best of each classifier (members that err alike add nothing to a vote)."""
    if options.members == "top":
        return ranked[: options.ensemble_size]
    picked: dict[str, dict[str, Any]] = {}
    for row in ranked:
        picked.setdefault(row["params"]["classifier"], row)
    return list(picked.values())[: options.ensemble_size]


def _refit(plan: SearchPlan, choice: SearchChoice, report: Callable[[str], None]) -> Pipeline:
    """Refits the chosen candidates on the refit's rows (in parallel), as one text → label pipeline.

    Returns:
        A :class:`CalibratedVote` of the members' pipelines (soft vote), or a :class:`MajorityVote` of them, or
        the single best candidate's pipeline (majority vote of one).
    """
    rows = f"all {len(plan.texts)}" if len(plan.texts) == plan.rows.rows else f"{len(plan.texts)} of {plan.rows.rows}"
    report(f"refit on {rows} rows: " + " | ".join(_describe(row["params"]) for row in choice.members))
    seed = plan.options.seed
    pipelines = [
        Pipeline([("features", build_features(row["params"])), ("classifier", build_classifier(row["params"], seed))])
        for row in choice.members
    ]
    fitted = _fit_in_parallel(pipelines, plan.texts, plan.labels, plan.options.workers)
    if choice.calibration is not None:
        temperatures, _, offsets = choice.calibration
        return Pipeline([("vote", CalibratedVote(fitted, temperatures, offsets.tolist(), plan.classes))])
    return fitted[0] if len(fitted) == 1 else Pipeline([("vote", MajorityVote(fitted))])


def _trained_model(
    plan: SearchPlan, state: SearchState, choice: SearchChoice, model: Pipeline, report: Callable[[str], None]
) -> TrainedModel:
    """The refitted model with the search's time, chosen parameters, validation scores and log."""
    fit_seconds = round(time.perf_counter() - plan.start, 3)
    log, best, members = state.log, choice.best, choice.members
    tried = sum(1 for row in log if row["status"] != "skipped")
    report(f"done: {tried} candidates tried, {len(log) - tried} skipped, {fit_seconds:.1f}s with refit")
    scores = {
        "validation_accuracy": choice.scores["accuracy"],
        "validation_macro_f1": choice.scores["macro_f1"],
        "best_single_validation_accuracy": best["accuracy"],
        "best_single_validation_macro_f1": best["macro_f1"],
        "validation_rows": len(plan.val_texts),
        "search_rows": plan.rows.search_rows,
        "refit_rows": plan.rows.refit_rows,
        "candidates_tried": tried,
        "candidates_skipped": len(log) - tried,
    }
    params = {
        **best["params"],
        "ensemble": [row["candidate"] for row in members],
        "ensemble_members": [_describe(row["params"]) for row in members],
        "metric": plan.options.metric,
        "budget_seconds": plan.options.budget_seconds,
        "vote": plan.options.vote if len(members) > 1 or choice.calibration is not None else "none",
        "rows": plan.rows.as_dict(),
    }
    if choice.calibration is not None:
        params["temperatures"] = [round(t, 4) for t in choice.calibration[0]]
        params["prior_weight"] = choice.calibration[1]
    return TrainedModel(model=model, fit_seconds=fit_seconds, params=params, scores=scores, candidates=log)


def _fit_candidate(
    params: Mapping[str, Any],
    blocks: Mapping[tuple[Any, ...], tuple[sparse.csr_matrix, sparse.csr_matrix]],
    fit_texts: list[str],
    val_texts: list[str],
    fit_labels: list[str],
    seed: int,
) -> tuple[
    np.ndarray, dict[tuple[Any, ...], tuple[sparse.csr_matrix, sparse.csr_matrix]], dict[tuple[Any, ...], float]
]:
    """Fits one candidate on the fit part (in a child process); returns its validation decision scores (rows ×
    sorted classes), the feature blocks it had to fit (so the parent can reuse them) and each one's fit seconds."""
    new_blocks: dict[tuple[Any, ...], tuple[sparse.csr_matrix, sparse.csr_matrix]] = {}
    new_seconds: dict[tuple[Any, ...], float] = {}
    fit_parts, val_parts = [], []
    for name, spec in _block_specs(params).items():
        if spec not in blocks and spec not in new_blocks:
            began = time.perf_counter()
            vectoriser = _make_block(spec)
            new_blocks[spec] = (vectoriser.fit_transform(fit_texts).tocsr(), vectoriser.transform(val_texts).tocsr())
            new_seconds[spec] = time.perf_counter() - began
        fit_block, val_block = blocks.get(spec) or new_blocks[spec]
        weight = float(params["cue_weight"]) if name == "cue" else 1.0
        fit_parts.append(fit_block * weight)
        val_parts.append(val_block * weight)
    classifier = build_classifier(params, seed).fit(sparse.hstack(fit_parts).tocsr(), fit_labels)
    scores = decision_scores(classifier, sparse.hstack(val_parts).tocsr()).astype(np.float32)
    return scores, new_blocks, new_seconds


def _fit_in_parallel(
    pipelines: Sequence[Pipeline], texts: list[str], labels: list[str], workers: int
) -> list[Pipeline]:
    """Fits the pipelines on ``workers`` forked processes at a time (each sends its fitted pipeline back)."""
    if len(pipelines) == 1 or workers == 1:
        return [pipe.fit(texts, labels) for pipe in pipelines]
    fitted: dict[int, Pipeline] = {}
    queue = list(enumerate(pipelines))
    running: dict[int, TimedRun] = {}
    while queue or running:
        while queue and len(running) < workers:
            index, pipe = queue.pop(0)
            running[index] = TimedRun(partial(pipe.fit, texts, labels), REFIT_TIMEOUT_SECONDS)
        ready = wait_any(list(running.values()))
        for index in [i for i, run in running.items() if run in ready]:
            status, result, _ = running.pop(index).finish()
            if status != "ok":
                raise RuntimeError(f"train_scratch_model: refitting member {index + 1} failed: {status}")
            fitted[index] = result
    return [fitted[index] for index in range(len(pipelines))]


def _makespan(seconds: Sequence[float], workers: int) -> float:
    """How long jobs take on ``workers`` processes that each take the next job, in order, when free (as
    :func:`_fit_in_parallel` dispatches the vote's members)."""
    free_at = [0.0] * min(max(workers, 1), max(len(seconds), 1))
    for job in seconds:
        heapq.heapreplace(free_at, free_at[0] + job)
    return max(free_at)


def _ranked(rows: list[dict[str, Any]], metric: str) -> list[dict[str, Any]]:
    """Best first; earlier candidates win ties, so the order is deterministic."""
    return sorted(rows, key=lambda row: (-row[metric], row["candidate"]))


def _describe(params: Mapping[str, Any]) -> str:
    strength = f"C={params['C']}" if params["classifier"] in ("linear_svc", "nbsvm", "logistic_regression") else ""
    if params["classifier"] in ("sgd", "ridge", "complement_nb"):
        strength = f"alpha={params['alpha']}"
    penalty = "" if params["classifier"] in ("complement_nb", "ridge") else f" {params['penalty']}"
    blocks = f"word1-{params['word_ngram_max']}"
    if params["cue_window"]:
        blocks += f"+cue{params['cue_window']}(1-{params['cue_ngram_max']},w{params['cue_weight']})"
    if params["char_ngram_max"]:
        blocks += f"+char2-{params['char_ngram_max']}"
    return f"{params['classifier']}{penalty} {strength} {blocks}"


def render_search_report(trained: TrainedModel) -> str:
    """The search as Markdown: chosen parameters, validation scores and one row per candidate."""
    lines = [
        "# From-scratch model search",
        "",
        f"Chosen: {' + '.join(f'`{m}`' for m in trained.params['ensemble_members'])}"
        + {"soft": " (soft vote)", "majority": " (majority vote)"}.get(trained.params.get("vote", ""), "")
        + f" · validation accuracy {trained.scores['validation_accuracy']:.4f} · "
        f"macro-F1 {trained.scores['validation_macro_f1']:.4f} (on {trained.scores['validation_rows']} rows "
        f"carved from the training data) · {trained.fit_seconds:.1f}s with refit",
        "",
        f"Rows: {trained.params['rows']['reason']}." if trained.params.get("rows") else "",
        "",
        "| # | candidate | val accuracy | val macro-F1 | seconds | status |",
        "|---:|---|---:|---:|---:|---|",
    ]
    for row in trained.candidates:
        acc = f"{row['accuracy']:.4f}" if "accuracy" in row else ""
        mf1 = f"{row['macro_f1']:.4f}" if "macro_f1" in row else ""
        cells = [str(row["candidate"]), _describe(row["params"]), acc, mf1, f"{row['seconds']:.1f}", row["status"]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
