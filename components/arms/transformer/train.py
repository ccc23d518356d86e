"""Fine-tune a small pretrained transformer (all-MiniLM-L6-v2) into a text → label model, within a time budget.

The arm carves a stratified, seeded validation split out of the *training* rows (the held-out test set is never
seen), fine-tunes every layer of the pretrained encoder with a fresh classification head (AdamW, fused where
torch has it; linear warm-up then linear decay; gradient clipping), scores the validation split
:attr:`TransformerOptions.evaluations_per_epoch` times an epoch and keeps the best weights (early stopping after
``patience`` evaluations without improvement).

The budget is a wall-clock budget for everything, loading and evaluations included. Before training, a few
optimisation steps are timed on a short and a long batch (with a zero learning rate: they change nothing), which
gives seconds per step as a fixed part plus a part per padded token, and predicting a sample of the validation
texts gives the seconds of an evaluation. From these the plan affords as many epochs as fit, up to
``max_epochs`` (fractions of an epoch included), and sets the learning-rate schedule to the planned steps; when
not even one epoch fits, it trains one epoch on a stratified sample of the rows that fit, and when fewer than
:data:`MIN_TRAIN_ROWS` texts fit it refuses at once (:class:`~components.models.sizing.BudgetTooSmallError`,
with the estimate and the budget that would do). During training each step's cost is re-estimated from the steps
so far, and training stops early when the next step and a last evaluation would pass the budget: the run always
ends with a model (the best evaluated weights).

Texts are tokenized once, cut at ``max_length`` tokens, and batched by length (each batch is drawn from a pool of
similar-length texts and padded only to its longest text), which is about twice as fast as padding every text to
``max_length`` on texts of about 20 words. Everything is seeded (split, head initialisation, dropout, batch
order); on the CPU a run that finishes its plan is reproducible, while a run cut by the budget depends on timing.

torch and transformers are imported inside the functions: importing this module (for :class:`TransformerOptions`
or :func:`render_training_report`) works without the ``transformer`` extra.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from components.arms.transformer import model as tm
from components.arms.transformer import weights
from components.checks.options import check_choice, check_number
from components.models.sizing import BudgetTooSmallError
from components.models.trained import TrainedModel, score

METRICS = ("macro_f1", "accuracy")
#: The smallest useful run: this many training texts seen once (fewer when the data have fewer).
MIN_TRAIN_ROWS = 500
#: Batches per length pool: texts are shuffled, cut into pools of this many batches, and sorted by length
#: within a pool, so a batch holds texts of similar length while the batch order stays random.
POOL_BATCHES = 50
#: Factor on the timed estimates (other jobs on a shared machine, longer batches than the probes).
SAFETY = 1.1
#: Seconds kept back for building the model and the report after training.
FINAL_SECONDS = 3.0
#: Validation texts predicted to time an evaluation.
EVAL_PROBE_ROWS = 256
#: Timed optimisation steps on each of the two probe batches (after one untimed warm-up step).
PROBE_STEPS = 2
#: Most gradient norm (clipping).
MAX_GRAD_NORM = 1.0


@dataclass(frozen=True)
class TransformerOptions:
    """Fine-tuning of the pretrained transformer (all-MiniLM-L6-v2): budget, schedule and validation split.

    Attributes:
        budget_minutes: Wall-clock budget of the whole fine-tuning, loading and evaluations included. The
            default trained 1.3 to 2 epochs of 14,400 emotion texts on 2 CPU cores shared with other jobs (0.92
            to 0.94 accuracy on held-out texts); a smaller budget trains fewer epochs or samples rows, and one
            too small for 500 texts is refused at once with the estimate.
        max_epochs: Most passes over the training rows (the budget may allow fewer).
        max_length: Tokens kept per text (special tokens included); longer texts are cut. Emotion texts average
            about 22 tokens, so 64 cuts almost none.
        batch_size: Texts per optimisation step.
        learning_rate: Peak learning rate of AdamW (after the warm-up, decaying linearly to 0 at the planned
            end).
        weight_decay: AdamW weight decay (not applied to biases and layer norms).
        warmup_share: Share of the planned steps over which the learning rate rises from 0 to its peak.
        validation_size: Share of the training rows held out (stratified, seeded) to choose the best weights
            and stop early; never trained on.
        evaluations_per_epoch: Times per epoch the validation split is scored (and once at the end).
        patience: Evaluations without improvement of ``metric`` before training stops early; 0 never stops
            early.
        metric: ``macro_f1`` or ``accuracy``: what picks the best evaluation.
        seed: Seed of the split, the sample, the head's initialisation, dropout and the batch order.
        threads: torch threads on the CPU; 0: all CPUs the process may use, or one when timed steps show one
            thread faster (other jobs busy on the same cores). The model predicts with this setting too.
        max_rows: Most training rows used (a stratified sample); 0: all of them.
    """

    budget_minutes: float = 14.0
    max_epochs: float = 3.0
    max_length: int = 64
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    validation_size: float = 0.1
    evaluations_per_epoch: int = 2
    patience: int = 3
    metric: str = "macro_f1"
    seed: int = 42
    threads: int = 0
    max_rows: int = 0

    def __post_init__(self) -> None:
        check_number("budget_minutes", self.budget_minutes, low=0, low_open=True)
        check_number("max_epochs", self.max_epochs, low=0, high=100, low_open=True)
        check_number("max_length", self.max_length, low=8, high=512, integer=True)
        check_number("batch_size", self.batch_size, low=1, high=4096, integer=True)
        check_number("learning_rate", self.learning_rate, low=0, high=1, low_open=True)
        check_number("weight_decay", self.weight_decay, low=0, high=1)
        check_number("warmup_share", self.warmup_share, low=0, high=1, high_open=True)
        check_number("validation_size", self.validation_size, low=0, high=0.5, low_open=True)
        check_number("evaluations_per_epoch", self.evaluations_per_epoch, low=1, high=100, integer=True)
        for name in ("patience", "seed", "threads", "max_rows"):
            check_number(name, getattr(self, name), low=0, integer=True)
        check_choice("metric", self.metric, METRICS)

    @property
    def budget_seconds(self) -> float:
        """The budget in seconds."""
        return 60.0 * self.budget_minutes


@dataclass(frozen=True)
class TrainingData:
    """The tokenized rows of a run.

    Attributes:
        classes: The labels, sorted: the network's outputs.
        fit_ids: Token ids of the rows trained on.
        fit_codes: Their labels as indices of ``classes``.
        val_ids: Token ids of the validation rows.
        val_labels: Their labels.
        rows_available: Training rows given.
        rows_used: Rows after ``max_rows`` (fit and validation together).
    """

    classes: list[str]
    fit_ids: list[list[int]]
    fit_codes: np.ndarray
    val_ids: list[list[int]]
    val_labels: list[str]
    rows_available: int
    rows_used: int


@dataclass(frozen=True)
class StepCost:
    """Seconds of one optimisation step as ``fixed + per_token × padded tokens``, and of one evaluation.

    Attributes:
        fixed: Seconds per step whatever its size (the optimiser's update of every weight).
        per_token: Seconds per padded token of a batch (forward and backward).
        eval_seconds: Seconds to score the whole validation split.
    """

    fixed: float
    per_token: float
    eval_seconds: float

    def step_seconds(self, tokens: int) -> float:
        """Estimated seconds of one step over ``tokens`` padded tokens (without :data:`SAFETY`)."""
        return self.fixed + self.per_token * tokens


@dataclass(frozen=True)
class TrainingPlan:
    """What the run trains, and why.

    Attributes:
        epochs: Planned passes over :attr:`rows` (may end in a fraction of an epoch).
        rows: Training rows per epoch (all fit rows, or the stratified sample the budget affords).
        steps: Planned optimisation steps (the length of the learning-rate schedule).
        batches_per_epoch: Steps in one epoch.
        eval_every: Steps between evaluations.
        seconds: Estimated seconds of the planned training and evaluations.
        cost: The timed cost model.
        reason: One sentence: why these epochs and rows.
    """

    epochs: float
    rows: int
    steps: int
    batches_per_epoch: int
    eval_every: int
    seconds: float
    cost: StepCost
    reason: str

    def as_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready values."""
        plan = asdict(self)
        plan["cost"] = {key: round(value, 6) for key, value in asdict(self.cost).items()}
        plan["epochs"], plan["seconds"] = round(self.epochs, 3), round(self.seconds, 1)
        return plan


@dataclass
class TrainingState:
    """What training has done so far; :func:`_train` fills it.

    Attributes:
        step: Optimisation steps taken.
        rows_seen: Training texts seen (with repeats across epochs).
        train_seconds: Seconds spent in optimisation steps.
        estimated_seconds: The cost model's estimate of those steps (their ratio corrects later estimates).
        eval_seconds: Seconds of each evaluation so far.
        losses: Training losses since the last evaluation.
        log: One row per evaluation.
        best: The best evaluation's row; ``None`` before the first.
        best_weights: The network's weights at the best evaluation (on the CPU).
        stale: Evaluations since the best.
        stop_reason: Why training stopped.
    """

    step: int = 0
    rows_seen: int = 0
    train_seconds: float = 0.0
    estimated_seconds: float = 0.0
    eval_seconds: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_weights: dict[str, Any] | None = None
    stale: int = 0
    stop_reason: str = ""

    @property
    def slowdown(self) -> float:
        """Measured over estimated step seconds so far (1 before any step)."""
        return self.train_seconds / self.estimated_seconds if self.estimated_seconds > 0 else 1.0


@dataclass
class Session:
    """The network and what a run needs around it.

    Attributes:
        network: The ``*ForSequenceClassification`` model being trained.
        tokenizer_json: The text of its ``tokenizer.json``.
        name: Name of the pretrained model (for the report).
        device: The ``torch.device`` it runs on.
        threads: torch threads on the CPU.
        pad_id: The padding token's id.
        max_length: Tokens kept per text: ``max_length``, or fewer when the model has fewer positions.
        start: ``time.perf_counter()`` when the run began: the budget counts from here.
        deadline: ``start`` plus the budget.
        report: Where progress lines go.
    """

    network: Any
    tokenizer_json: str
    name: str
    device: Any
    threads: int
    pad_id: int
    max_length: int
    start: float
    deadline: float
    report: Callable[[str], None]

    def elapsed(self) -> float:
        """Seconds since the run began."""
        return time.perf_counter() - self.start

    def left(self) -> float:
        """Seconds of budget left."""
        return self.deadline - time.perf_counter()


def train_transformer_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    options: TransformerOptions | None = None,
    progress: Callable[[str], None] | None = None,
    weights_dir: str | Path | None = None,
    pretrained: str | Path | None = None,
) -> TrainedModel:
    """Fine-tunes the pretrained transformer on the training rows within the budget; keeps the best evaluation.

    Args:
        texts: Training texts (already cleaned).
        labels: Their labels.
        options: Budget, schedule and split (:class:`TransformerOptions`); the defaults when ``None``.
        progress: Called with one line per phase and evaluation (e.g.
            :class:`components.runtime.progress.Progress`).
        weights_dir: Where the shipped weights are extracted (:func:`weights.pretrained_dir`); the user's cache
            folder when ``None``.
        pretrained: A folder with ``config.json``, ``tokenizer.json`` and ``model.safetensors`` of another
            BERT-like model to fine-tune instead of the shipped all-MiniLM-L6-v2 (not hash-checked).

    Returns:
        The fine-tuned text → label model (:class:`~components.arms.transformer.model.TransformerClassifier`),
        the planned and used settings, the best validation scores and one row per evaluation.

    Raises:
        ValueError: Texts and labels differ in length, or fewer than two classes.
        MissingRequirementError: torch, transformers or the weights package is not installed.
        WeightsIntegrityError: The extracted weights are not the published ones.
        BudgetTooSmallError: The budget cannot fit :data:`MIN_TRAIN_ROWS` texts and the evaluations (a
            ``ValueError``; raised after loading and a few timed steps, before any training).
    """
    options = options or TransformerOptions()
    report = progress or (lambda message: None)
    start = time.perf_counter()
    missing = weights.missing_requirements(need_weights=pretrained is None)
    if missing:
        raise weights.MissingRequirementError(missing)
    rows, classes = _check_rows(texts, labels)
    session = _open_session(options, classes, pretrained, weights_dir, start, report)
    data = _prepare(rows, classes, options, session)
    plan, data = _plan(data, options, session)
    report(f"plan: {plan.reason}")
    state = _train(data, plan, options, session)
    return _finish(data, plan, state, options, session)


