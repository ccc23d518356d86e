"""Reading a file of texts (labelled or not) in chunks: shared by batch prediction and monitoring.

Input (local path, ``gs://`` or ``https://``, read through fsspec), recognised as ``ingest`` does:

* JSON lines (``.jsonl``/``.json`` or a first line starting with ``{``): objects with a text field (``text``,
  or ``text_column``) and optionally a label field, or JSON strings;
* CSV with a header naming a text column (``text``, ``content``, ``sentence``… or ``text_column``);
* ``text;label`` lines without a header (the dair-ai files), or plain lines with no ``;``: one text a line.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from components.checks.errors import DataError

# The column names ingest guesses from (components/steps/ingest.py; steps never import each other).
TEXT_COLUMNS = ("text", "content", "sentence", "tweet", "document")
LABEL_COLUMNS = ("label", "emotion", "sentiment", "class", "target")


class ReadOptions(Protocol):
    """What the reader needs of a step's options (``BatchPredictOptions``, ``MonitorOptions``)."""

    text_column: str
    label_column: str
    chunk_rows: int
    encoding: str


def _pick(columns: Sequence[str], wanted: str, candidates: Sequence[str], role: str, uri: str) -> str | None:
    if wanted:
        if wanted not in columns:
            raise DataError(f"{uri}: no {role} column {wanted!r}; columns are {list(columns)}")
        return wanted
    lower = {c.lower(): c for c in columns}
    found = next((lower[c] for c in candidates if c in lower), None)
    if found is None and role == "text":
        raise DataError(f"{uri}: no text column among {list(columns)}; set text_column (CLI --text-column)")
    return found


def _json_chunks(handle: io.TextIOBase, uri: str, options: ReadOptions) -> Iterator[tuple[list, list]]:
    texts: list[str] = []
    labels: list[str | None] = []
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{uri}: line {number} is not JSON ({err.msg})") from err
        if isinstance(row, str):
            row = {"text": row}
        if not isinstance(row, dict):
            raise DataError(f"{uri}: line {number}: expected an object or a string")
        text_key = _pick(list(row), options.text_column, TEXT_COLUMNS, "text", f"{uri} line {number}")
        label_key = _pick(list(row), options.label_column, LABEL_COLUMNS, "label", uri)
        texts.append(str(row[text_key]))
        labels.append(None if label_key is None else str(row[label_key]).strip())
        if len(texts) == options.chunk_rows:
            yield texts, labels
            texts, labels = [], []
    if texts:
        yield texts, labels


def _csv_chunks(handle: io.TextIOBase, uri: str, options: ReadOptions) -> Iterator[tuple[list, list]]:
    import pandas as pd

    reader = pd.read_csv(handle, dtype=str, keep_default_na=False, chunksize=options.chunk_rows)
    try:
        yield from _csv_frames(reader, uri, options)
    except pd.errors.ParserError as err:  # a row with more fields than the header, an unclosed quote …
        raise DataError(f"{uri}: not a well-formed CSV ({str(err).strip().splitlines()[-1]})") from None


def _csv_frames(reader: Any, uri: str, options: ReadOptions) -> Iterator[tuple[list, list]]:
    for chunk in reader:
        if chunk.empty:
            continue
        text_col = _pick(list(chunk.columns), options.text_column, TEXT_COLUMNS, "text", uri)
        label_col = _pick(list(chunk.columns), options.label_column, LABEL_COLUMNS, "label", uri)
        labels = chunk[label_col].str.strip().tolist() if label_col else [None] * len(chunk)
        yield chunk[text_col].tolist(), labels


def _line_chunks(handle: io.TextIOBase, options: ReadOptions) -> Iterator[tuple[list, list]]:
    texts: list[str] = []
    labels: list[str | None] = []
    for line in handle:
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        text, sep, label = line.rpartition(";")
        texts.append(text if sep else line)
        labels.append(label.strip() if sep else None)
        if len(texts) == options.chunk_rows:
            yield texts, labels
            texts, labels = [], []
    if texts:
        yield texts, labels


def read_chunks(uri: str, options: ReadOptions) -> Iterator[tuple[list[str], list]]:
    """Streams ``(texts, labels)`` chunks of at most ``chunk_rows`` rows (labels None where the input has none).

    Raises:
        DataError: Missing file, undecodable text, no text column, a line that is not JSON.
    """
    import fsspec

    try:
        with fsspec.open(uri, "rt", encoding=options.encoding, newline="") as handle:
            head = handle.readline().strip().lower()  # sniffed, then the file is read again from its start
        if not head:
            raise DataError(f"{uri}: file is empty (or starts with a blank line)")
        with fsspec.open(uri, "rt", encoding=options.encoding, newline="") as handle:
            if uri.endswith((".jsonl", ".json")) or head.startswith(("{", '"')):
                yield from _json_chunks(handle, uri, options)
            elif uri.endswith(".csv") or options.text_column or _looks_like_header(head):
                yield from _csv_chunks(handle, uri, options)
            else:
                yield from _line_chunks(handle, options)
    except FileNotFoundError as err:
        raise DataError(f"{uri}: file not found") from err
    except UnicodeDecodeError as err:
        raise DataError(f"{uri}: cannot decode as {options.encoding}; set encoding (CLI --encoding)") from err


def _looks_like_header(first_line: str) -> bool:
    cells = [cell.strip() for cell in next(csv.reader([first_line]))]
    return len(cells) > 1 and any(cell in TEXT_COLUMNS for cell in cells)
