"""Batch prediction: a file of texts in, one prediction per row out, streamed in chunks (memory stays flat).

Input (local path, ``gs://`` or ``https://``, read through fsspec), recognised as ``ingest`` does:

* JSON lines (``.jsonl``/``.json`` or a first line starting with ``{``): objects with a text field (``text``,
  or ``text_column``) and optionally a label field, or JSON strings;
* CSV with a header naming a text column (``text``, ``content``, ``sentence``… or ``text_column``);
* ``text;label`` lines without a header (the dair-ai files), or plain lines with no ``;``: one text a line.

Output (local or ``gs://``): ``.jsonl`` (``{"text", "label", "scores": {class: score}}`` per row, the same
shape as ``serve``'s predictions) or ``.csv`` (``text``, ``label``, ``score_<class>`` …). A label in the input
is kept as ``true_label`` and gives the accuracy. With ``explain``, each row also has ``explanation``: the words
that pushed it most toward its label, ``[{"feature": word, "weight": w}, …]`` (a JSON string in CSV; see
``components/models/explain.py``). Rows keep the input's order; what the scores mean:
``components/models/scoring.py``.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import os
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TextIO

from components.checks.options import check_number
from components.io import atomic, batch_input
from components.models.explain import DEFAULT_TOP
from components.models.scoring import ScoredPredictions

OUTPUT_FORMATS = (".csv", ".jsonl")


class TextPredictor(Protocol):
    def predict_texts(self, texts: Sequence[str]) -> ScoredPredictions: ...

    def explain_texts(self, texts: Sequence[str], top: int = DEFAULT_TOP) -> list[list[dict[str, Any]]]: ...


@dataclass(frozen=True)
class BatchPredictOptions:
    """How the input is read and the work cut.

    Attributes:
        text_column: Text column (CSV) or field (JSON lines); guessed when empty.
        label_column: Label column or field, kept as ``true_label``; guessed when empty (none: no accuracy).
        chunk_rows: Rows read, predicted and written at a time.
        encoding: Text encoding of the input.
        explain: Add each row's ``explanation`` (the model's ``explain_texts``).
        explain_top: Most words in an explanation.
    """

    text_column: str = ""
    label_column: str = ""
    chunk_rows: int = 10000
    encoding: str = "utf-8"
    explain: bool = False
    explain_top: int = DEFAULT_TOP

    def __post_init__(self) -> None:
        check_number("chunk_rows", self.chunk_rows, low=1, integer=True)
        check_number("explain_top", self.explain_top, low=1, integer=True)


@dataclass
class BatchResult:
    """What a batch prediction did.

    Attributes:
        rows: Rows predicted.
        seconds: Wall time of reading, predicting and writing.
        label_counts: Predicted label → rows.
        correct: Rows whose prediction equals the input's label (when the input had labels).
        labelled: Rows that had a label.
        output_uri: Where the predictions are.
    """

    rows: int = 0
    seconds: float = 0.0
    label_counts: Counter = field(default_factory=Counter)
    correct: int = 0
    labelled: int = 0
    output_uri: str = ""

    @property
    def accuracy(self) -> float | None:
        return round(self.correct / self.labelled, 4) if self.labelled else None

    def metrics(self) -> dict[str, float]:
        """Rows, seconds, rows per second, accuracy (when labelled) and rows per predicted label."""
        out = {
            "rows": float(self.rows),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / max(self.seconds, 1e-9), 1),
        }
        if self.accuracy is not None:
            out["accuracy"] = self.accuracy
        out |= {f"predicted_{label}": float(n) for label, n in sorted(self.label_counts.items())}
        return out


def read_chunks(uri: str, options: BatchPredictOptions | None = None) -> Iterator[tuple[list[str], list]]:
    """Streams ``(texts, labels)`` chunks of at most ``chunk_rows`` rows (labels None where the input has none).

    Raises:
        DataError: Missing file, undecodable text, no text column, a line that is not JSON.
    """
    return batch_input.read_chunks(uri, options or BatchPredictOptions())


def _write_chunk(
    out: Any,
    fmt: str,
    texts: list,
    labels: list,
    predicted: ScoredPredictions,
    classes: list,
    explanations: list[list[dict[str, Any]]] | None = None,
) -> None:
    index = {c: i for i, c in enumerate(predicted.classes)}
    unknown = set(predicted.classes) - set(classes)
    if unknown:
        raise ValueError(f"batch_predict: scores for classes {sorted(unknown)} not in the first chunk's {classes}")
    labelled = any(label is not None for label in labels)
    explained = explanations if explanations is not None else [None] * len(texts)
    rows = zip(texts, labels, predicted.labels, predicted.scores, explained, strict=True)
    if fmt == ".jsonl":
        for text, truth, label, row, explanation in rows:
            scores = {c: round(float(row[index[c]]), 4) if c in index else 0.0 for c in classes}
            record = {"text": text, "label": label, "scores": scores}
            if labelled:
                record["true_label"] = truth
            if explanations is not None:
                record["explanation"] = explanation
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return
    writer = csv.writer(out)
    for text, truth, label, row, explanation in rows:
        scores = [f"{float(row[index[c]]):.4f}" if c in index else "0" for c in classes]
        extra = [] if explanations is None else [json.dumps(explanation, ensure_ascii=False)]
        writer.writerow([text, label, *scores, *([truth or ""] if labelled else []), *extra])


def predict_file(
    model: TextPredictor,
    input_uri: str,
    output_uri: str,
    *,
    options: BatchPredictOptions | None = None,
    classes: Sequence[str] = (),
) -> BatchResult:
    """Predicts every row of ``input_uri`` and writes ``output_uri``, one chunk at a time.

    The predictions go to a temporary file that replaces ``output_uri`` only once every row is written (a local
    output is renamed over, a remote one uploaded): a failure leaves the previous output, never a partial one.

    Args:
        model: A loaded registered model (``predict_texts``: raw texts in, labels and scores out).
        input_uri: The texts (see the module docstring).
        output_uri: ``.csv`` or ``.jsonl``, local or ``gs://`` (parent folders are created); never the input.
        options: Columns, chunk size and encoding.
        classes: Score columns to write (e.g. the model's labels); the first chunk's classes are added.

    Returns:
        Rows, time, label counts and, when the input had labels, the accuracy.

    Raises:
        DataError: The input cannot be read or has no rows; ParameterError for an output that is not .csv or
            .jsonl, or that is the input file.
    """
    from components.checks.errors import DataError, ParameterError

    options = options or BatchPredictOptions()
    fmt = next((ext for ext in OUTPUT_FORMATS if output_uri.endswith(ext)), "")
    if not fmt:
        raise ParameterError(f"output {output_uri!r}: give a .csv or .jsonl file")
    if same_file(input_uri, output_uri):
        raise ParameterError(f"output {output_uri!r} is the input file: give another output (the input is kept)")
    result, began = BatchResult(output_uri=output_uri), time.perf_counter()
    chunks = read_chunks(input_uri, options)
    first = next(chunks, None)  # the input is opened and its first chunk read before anything is written
    if not first or not first[0]:
        raise DataError(f"{input_uri}: no rows to predict (empty, or a header only)")
    with staged_output(output_uri) as out:
        _predict_chunks(model, itertools.chain([first], chunks), out, fmt, classes, result, options)
    result.seconds = time.perf_counter() - began
    return result


def _predict_chunks(
    model: TextPredictor,
    chunks: Iterator[tuple[list, list]],
    out: Any,
    fmt: str,
    classes: Sequence[str],
    result: BatchResult,
    options: BatchPredictOptions,
) -> None:
    header: list[str] | None = None
    for texts, labels in chunks:
        predicted = model.predict_texts(texts)
        explanations = model.explain_texts(texts, options.explain_top) if options.explain else None
        if header is None:
            header = sorted(set(classes) | set(predicted.classes))
            if fmt == ".csv":
                extra = ["true_label"] if any(label is not None for label in labels) else []
                extra += ["explanation"] if options.explain else []
                csv.writer(out).writerow(["text", "label", *(f"score_{c}" for c in header), *extra])
        _write_chunk(out, fmt, texts, labels, predicted, header, explanations)
        result.rows += len(texts)
        result.label_counts.update(predicted.labels)
        pairs = [(t, p) for t, p in zip(labels, predicted.labels, strict=True) if t is not None]
        result.labelled += len(pairs)
        result.correct += sum(t == p for t, p in pairs)


def same_file(first: str, second: str) -> bool:
    """True when two URIs name one file (a local path by its real path, hard links too; a remote one by its URI)."""
    import fsspec

    (fs_a, path_a), (fs_b, path_b) = fsspec.core.url_to_fs(first), fsspec.core.url_to_fs(second)
    if fs_a.protocol != fs_b.protocol:
        return False
    if not _is_local(fs_a):
        return path_a.rstrip("/") == path_b.rstrip("/")
    if os.path.exists(path_a) and os.path.exists(path_b):
        return os.path.samefile(path_a, path_b)
    return os.path.realpath(path_a) == os.path.realpath(path_b)


def _is_local(fs: Any) -> bool:
    return "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


@contextlib.contextmanager
def staged_output(uri: str) -> Iterator[TextIO]:
    """A text file to write ``uri``'s content to; it replaces ``uri`` only when the block succeeds.

    A local ``uri`` is written beside itself and renamed over (:func:`components.io.atomic.atomic_path`); a remote
    one is written to a local temporary file, then uploaded in one piece. On an error nothing is changed.
    """
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    if _is_local(fs):
        with atomic.atomic_path(path) as temporary, open(temporary, "w", encoding="utf-8", newline="") as out:
            yield out
        return
    with tempfile.TemporaryDirectory(prefix="emotion-predict-") as folder:
        local = Path(folder) / "predictions"
        with open(local, "w", encoding="utf-8", newline="") as out:
            yield out
        fs.put_file(str(local), path)