def _check_rows(texts: Sequence[str], labels: Sequence[str]) -> tuple[tuple[list[str], list[str]], list[str]]:
    """The rows as strings and the sorted classes.

    Raises:
        ValueError: Texts and labels differ in length, or fewer than two classes.
    """
    texts, labels = [str(t) for t in texts], [str(label) for label in labels]
    if len(texts) != len(labels):
        raise ValueError(f"texts ({len(texts)}) and labels ({len(labels)}) differ in length")
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError("train_transformer_model: need at least two classes in the training labels")
    return (texts, labels), classes


def _open_session(
    options: TransformerOptions,
    classes: list[str],
    pretrained: str | Path | None,
    weights_dir: str | Path | None,
    start: float,
    report: Callable[[str], None],
) -> Session:
    """Seeds torch, sets its threads and loads the pretrained encoder with a fresh head for ``classes``."""
    import torch

    if pretrained is None:
        folder = weights.pretrained_dir(Path(weights_dir) if weights_dir is not None else None)
    else:
        folder = Path(pretrained)
        missing = [name for name in ("config.json", "tokenizer.json") if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"pretrained folder {folder} lacks {', '.join(missing)}")
    torch.manual_seed(options.seed)  # the head's initialisation, then dropout
    device = tm.best_device()
    threads = tm.set_threads(options.threads) if device.type == "cpu" else 0
    network = _load_network(folder, classes).to(device)
    session = Session(
        network=network,
        tokenizer_json=(folder / "tokenizer.json").read_text(encoding="utf-8"),
        name=weights.MODEL_NAME if pretrained is None else folder.name,
        device=device,
        threads=threads,
        pad_id=int(getattr(network.config, "pad_token_id", None) or 0),
        max_length=min(options.max_length, int(getattr(network.config, "max_position_embeddings", 512))),
        start=start,
        deadline=start + options.budget_seconds,
        report=report,
    )
    where = f"{device.type} ({threads} threads)" if device.type == "cpu" else str(device)
    report(f"loaded {session.name} on {where} in {session.elapsed():.1f}s")
    return session


