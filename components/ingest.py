"""Ingest: read labelled texts from URIs (local paths, ``gs://``, ``https://``) into one ``text,label`` table.

Two file shapes are recognised:

* ``text;label`` lines with no header (the dair-ai/CARER emotion files);
* CSV with a header, e.g. ``Text,Emotion`` or ``tweet_id,sentiment,author,content``.

The text and label columns are guessed from the header (explicit names override the guess). Every
error names the file and, where it applies, the column or the parameter to set.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

import fsspec
import pandas as pd
from sklearn.model_selection import train_test_split

TEXT_COLUMN_CANDIDATES = ("text", "content", "sentence", "tweet", "document")
LABEL_COLUMN_CANDIDATES = ("label", "emotion", "sentiment", "class", "target")
SNIFF_BYTES = 64 * 1024


class DataError(ValueError):
    """Input data that cannot be used, with a message naming the file, column or parameter."""


def _read_text(uri: str, encoding: str) -> str:
    try:
        with fsspec.open(uri, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError as err:
        raise DataError(f"{uri}: file not found") from err
    except IsADirectoryError as err:
        raise DataError(f"{uri}: is a directory, expected a file of labelled texts") from err
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as err:
        raise DataError(
            f"{uri}: cannot decode as {encoding} at byte {err.start}; "
            "set the encoding parameter (e.g. encoding='latin-1')"
        ) from err


def _pick_column(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], role: str, uri: str) -> str:
    if wanted:
        if wanted not in columns:
            raise DataError(f"{uri}: {role} column {wanted!r} not found; columns are {list(columns)}")
        return wanted
    by_lower = {c.strip().lower(): c for c in columns}
    for name in candidates:
        if name in by_lower:
            return by_lower[name]
    raise DataError(
        f"{uri}: no {role} column found among {list(columns)}; "
        f"name it with the {role}_column parameter (looked for {list(candidates)})"
    )


def _looks_like_header(first_line: str) -> bool:
    fields = next(csv.reader([first_line]))
    names = {f.strip().lower() for f in fields}
    return bool(names & set(TEXT_COLUMN_CANDIDATES)) or bool(names & set(LABEL_COLUMN_CANDIDATES))


def read_labelled_texts(
    uri: str,
    text_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
    keep_extra_columns: bool = False,
) -> pd.DataFrame:
    """Reads one file of labelled texts.

    Args:
        uri: Local path, ``gs://`` or ``https://`` URI.
        text_column: Name of the text column in a CSV with header; guessed when empty.
        label_column: Name of the label column in a CSV with header; guessed when empty.
        encoding: Text encoding of the file.
        keep_extra_columns: Keep the file's other columns (e.g. ``tweet_id``, ``author``).

    Returns:
        A frame with columns ``text``, ``label``, ``source`` (the URI) and, when asked, the extra columns.

    Raises:
        DataError: The file is missing, empty, undecodable, or has no usable text/label columns.
    """
    content = _read_text(uri, encoding)
    if not content.strip():
        raise DataError(f"{uri}: file is empty")
    first_line = content.lstrip("\ufeff").splitlines()[0]

    if text_column or label_column or _looks_like_header(first_line):
        frame = pd.read_csv(io.StringIO(content.lstrip("\ufeff")), dtype=str, keep_default_na=False)
        if frame.empty:
            raise DataError(f"{uri}: header only, no rows")
        text_col = _pick_column(frame.columns, text_column, TEXT_COLUMN_CANDIDATES, "text", uri)
        label_col = _pick_column(frame.columns, label_column, LABEL_COLUMN_CANDIDATES, "label", uri)
        extra = [c for c in frame.columns if c not in (text_col, label_col)] if keep_extra_columns else []
        out = frame[[text_col, label_col, *extra]].rename(columns={text_col: "text", label_col: "label"})
    else:
        lines = [line for line in content.splitlines() if line.strip()]
        bad = [i for i, line in enumerate(lines, start=1) if ";" not in line]
        if bad:
            raise DataError(
                f"{uri}: expected 'text;label' lines or a CSV header naming a text column; "
                f"line {bad[0]} has no ';' ({len(bad)} such lines)"
            )
        pairs = [line.rsplit(";", 1) for line in lines]
        out = pd.DataFrame(pairs, columns=["text", "label"])
    out["label"] = out["label"].astype(str).str.strip()
    out.insert(2, "source", uri)
    return out.reset_index(drop=True)


def ingest_sources(
    train_uris: Sequence[str],
    test_uri: str = "",
    text_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
    test_size: float = 0.2,
    seed: int = 42,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reads the training sources (concatenated) and the held-out set, or splits one off.

    Args:
        train_uris: One or more training files.
        test_uri: Held-out file; when empty, a stratified, seeded split of the training rows.
        text_column: Text column name for CSV files (guessed when empty).
        label_column: Label column name for CSV files (guessed when empty).
        encoding: Text encoding of every file.
        test_size: Fraction of training rows held out when there is no ``test_uri``.
        seed: Seed of the split.

    Returns:
        ``(train, test)`` frames with ``text``, ``label``, ``source``.
    """
    if not train_uris:
        raise DataError("train_uris: give at least one training file")
    train = pd.concat(
        [read_labelled_texts(u, text_column, label_column, encoding) for u in train_uris], ignore_index=True
    )
    if test_uri:
        return train, read_labelled_texts(test_uri, text_column, label_column, encoding)
    if not 0 < test_size < 1:
        raise DataError(f"test_size must be between 0 and 1, got {test_size}")
    counts = train["label"].value_counts()
    if len(counts) < 2:
        raise DataError(f"{', '.join(train_uris)}: one class only ({counts.index[0]!r}); need at least two")
    too_small = counts[counts < 2]
    if not too_small.empty:
        raise DataError(
            f"{', '.join(train_uris)}: classes {list(too_small.index)} have fewer than 2 rows; "
            "a stratified split needs 2 per class"
        )
    train_part, test_part = train_test_split(train, test_size=test_size, random_state=seed, stratify=train["label"])
    return train_part.reset_index(drop=True), test_part.reset_index(drop=True)
