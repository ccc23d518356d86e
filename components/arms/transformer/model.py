"""A fine-tuned transformer as a scikit-learn-like text → label model that pickles with joblib.

:class:`TransformerClassifier` has ``classes_``, ``predict`` and ``predict_proba`` over raw texts, like the
other arms' pipelines, so ``evaluate``, ``register`` and serving use it unchanged. It pickles as plain data: the
weights as safetensors bytes (never ``torch.save`` or a pickle of tensors), the model config as a dict,
``tokenizer.json`` as a string, the labels and the token limit; the network is rebuilt from those on the first
prediction after unpickling, from memory only (no file, no network). Prediction sorts texts by length and pads
each batch to its longest text (dynamic padding), runs in ``inference_mode`` on CUDA when available, else on the
CPU with :attr:`TransformerClassifier.threads` threads.

torch and transformers are imported inside the functions, so importing this module (or unpickling nothing yet)
does not need them.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Texts per inference batch.
PREDICT_BATCH_SIZE = 64
#: Version of the pickled state (:meth:`TransformerClassifier.__getstate__`).
STATE_VERSION = 1


def usable_cpus() -> int:
    """CPUs this process may use: its CPU affinity, capped by a cgroup CPU quota (a container's CPU limit)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    with contextlib.suppress(OSError, ValueError, ZeroDivisionError):
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="utf-8").split()
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    return max(1, cpus)


def set_threads(threads: int) -> int:
    """Sets torch's intra-op threads (0: :func:`usable_cpus`) and returns the number set."""
    import torch

    count = threads if threads > 0 else usable_cpus()
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count


def best_device() -> Any:
    """``cuda`` when a GPU is available, else ``cpu`` (a ``torch.device``)."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def offline_transformers() -> Any:
    """The ``transformers`` module, imported with the Hugging Face hub switched off (nothing is downloaded)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import transformers

    return transformers


def make_tokenizer(tokenizer_json: str, max_length: int) -> Any:
    """A fast tokenizer (``tokenizers.Tokenizer``) from ``tokenizer.json`` text: truncating at ``max_length``
    tokens (special tokens included), never padding (batches are padded to their longest text)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_length)
    return tokenizer


def encode(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of each text (with the tokenizer's special tokens)."""
    return [encoding.ids for encoding in tokenizer.encode_batch([str(text) for text in texts])]