def _load_network(folder: Path, classes: list[str]) -> Any:
    """The pretrained encoder from local files only, with a new classification head over ``classes`` (the
    expected "newly initialized" notice and the loading bar are silenced)."""
    transformers = tm.offline_transformers()
    logging = transformers.utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        return transformers.AutoModelForSequenceClassification.from_pretrained(
            str(folder),
            num_labels=len(classes),
            id2label=dict(enumerate(classes)),
            label2id={label: index for index, label in enumerate(classes)},
            local_files_only=True,
        )
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


def _sample_indices(codes: Sequence[Any], size: int, seed: int) -> np.ndarray:
    """Indices of a seeded sample of ``size`` rows, stratified by ``codes`` when every class has two rows."""
    rows = np.arange(len(codes))
    if size >= len(codes):
        return rows
    _, counts = np.unique(np.asarray(codes), return_counts=True)
    stratify = codes if counts.min() >= 2 and size >= len(counts) else None
    kept, _ = train_test_split(rows, train_size=size, stratify=stratify, random_state=seed)
    return np.sort(kept)


def _prepare(
    rows: tuple[list[str], list[str]], classes: list[str], options: TransformerOptions, session: Session
) -> TrainingData:
    """Samples ``max_rows``, carves the stratified validation split and tokenizes both parts."""
    texts, labels = rows
    if 0 < options.max_rows < len(texts):
        kept = _sample_indices(labels, options.max_rows, options.seed)
        texts, labels = [texts[i] for i in kept], [labels[i] for i in kept]
    fit_texts, val_texts, fit_labels, val_labels = train_test_split(
        texts, labels, test_size=options.validation_size, stratify=labels, random_state=options.seed
    )
    tokenizer = tm.make_tokenizer(session.tokenizer_json, session.max_length)
    index = {label: code for code, label in enumerate(classes)}
    data = TrainingData(
        classes=classes,
        fit_ids=tm.encode(tokenizer, fit_texts),
        fit_codes=np.asarray([index[label] for label in fit_labels], dtype=np.int64),
        val_ids=tm.encode(tokenizer, val_texts),
        val_labels=list(val_labels),
        rows_available=len(rows[0]),
        rows_used=len(texts),
    )
    mean_tokens = float(np.mean([len(ids) for ids in data.fit_ids]))
    session.report(
        f"rows: {len(fit_texts)} to train on, {len(val_texts)} to validate on ({mean_tokens:.1f} tokens a text, "
        f"cut at {session.max_length})"
    )
    return data


