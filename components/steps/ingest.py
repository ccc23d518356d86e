"""Ingest: read labelled texts from URIs (local paths, ``gs://``, ``https://``) into one ``text,label`` table.

Two file shapes are recognised:

* ``text;label`` lines with no header (the dair-ai/CARER emotion files);
* CSV with a header, e.g. ``Text,Emotion`` or ``tweet_id,sentiment,author,content``.

The text and label columns are guessed from the header (explicit names override the guess). Every file is
read and checked completely before anything is returned, so a bad file never leaves half an output behind.
Every error is a :class:`DataError` whose message names the file and, where it applies, the line, the column
or the parameter to set.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from components.shared.errors import DataError, ParameterError
from components.shared.options import check_number
from components.shared.remote import NetworkOptions, read_bytes

TEXT_COLUMN_CANDIDATES = ("text", "content", "sentence", "tweet", "document")
LABEL_COLUMN_CANDIDATES = ("label", "emotion", "sentiment", "class", "target")
SNIFF_BYTES = 64 * 1024
DEFAULT_MAX_LINE_CHARS = 20_000
"""Longest line accepted: far above a tweet (280) or a sentence, far below a file with no line breaks."""


def _read_text(uri: str, encoding: str, network: NetworkOptions | None = None) -> str:
    raw = read_bytes(uri, network)
    try:
        text = raw.decode(encoding)
    except LookupError as err:
        raise DataError(f"encoding={encoding!r} is not a known text encoding (file {uri})") from err
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{uri}: cannot decode as {encoding} at byte {err.start} (line {line}); the file is probably in "
            "another encoding such as Latin-1 or Windows-1252: set the encoding parameter "
            "(e.g. encoding='latin-1', CLI --encoding latin-1)"
        ) from err
    return text.lstrip("\ufeff")


def _column_names(wanted: str | None) -> list[str]:
    """``"Text"`` or ``"Text,content"`` (names tried in order, for sources with different headers)."""
    return [name.strip() for name in (wanted or "").split(",") if name.strip()]


def _pick_column(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], role: str, uri: str) -> str:
    names = _column_names(wanted)
    if names:
        for name in names:
            if name in columns:
                return name
        raise DataError(
            f"{uri}: {role} column {wanted!r} not found; columns are {list(columns)} (set the {role}_column parameter)"
        )
    by_lower = {c.strip().lower(): c for c in columns}
    for name in candidates:
        if name in by_lower:
            return by_lower[name]
    raise DataError(
        f"{uri}: no {role} column found among {list(columns)}; "
        f"name it with the {role}_column parameter (CLI --{role}-column; looked for {list(candidates)})"
    )


def _looks_like_header(first_line: str) -> bool:
    fields = next(csv.reader([first_line[:SNIFF_BYTES]]), [])
    names = {f.strip().lower() for f in fields}
    return bool(names & set(TEXT_COLUMN_CANDIDATES)) or bool(names & set(LABEL_COLUMN_CANDIDATES))


def _check_line_lengths(uri: str, lines: Sequence[str], max_line_chars: int) -> None:
    for number, line in enumerate(lines, start=1):
        if len(line) > max_line_chars:
            raise DataError(
                f"{uri}: line {number} is {len(line):,} characters long, over max_line_chars={max_line_chars:,}; "
                "the file may lack line breaks or not be a file of labelled texts "
                "(raise the max_line_chars parameter if texts this long are real)"
            )


def _read_csv(
    uri: str, content: str, text_column: str | None, label_column: str | None
) -> tuple[pd.DataFrame, str, str]:
    try:
        # pandas' C parser ends a field at a NUL byte (and drops the rest of it): the Python parser keeps it whole
        engine = "python" if "\x00" in content else "c"
        frame = pd.read_csv(io.StringIO(content), dtype=str, keep_default_na=False, engine=engine)
    except (pd.errors.ParserError, csv.Error, ValueError) as err:
        raise DataError(f"{uri}: not a valid CSV file ({str(err).strip()})") from err
    if frame.empty:
        raise DataError(f"{uri}: header only, no rows (columns {list(frame.columns)})")
    text_col = _pick_column(frame.columns, text_column, TEXT_COLUMN_CANDIDATES, "text", uri)
    label_col = _pick_column(frame.columns, label_column, LABEL_COLUMN_CANDIDATES, "label", uri)
    if text_col == label_col:
        raise DataError(f"{uri}: column {text_col!r} cannot be both the text and the label column")
    extra = [c for c in frame.columns if c not in (text_col, label_col)]
    frame = frame.rename(columns={text_col: "text", label_col: "label"})
    return frame[["text", "label", *extra]], text_col, label_col


def _read_semicolon_lines(uri: str, content: str) -> tuple[pd.DataFrame, str, str]:
    numbered = [(n, line) for n, line in enumerate(content.splitlines(), start=1) if line.strip()]
    bad = [n for n, line in numbered if ";" not in line]
    if bad:
        raise DataError(
            f"{uri}: expected 'text;label' lines or a CSV header naming a text column; "
            f"line {bad[0]} has no ';' ({len(bad)} such lines)"
        )
    head = [part.strip().lower() for part in numbered[0][1].rsplit(";", 1)]
    if head[0] in TEXT_COLUMN_CANDIDATES and head[1] in LABEL_COLUMN_CANDIDATES:  # a "text;label" header row
        numbered = numbered[1:]
        if not numbered:
            raise DataError(f"{uri}: header only, no rows")
    frame = pd.DataFrame([line.rsplit(";", 1) for _, line in numbered], columns=["text", "label"])
    return frame, "text (before ';')", "label (after ';')"


def read_labelled_texts(
    uri: str,
    text_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
    keep_extra_columns: bool = False,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
    network: NetworkOptions | None = None,
) -> pd.DataFrame:
    """Reads one file of labelled texts.

    Args:
        uri: Local path, ``gs://`` or ``https://`` URI.
        text_column: Name of the text column in a CSV with header, or several names separated by commas (the
            first present is used); guessed when empty.
        label_column: Name(s) of the label column, like ``text_column``; guessed when empty.
        encoding: Text encoding of the file.
        keep_extra_columns: Keep the file's other columns (e.g. ``tweet_id``, ``author``).
        max_line_chars: Longest line accepted; a longer one is refused.
        network: Time limit and retries of a remote read (:class:`NetworkOptions`); its defaults when ``None``.

    Returns:
        A frame with string columns ``text``, ``label``, ``source`` (the URI) and, when asked, the extra columns.
        Blank texts and labels are kept (cleaning drops and counts them).

    Raises:
        DataError: The file is missing, a directory, empty, header only, undecodable, has an over-long line, no
            usable text/label columns, or no non-blank text or label at all.
    """
    content = _read_text(uri, encoding, network)
    if not content.strip():
        raise DataError(f"{uri}: file is empty")
    lines = content.splitlines()
    _check_line_lengths(uri, lines, max_line_chars)
    first_line = next(line for line in lines if line.strip())

    if text_column or label_column or _looks_like_header(first_line) or ";" not in first_line:
        frame, text_col, label_col = _read_csv(uri, content, text_column, label_column)
    else:
        frame, text_col, label_col = _read_semicolon_lines(uri, content)
    out = (frame if keep_extra_columns else frame[["text", "label"]]).copy()
    out["label"] = out["label"].astype(str).str.strip()
    if not out["text"].astype(str).str.strip().any():
        raise DataError(f"{uri}: column {text_col!r} is blank in all {len(out)} rows; no text to learn from")
    if not out["label"].any():
        raise DataError(f"{uri}: column {label_col!r} is blank in all {len(out)} rows; no labels to learn from")
    out.insert(2, "source", uri)
    out = out.reset_index(drop=True)
    out.attrs["columns"] = {uri: {"text": text_col, "label": label_col}}
    return out


@dataclass(frozen=True)
class IngestOptions:
    """How ingest reads the files and splits off a held-out set, with every default.

    Attributes:
        text_column: Text column name(s) of CSV files, comma separated, first present wins; guessed when empty.
        label_column: Label column name(s) of CSV files, like ``text_column``; guessed when empty.
        encoding: Text encoding of every file.
        test_size: Fraction of training rows held out when no test file is given.
        seed: Seed of the split.
        keep_extra_columns: Keep the sources' other columns (e.g. tweet_id, author).
        max_line_chars: Longest line accepted in any file.
        network_timeout_seconds: Longest wait to connect to a remote file's server, and between two reads.
        network_retries: Further attempts after a transient network failure (timeout, dropped connection, 5xx).
    """

    text_column: str = ""
    label_column: str = ""
    encoding: str = "utf-8"
    test_size: float = 0.2
    seed: int = 42
    keep_extra_columns: bool = False
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS
    network_timeout_seconds: float = NetworkOptions.timeout_seconds
    network_retries: int = NetworkOptions.retries

    def __post_init__(self) -> None:
        check_number("test_size", self.test_size, low=0, high=1, low_open=True, high_open=True)
        check_number("seed", self.seed, low=0, integer=True)
        check_number("max_line_chars", self.max_line_chars, low=1, integer=True)
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ParameterError(
                f"encoding: {self.encoding!r} is not a known text encoding (e.g. utf-8, latin-1, cp1252, utf-16)"
            ) from None
        self.network()  # checks the network options

    def network(self) -> NetworkOptions:
        """The time limit and retries of remote reads."""
        return NetworkOptions(self.network_timeout_seconds, self.network_retries)


def _check_classes(train: pd.DataFrame, train_uris: Sequence[str]) -> None:
    labels = train.loc[train["label"] != "", "label"].value_counts()
    if len(labels) < 2:
        raise DataError(
            f"{', '.join(train_uris)}: one class only ({labels.index[0]!r}, {labels.iloc[0]} rows) in the "
            "training data; a classifier needs at least two"
        )


def ingest_sources(
    train_uris: Sequence[str], test_uri: str = "", *, options: IngestOptions | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reads the training sources (concatenated) and the held-out set, or splits one off.

    Sources with different headers are unified to ``text``, ``label``, ``source``; with
    ``keep_extra_columns`` their other columns are kept too (empty where a source lacks them).

    Args:
        train_uris: One or more training files.
        test_uri: Held-out file; when empty, a stratified, seeded split of the training rows.
        options: Columns, encoding, split and limits (:class:`IngestOptions`); the defaults when ``None``.

    Returns:
        ``(train, test)`` frames with ``text``, ``label``, ``source`` (and the extra columns when asked).

    Raises:
        DataError: A file cannot be used (see :func:`read_labelled_texts`), the training data has one class only,
            or a parameter cannot work (``test_size``, ``max_line_chars``, a class too small to split).
    """
    options = options or IngestOptions()
    if not train_uris:
        raise DataError("train_uris: give at least one training file")

    def read(uri: str) -> pd.DataFrame:
        return read_labelled_texts(
            uri,
            options.text_column or None,
            options.label_column or None,
            options.encoding,
            options.keep_extra_columns,
            options.max_line_chars,
            options.network(),
        )

    frames = [read(u) for u in train_uris]
    columns = {uri: used for frame in frames for uri, used in frame.attrs["columns"].items()}
    train = pd.concat(frames, ignore_index=True).fillna("") if len(frames) > 1 else frames[0]
    train.attrs["columns"] = columns  # which columns of each file were used: kept in the Parquet, reported
    _check_classes(train, train_uris)
    if test_uri:
        test = read(test_uri)
        train.attrs["columns"] = columns | test.attrs["columns"]
        return train, test
    unlabelled = train["label"] == ""  # kept in training so that cleaning counts them; not a class to stratify
    labelled = train[~unlabelled]
    counts = labelled["label"].value_counts()
    too_small = counts[counts < 2]
    if not too_small.empty:
        raise DataError(
            f"{', '.join(train_uris)}: classes {list(too_small.index)} have fewer than 2 rows; "
            "a stratified split needs 2 per class (fix the labels, or give a test file with test_uri / --test)"
        )
    train_part, test_part = train_test_split(
        labelled, test_size=options.test_size, random_state=options.seed, stratify=labelled["label"]
    )
    train_part = pd.concat([train_part, train[unlabelled]]).reset_index(drop=True)
    train_part.attrs["columns"] = columns
    return train_part, test_part.reset_index(drop=True)