def batch_tensors(sequences: Sequence[Sequence[int]], pad_id: int, device: Any) -> tuple[Any, Any]:
    """Token ids and attention mask of a batch, padded on the right to its longest sequence."""
    import torch

    width = max(len(ids) for ids in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return ids.to(device), mask.to(device)


def predict_logits(network: Any, sequences: Sequence[Sequence[int]], *, pad_id: int, batch_size: int) -> np.ndarray:
    """Logits (rows × classes, float32) of token-id sequences, in length-sorted batches, in input order."""
    import torch

    device = next(network.parameters()).device
    order = np.argsort([len(ids) for ids in sequences], kind="stable")
    logits = np.zeros((len(sequences), network.config.num_labels), dtype=np.float32)
    was_training = network.training
    network.eval()
    try:
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                ids, mask = batch_tensors([sequences[i] for i in rows], pad_id, device)
                logits[rows] = network(input_ids=ids, attention_mask=mask).logits.float().cpu().numpy()
    finally:
        network.train(was_training)
    return logits


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, in float64."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class TransformerClassifier:
    """A fine-tuned sequence-classification transformer over raw texts (scikit-learn-like).

    Args:
        network: A ``transformers`` ``*ForSequenceClassification`` model whose outputs are in ``classes`` order.
        tokenizer_json: The text of its ``tokenizer.json``.
        classes: The labels, in the order of the network's outputs.
        max_length: Tokens kept per text (special tokens included); longer texts are cut.
        batch_size: Texts per inference batch.
        threads: torch threads for prediction on the CPU; 0: all CPUs the process may use, or one when the first
            large prediction finds one thread faster (see :meth:`_faster_threads`).

    Attributes:
        classes_: The labels (numpy array of strings), the columns of :meth:`predict_proba`.
        config: The network's config as a dict (rebuilds the network after unpickling).
        tokenizer_json: The tokenizer, as ``tokenizer.json`` text.
        max_length: Tokens kept per text.
        batch_size: Texts per inference batch.
        threads: torch threads on the CPU (0: all usable CPUs, or one when faster).
    """

    def __init__(
        self,
        network: Any,
        tokenizer_json: str,
        classes: Sequence[str],
        *,
        max_length: int = 64,
        batch_size: int = PREDICT_BATCH_SIZE,
        threads: int = 0,
    ) -> None:
        self.classes_ = np.asarray([str(label) for label in classes])
        if network.config.num_labels != len(self.classes_):
            raise ValueError(f"network has {network.config.num_labels} outputs for {len(self.classes_)} classes")
        self.config: dict[str, Any] = network.config.to_dict()
        self.tokenizer_json = tokenizer_json
        self.max_length = int(max_length)
        self.batch_size = int(batch_size)
        self.threads = int(threads)
        self._network: Any = network.eval()
        self._weights: bytes | None = None
        self._tokenizer: Any = None
        self._auto_threads: int | None = None

    @property
    def pad_id(self) -> int:
        """The padding token's id (the config's ``pad_token_id``, 0 when it has none)."""
        return int(self.config.get("pad_token_id") or 0)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities (texts × :attr:`classes_`, float64, rows sum to 1)."""
        texts = [str(text) for text in texts]
        if not texts:
            return np.zeros((0, len(self.classes_)))
        network, tokenizer = self._ready()
        sequences = encode(tokenizer, texts)
        if self._auto_threads is None and self.threads == 0 and len(sequences) >= 4 * self.batch_size:
            self._auto_threads = self._faster_threads(network, sequences)
        logits = predict_logits(network, sequences, pad_id=self.pad_id, batch_size=self.batch_size)
        return softmax(logits)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """The most probable label of each text (numpy array of strings)."""
        probabilities = self.predict_proba(texts)
        return self.classes_[probabilities.argmax(axis=1)] if len(probabilities) else self.classes_[:0]

    def _faster_threads(self, network: Any, sequences: list[list[int]]) -> int:
        """With ``threads`` 0 on the CPU, the first large prediction times a batch on all usable CPUs and on one,
        and keeps the faster for this process: on cores shared with other jobs, two threads predicted 3.5 times
        slower than one (0 when there is nothing to choose)."""
        cpus = usable_cpus()
        if best_device().type != "cpu" or cpus == 1:
            return 0
        batch = sequences[: self.batch_size]
        seconds = {}
        for threads in (cpus, cpus, 1):  # the first run warms up
            set_threads(threads)
            started = time.perf_counter()
            predict_logits(network, batch, pad_id=self.pad_id, batch_size=self.batch_size)
            seconds[threads] = time.perf_counter() - started
        chosen = 1 if seconds[1] < seconds[cpus] else cpus
        set_threads(chosen)
        return chosen

    def _ready(self) -> tuple[Any, Any]:
        """The network (rebuilt from the pickled weights on first use) and the tokenizer, threads set."""
        if best_device().type == "cpu":
            set_threads(self.threads or self._auto_threads or 0)
        if self._network is None:
            self._network = self._rebuild()
            self._weights = None
        if self._tokenizer is None:
            self._tokenizer = make_tokenizer(self.tokenizer_json, self.max_length)
        return self._network, self._tokenizer

    def _rebuild(self) -> Any:
        """The network from :attr:`config` and the pickled safetensors bytes, on :func:`best_device`, in eval mode."""
        from safetensors.torch import load

        transformers = offline_transformers()
        config = transformers.AutoConfig.for_model(**self.config)
        network = transformers.AutoModelForSequenceClassification.from_config(config)
        network.load_state_dict(load(self._weights), strict=True)
        return network.to(best_device()).eval()

    def weights_bytes(self) -> bytes:
        """The network's weights as safetensors bytes (what the pickle holds)."""
        if self._network is None:
            return self._weights  # type: ignore[return-value]
        from safetensors.torch import save

        state = {
            name: tensor.detach().cpu().contiguous().clone() for name, tensor in self._network.state_dict().items()
        }
        return save(state, metadata={"format": "pt"})

    def __getstate__(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "classes": self.classes_.tolist(),
            "config": self.config,
            "tokenizer_json": self.tokenizer_json,
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "threads": self.threads,
            "weights": self.weights_bytes(),
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"TransformerClassifier: unknown pickled state version {state.get('version')!r}")
        self.classes_ = np.asarray(state["classes"])
        self.config = state["config"]
        self.tokenizer_json = state["tokenizer_json"]
        self.max_length, self.batch_size, self.threads = state["max_length"], state["batch_size"], state["threads"]
        self._weights, self._network, self._tokenizer, self._auto_threads = state["weights"], None, None, None

    def __repr__(self) -> str:
        name = self.config.get("_name_or_path") or self.config.get("model_type", "transformer")
        return f"TransformerClassifier({name!r}, classes={self.classes_.tolist()}, max_length={self.max_length})"