def _length_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch of batches (row indices): shuffled, sorted by length within pools of :data:`POOL_BATCHES`
    batches, then put in a random order."""
    order = rng.permutation(len(lengths))
    pool = batch_size * POOL_BATCHES
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def _padded_tokens(batch: np.ndarray, lengths: np.ndarray) -> int:
    return len(batch) * int(lengths[batch].max())


def _probe_batch(lengths: np.ndarray, batch_size: int, quantile: float) -> np.ndarray:
    """``batch_size`` rows whose lengths lie around the ``quantile`` of all lengths."""
    order = np.argsort(lengths, kind="stable")
    size = min(batch_size, len(order))
    first = min(len(order) - size, max(0, round(quantile * len(order)) - size // 2))
    return order[first : first + size]


def _time_steps(session: Session, data: TrainingData, batch: np.ndarray, optimizer: Any, steps: int) -> float:
    """Mean seconds of ``steps`` optimisation steps on one batch."""
    started = time.perf_counter()
    for _ in range(steps):
        _optimise(session, data, batch, optimizer, None)
    return (time.perf_counter() - started) / steps


def _choose_threads(session: Session, data: TrainingData, batch: np.ndarray, optimizer: Any, seconds: float) -> float:
    """Times one thread against all usable CPUs (``seconds`` a step) and keeps the faster: on a machine shared
    with other jobs, threads that wait for each other's turn on the cores made steps 5 times slower than one
    thread. Returns the kept count's seconds a step."""
    tm.set_threads(1)
    single = _time_steps(session, data, batch, optimizer, PROBE_STEPS)
    if single < seconds:
        session.report(f"threads: 1, {single:.2f}s a step against {seconds:.2f}s with {session.threads} (shared CPUs)")
        session.threads = 1
        return single
    tm.set_threads(session.threads)
    return seconds


def _time_cost(data: TrainingData, options: TransformerOptions, session: Session) -> StepCost:
    """Times optimisation steps on a short and a long batch (learning rate 0: the weights do not change) and a
    prediction of a sample of the validation texts."""

    lengths = np.asarray([len(ids) for ids in data.fit_ids])
    short, long = (_probe_batch(lengths, options.batch_size, q) for q in (0.25, 0.9))
    optimizer = _adamw([p for p in session.network.parameters() if p.requires_grad], lr=0.0)
    session.network.train()
    _optimise(session, data, short, optimizer, None)  # warm-up: first-call allocations
    short_seconds = _time_steps(session, data, short, optimizer, PROBE_STEPS)
    if options.threads == 0 and session.threads > 1:
        short_seconds = _choose_threads(session, data, short, optimizer, short_seconds)
    long_seconds = _time_steps(session, data, long, optimizer, PROBE_STEPS)
    del optimizer
    short_tokens, long_tokens = _padded_tokens(short, lengths), _padded_tokens(long, lengths)
    if long_tokens > short_tokens:
        per_token = max(0.0, (long_seconds - short_seconds) / (long_tokens - short_tokens))
    else:
        per_token = long_seconds / long_tokens
    fixed = max(0.0, (short_seconds + long_seconds - per_token * (short_tokens + long_tokens)) / 2)
    rng = np.random.default_rng(options.seed)
    probe = rng.choice(len(data.val_ids), size=min(EVAL_PROBE_ROWS, len(data.val_ids)), replace=False)
    probe_ids = [data.val_ids[i] for i in probe]
    started = time.perf_counter()
    tm.predict_logits(session.network, probe_ids, pad_id=session.pad_id, batch_size=tm.PREDICT_BATCH_SIZE)
    probe_seconds = time.perf_counter() - started
    all_tokens = sum(len(ids) for ids in data.val_ids)
    eval_seconds = probe_seconds * all_tokens / max(1, sum(len(ids) for ids in probe_ids))
    return StepCost(fixed=fixed, per_token=per_token, eval_seconds=eval_seconds)


def _optimise(session: Session, data: TrainingData, batch: np.ndarray, optimizer: Any, scheduler: Any) -> float:
    """One optimisation step on the rows ``batch``; returns its loss."""
    import torch

    ids, mask = tm.batch_tensors([data.fit_ids[i] for i in batch], session.pad_id, session.device)
    targets = torch.as_tensor(data.fit_codes[batch], device=session.device)
    loss = session.network(input_ids=ids, attention_mask=mask, labels=targets).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(session.network.parameters(), MAX_GRAD_NORM)
    optimizer.step()
    if scheduler is not None:
        scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def _epoch_seconds(lengths: np.ndarray, batch_size: int, cost: StepCost, seed: int) -> tuple[float, int]:
    """Estimated seconds (with :data:`SAFETY`) and steps of one epoch over rows of these lengths."""
    batches = _length_batches(lengths, batch_size, np.random.default_rng(seed))
    seconds = sum(cost.step_seconds(_padded_tokens(batch, lengths)) for batch in batches)
    return SAFETY * seconds, len(batches)


def _plan(data: TrainingData, options: TransformerOptions, session: Session) -> tuple[TrainingPlan, TrainingData]:
    """Times the cost model and plans epochs and rows that fit the budget left (see the module docstring).

    Returns:
        The plan, and the data (the fit rows sampled when not even one epoch fits).

    Raises:
        BudgetTooSmallError: Fewer than :data:`MIN_TRAIN_ROWS` training texts (all, when fewer) fit.
    """
    cost = _time_cost(data, options, session)
    lengths = np.asarray([len(ids) for ids in data.fit_ids])
    epoch, batches = _epoch_seconds(lengths, options.batch_size, cost, options.seed)
    evals, eval_seconds, rows = options.evaluations_per_epoch, SAFETY * cost.eval_seconds, len(lengths)
    left = session.left() - FINAL_SECONDS
    affordable = (left - eval_seconds) / (epoch + evals * eval_seconds)
    if affordable >= min(1.0, options.max_epochs):
        epochs = min(float(options.max_epochs), affordable)
        steps = max(1, math.floor(epochs * batches))
        reason = (
            f"{epochs:.2f} epochs of {rows} texts ({steps} steps of {options.batch_size}; an epoch about "
            f"{epoch:.0f}s, an evaluation of {len(data.val_ids)} texts about {eval_seconds:.0f}s) fit the "
            f"{left:.0f}s left" + (" (capped by max_epochs)" if epochs < affordable else "")
        )
        seconds = epochs * epoch + math.ceil(epochs * evals) * eval_seconds
    else:
        sample = math.floor(rows * (left - evals * eval_seconds) / epoch)
        smallest = min(rows, MIN_TRAIN_ROWS)
        if sample < smallest:
            raise BudgetTooSmallError(_too_small(options, session, smallest * epoch / rows, evals * eval_seconds))
        kept = _sample_indices(data.fit_codes, sample, options.seed)
        data = replace(data, fit_ids=[data.fit_ids[i] for i in kept], fit_codes=data.fit_codes[kept])
        epochs, batches = 1.0, math.ceil(sample / options.batch_size)
        steps, seconds = batches, sample * epoch / rows + evals * eval_seconds
        reason = (
            f"sampled: one epoch of all {rows} texts needs about {epoch:.0f}s and {evals} evaluations "
            f"{evals * eval_seconds:.0f}s against {left:.0f}s left, so one epoch of a stratified sample of {sample}"
        )
    eval_every = max(1, math.ceil(batches / evals))
    return TrainingPlan(epochs, len(data.fit_ids), steps, batches, eval_every, seconds, cost, reason), data


def _too_small(options: TransformerOptions, session: Session, train_seconds: float, eval_seconds: float) -> str:
    """The refusal: the estimate of the smallest useful run and the budget that would fit it."""
    spent = session.elapsed()
    needed = spent + train_seconds + eval_seconds + FINAL_SECONDS
    return (
        f"budget_minutes={options.budget_minutes:g} ({options.budget_seconds:.0f}s) is too small: loading and "
        f"timing took {spent:.0f}s, and the smallest useful run ({MIN_TRAIN_ROWS} training texts once, "
        f"about {train_seconds:.0f}s, and {options.evaluations_per_epoch} evaluations, about {eval_seconds:.0f}s) "
        f"needs about {needed:.0f}s in all; give budget_minutes >= {math.ceil(needed / 6) / 10:g}"
    )


def _adamw(params: Any, lr: float) -> Any:
    """AdamW, fused where torch has it for the device (on the CPU its update took 0.03s a step against 0.15s)."""
    import torch

    try:
        return torch.optim.AdamW(params, lr=lr, fused=True)
    except (RuntimeError, TypeError, ValueError):  # torch < 2.4 on the CPU
        return torch.optim.AdamW(params, lr=lr)


def _optimizer_and_schedule(options: TransformerOptions, network: Any, steps: int) -> tuple[Any, Any]:
    """AdamW (no weight decay on biases and norms) and a linear warm-up then linear decay to 0 at ``steps``."""
    import torch

    params = [p for p in network.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": options.weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    optimizer = _adamw(groups, lr=options.learning_rate)
    warmup = max(1, round(options.warmup_share * steps)) if options.warmup_share > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _train(data: TrainingData, plan: TrainingPlan, options: TransformerOptions, session: Session) -> TrainingState:
    """Runs the planned steps with periodic evaluations, early stopping and the budget guard; ends with an
    evaluation of the last weights (so the best evaluated weights are known)."""
    optimizer, scheduler = _optimizer_and_schedule(options, session.network, plan.steps)
    rng = np.random.default_rng(options.seed + 1)
    lengths = np.asarray([len(ids) for ids in data.fit_ids])
    state, batches = TrainingState(), []
    session.network.train()
    while state.step < plan.steps:
        batches = batches or _length_batches(lengths, options.batch_size, rng)
        batch = batches.pop()
        estimate = plan.cost.step_seconds(_padded_tokens(batch, lengths))
        if not _affordable(session, state, plan, estimate):
            state.stop_reason = (
                f"budget: the next step and a last evaluation would pass the budget after {state.step} of "
                f"{plan.steps} planned steps"
            )
            break
        started = time.perf_counter()
        state.losses.append(_optimise(session, data, batch, optimizer, scheduler))
        state.train_seconds += time.perf_counter() - started
        state.estimated_seconds += estimate
        state.step += 1
        state.rows_seen += len(batch)
        if state.step % plan.eval_every == 0 or state.step == plan.steps:
            _evaluate(data, plan, options, session, state)
            if options.patience and state.stale >= options.patience:
                state.stop_reason = (
                    f"early stopping: no better validation {options.metric} in {state.stale} evaluations"
                )
                break
    state.stop_reason = state.stop_reason or f"done: all {plan.steps} planned steps ({plan.epochs:.2f} epochs)"
    if not state.log or state.log[-1]["step"] != state.step:
        _evaluate(data, plan, options, session, state)
    return state


def _affordable(session: Session, state: TrainingState, plan: TrainingPlan, estimate: float) -> bool:
    """Whether one more step (its estimate corrected by the steps so far) and a last evaluation fit the budget."""
    step = SAFETY * estimate * state.slowdown
    evaluation = SAFETY * max(state.eval_seconds[-1] if state.eval_seconds else plan.cost.eval_seconds, 0.0)
    return step + evaluation + FINAL_SECONDS <= session.left()


def _evaluate(
    data: TrainingData, plan: TrainingPlan, options: TransformerOptions, session: Session, state: TrainingState
) -> None:
    """Scores the validation split, logs the row and keeps the weights when they are the best so far."""
    started = time.perf_counter()
    logits = tm.predict_logits(session.network, data.val_ids, pad_id=session.pad_id, batch_size=tm.PREDICT_BATCH_SIZE)
    scores = score(data.val_labels, [data.classes[i] for i in logits.argmax(axis=1)])
    state.eval_seconds.append(time.perf_counter() - started)
    row = {
        "evaluation": len(state.log) + 1,
        "epoch": round(state.step / plan.batches_per_epoch, 3),
        "step": state.step,
        "rows_seen": state.rows_seen,
        "train_loss": round(float(np.mean(state.losses)), 4) if state.losses else None,
        **scores,
        "seconds": round(session.elapsed(), 1),
        "eval_seconds": round(state.eval_seconds[-1], 1),
    }
    state.losses.clear()
    state.log.append(row)
    improved = state.best is None or row[options.metric] > state.best[options.metric]
    if improved:
        state.best, state.stale = row, 0
        state.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in session.network.state_dict().items()}
    else:
        state.stale += 1
    session.report(
        f"evaluation {row['evaluation']}: epoch {row['epoch']:.2f}, {row['rows_seen']} texts seen, loss "
        f"{row['train_loss']}, validation accuracy {row['accuracy']:.4f}, macro-F1 {row['macro_f1']:.4f}"
        + (" (best)" if improved else "")
    )


def _finish(
    data: TrainingData, plan: TrainingPlan, state: TrainingState, options: TransformerOptions, session: Session
) -> TrainedModel:
    """The model with the best evaluated weights, the settings used, the best validation scores and the log."""
    best = state.best or {}
    if state.best_weights is not None:
        session.network.load_state_dict(state.best_weights)
    model = tm.TransformerClassifier(
        session.network, session.tokenizer_json, data.classes, max_length=session.max_length, threads=options.threads
    )
    for row in state.log:
        row["best"] = row["evaluation"] == best.get("evaluation")
    eval_rate = len(data.val_ids) * len(state.eval_seconds) / max(sum(state.eval_seconds), 1e-9)
    params = {
        "pretrained": session.name,
        "device": str(session.device),
        "threads": session.threads,
        **{name: getattr(options, name) for name in _OPTION_PARAMS},
        "max_length": session.max_length,  # the option, or the model's positions when fewer
        "epochs_planned": round(plan.epochs, 3),
        "epochs_run": round(state.step / plan.batches_per_epoch, 3),
        "steps_planned": plan.steps,
        "steps_run": state.step,
        "rows": {
            "available": data.rows_available,
            "used": data.rows_used,
            "validation": len(data.val_ids),
            "training": plan.rows,
            "sampled": plan.rows + len(data.val_ids) < data.rows_available,
            "seen": state.rows_seen,
        },
        "plan": plan.as_dict(),
        "stop_reason": state.stop_reason,
        "best_evaluation": best.get("evaluation"),
        "train_texts_per_second": round(state.rows_seen / max(state.train_seconds, 1e-9), 1),
        "predict_texts_per_second": round(eval_rate, 1),
    }
    scores = {
        "validation_accuracy": best.get("accuracy", 0.0),
        "validation_macro_f1": best.get("macro_f1", 0.0),
        "validation_rows": len(data.val_ids),
    }
    fit_seconds = round(session.elapsed(), 3)
    session.report(f"{state.stop_reason}; best evaluation {best.get('evaluation')}, {fit_seconds:.1f}s in all")
    return TrainedModel(model=model, fit_seconds=fit_seconds, params=params, scores=scores, candidates=state.log)


#: Options copied into :attr:`TrainedModel.params`.
_OPTION_PARAMS = (
    "budget_minutes",
    "max_epochs",
    "max_length",
    "batch_size",
    "learning_rate",
    "weight_decay",
    "warmup_share",
    "validation_size",
    "evaluations_per_epoch",
    "patience",
    "metric",
    "seed",
    "max_rows",
)


def render_training_report(trained: TrainedModel) -> str:
    """The fine-tuning as Markdown: the settings, the plan, one row per evaluation and why training stopped."""
    params, scores = trained.params, trained.scores
    rows = params["rows"]
    lines = [
        "# Transformer fine-tuning",
        "",
        f"Model: `{params['pretrained']}` on {params['device']}"
        + (f" ({params['threads']} threads)" if params["device"] == "cpu" else "")
        + f" · max_length {params['max_length']} · batch {params['batch_size']} · learning rate "
        f"{params['learning_rate']:g} · weight decay {params['weight_decay']:g} · warm-up {params['warmup_share']:g}",
        "",
        f"Chosen: evaluation {params['best_evaluation']} · validation accuracy {scores['validation_accuracy']:.4f} · "
        f"macro-F1 {scores['validation_macro_f1']:.4f} (on {scores['validation_rows']} rows carved from the "
        f"training data, by {params['metric']}) · {trained.fit_seconds:.1f}s of {60 * params['budget_minutes']:.0f}s",
        "",
        f"Plan: {params['plan']['reason']}.",
        "",
        f"Run: {params['epochs_run']:g} of {params['epochs_planned']:g} planned epochs ({params['steps_run']} of "
        f"{params['steps_planned']} steps), {rows['seen']} texts seen out of {rows['training']} training rows "
        f"({rows['available']} given) · {params['train_texts_per_second']:g} texts/s training, "
        f"{params['predict_texts_per_second']:g} texts/s predicting.",
        "",
        f"Stopped: {params['stop_reason']}.",
        "",
        "| # | epoch | rows seen | train loss | val accuracy | val macro-F1 | seconds | best |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in trained.candidates:
        loss = "" if row["train_loss"] is None else f"{row['train_loss']:.4f}"
        cells = [row["evaluation"], f"{row['epoch']:.2f}", row["rows_seen"], loss, f"{row['accuracy']:.4f}"]
        cells += [f"{row['macro_f1']:.4f}", f"{row['seconds']:.1f}", "✓" if row.get("best") else ""]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines) + "\n"
