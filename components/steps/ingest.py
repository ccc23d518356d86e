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
from typing import Any

import pandas as pd
from sklearn.model_selection import train_test_split

from components.checks.errors import DataError, ParameterError
from components.checks.options import check_number
from components.io.formats import FileLayout, binary_hint, decompress, file_format, sniff_separator
from components.io.remote import NetworkOptions, read_bytes

TEXT_COLUMN_CANDIDATES = ("text", "content", "sentence", "tweet", "document")
LABEL_COLUMN_CANDIDATES = ("label", "emotion", "sentiment", "class", "target")
SNIFF_BYTES = 64 * 1024
DEFAULT_MAX_LINE_CHARS = 20_000
"""Longest line accepted: far above a tweet (280) or a sentence, far below a file with no line breaks."""


def _decode(uri: str, raw: bytes, encoding: str) -> str:
    try:
        text = raw.decode(encoding)
    except LookupError as err:
        raise DataError(f"encoding={encoding!r} is not a known text encoding (file {uri})") from err
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{uri}: cannot decode as {encoding} at byte {err.start} (line {line}); {binary_hint(raw)}"
        ) from err
    if text.count("\x00") > len(text) // 4:  # decodes, but as NUL-riddled text: UTF-16 without a BOM, or binary
        raise DataError(f"{uri}: cannot be read as {encoding} text; {binary_hint(raw)}")
    return text.lstrip("\ufeff")


def _column_names(wanted: str | None) -> list[str]:
    """``"Text"`` or ``"Text,content"`` (names tried in order, for sources with different headers)."""
    return [name.strip() for name in (wanted or "").split(",") if name.strip()]


def _pick_column(
    columns: Sequence[str], wanted: str | None, candidates: Sequence[str], role: str, uri: str, position: int = -1
) -> str:
    """The column named (or numbered from 0, in a file without a header) by ``wanted``, else guessed from
    ``candidates``, else the one at ``position`` (a file without a header: text 0, label 1)."""
    names = _column_names(wanted)
    for name in names:
        if name in columns:
            return name
        if name.isdigit() and int(name) < len(columns):
            return columns[int(name)]
    if names:
        raise DataError(
            f"{uri}: {role} column {wanted!r} not found; columns are {list(columns)} (set the {role}_column "
            "parameter: a name, or a number from 0 for a file without a header)"
        )
    by_lower = {c.strip().lower(): c for c in columns}
    for name in candidates:
        if name in by_lower:
            return by_lower[name]
    if 0 <= position < len(columns):
        return columns[position]
    raise DataError(
        f"{uri}: no {role} column found among {list(columns)}; "
        f"name it with the {role}_column parameter (CLI --{role}-column; looked for {list(candidates)})"
    )


def _looks_like_header(first_line: str, separator: str, given: Sequence[str]) -> bool:
    fields = next(csv.reader([first_line[:SNIFF_BYTES]], delimiter=separator), [])
    names = {f.strip().lower() for f in fields}
    known = {*TEXT_COLUMN_CANDIDATES, *LABEL_COLUMN_CANDIDATES, *(g.lower() for g in given if not g.isdigit())}
    return bool(names & known)


def _check_line_lengths(uri: str, lines: Sequence[str], max_line_chars: int) -> None:
    for number, line in enumerate(lines, start=1):
        if len(line) > max_line_chars:
            raise DataError(
                f"{uri}: line {number} is {len(line):,} characters long, over max_line_chars={max_line_chars:,}; "
                "the file may lack line breaks or not be a file of labelled texts "
                "(raise the max_line_chars parameter if texts this long are real)"
            )


def _table(
    uri: str, frame: pd.DataFrame, text_column: str | None, label_column: str | None, header: bool
) -> tuple[pd.DataFrame, str, str]:
    """Picks the text and label columns of a table read from a file, renamed ``text`` and ``label``."""
    if frame.empty:
        raise DataError(f"{uri}: header only, no rows (columns {list(frame.columns)})")
    frame.columns = [str(c) for c in frame.columns]
    position = {"text": -1, "label": -1} if header else {"text": 0, "label": 1}
    text_col = _pick_column(frame.columns, text_column, TEXT_COLUMN_CANDIDATES, "text", uri, position["text"])
    label_col = _pick_column(frame.columns, label_column, LABEL_COLUMN_CANDIDATES, "label", uri, position["label"])
    if text_col == label_col:
        raise DataError(f"{uri}: column {text_col!r} cannot be both the text and the label column")
    extra = [c for c in frame.columns if c not in (text_col, label_col)]
    frame = frame.rename(columns={text_col: "text", label_col: "label"})
    if not header:
        text_col, label_col = f"{text_col} (by position, no header)", f"{label_col} (by position, no header)"
    return frame[["text", "label", *extra]], text_col, label_col


def _read_delimited(
    uri: str, content: str, text_column: str | None, label_column: str | None, layout: FileLayout
) -> tuple[pd.DataFrame, str, str]:
    """CSV, TSV or another separator, with or without a header; or ``text;label`` lines."""
    lines = content.splitlines()
    first_line = next(line for line in lines if line.strip())
    separator = sniff_separator(lines, layout.data_format, layout.separator)
    given = [*_column_names(text_column), *_column_names(label_column)]
    header = layout.header == "yes" or (layout.header == "auto" and _looks_like_header(first_line, separator, given))
    lines_shape = layout.data_format == "semicolon" or (
        layout.data_format == "auto" and not layout.separator and ";" in first_line and separator == ","
    )
    if lines_shape and not header and not given:
        return _read_semicolon_lines(uri, content)
    try:
        # pandas' C parser ends a field at a NUL byte (and drops the rest of it): the Python parser keeps it whole
        engine = "python" if "\x00" in content else "c"
        quoting = csv.QUOTE_NONE if separator == "\t" else csv.QUOTE_MINIMAL  # TSV texts hold bare quotes
        frame = pd.read_csv(
            io.StringIO(content),
            sep=separator,
            header=0 if header else None,
            dtype=str,
            keep_default_na=False,
            engine=engine,
            quoting=quoting,
        )
    except (pd.errors.ParserError, csv.Error, ValueError) as err:
        what = "TSV" if separator == "\t" else f"{separator!r}-separated" if separator != "," else "CSV"
        raise DataError(f"{uri}: not a valid {what} file ({str(err).strip()}); set --format or separator") from err
    return _table(uri, frame, text_column, label_column, header)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """A JSON Lines or Parquet table as text: lists (``[2, 27]``) comma joined, missing values empty."""

    def text(value: object) -> str:
        if isinstance(value, list | tuple) or (hasattr(value, "tolist") and not isinstance(value, str)):
            items = value.tolist() if hasattr(value, "tolist") else value
            return ",".join(str(item) for item in items) if isinstance(items, list) else str(items)
        return "" if value is None or (isinstance(value, float) and value != value) else str(value)

    return frame.apply(lambda column: column.map(text)) if len(frame) else frame.astype(str)


def _read_records(uri: str, raw: bytes, data_format: str, encoding: str) -> pd.DataFrame:
    """A JSON Lines or Parquet file as a table of text."""
    try:
        if data_format == "parquet":
            frame = pd.read_parquet(io.BytesIO(raw))
        else:
            frame = pd.read_json(io.StringIO(_decode(uri, raw, encoding)), lines=True, dtype=False)
    except DataError:
        raise
    except Exception as err:
        raise DataError(
            f"{uri}: not a valid {'Parquet' if data_format == 'parquet' else 'JSON Lines'} file "
            f"({type(err).__name__}: {str(err).strip()[:200]})"
        ) from err
    return _as_text(frame)


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


def _multi_label(uri: str, frame: pd.DataFrame, policy: str) -> tuple[pd.DataFrame, dict[str, int | str]]:
    """Applies the multi-label policy to labels listing several (``2,27``); returns the rows and the counts."""
    several = frame["label"].str.contains(",", regex=False)
    count = int(several.sum())
    if not count:
        return frame, {}
    if policy == "refuse":
        row = int(several.to_numpy().argmax())
        raise DataError(
            f"{uri}: row {row + 1} has several labels ({frame['label'].iloc[row]!r}; {count} such rows); "
            "choose the multi_label policy: first, explode or drop (CLI --set multi_label=first)"
        )
    before = len(frame)
    if policy == "drop":
        frame = frame[~several]
    else:
        frame = frame.assign(label=frame["label"].str.split(","))
        frame = frame.explode("label") if policy == "explode" else frame.assign(label=frame["label"].str[0])
        frame = frame.assign(label=frame["label"].str.strip())
    return frame, {"policy": policy, "rows": count, "rows_before": before, "rows_after": len(frame)}


def read_labelled_texts(
    uri: str,
    text_column: str | None = None,
    label_column: str | None = None,
    encoding: str = "utf-8",
    keep_extra_columns: bool = False,
    max_line_chars: int = DEFAULT_MAX_LINE_CHARS,
    network: NetworkOptions | None = None,
    layout: FileLayout | None = None,
) -> pd.DataFrame:
    """Reads one file of labelled texts.

    Args:
        uri: Local path, ``gs://`` or ``https://`` URI; gzip, bz2, xz or zstd compressed or not.
        text_column: Name of the text column, or several names separated by commas (the first present is used),
            or a number from 0 (a file without a header); guessed when empty.
        label_column: Name(s) or number of the label column, like ``text_column``; guessed when empty.
        encoding: Text encoding of the file.
        keep_extra_columns: Keep the file's other columns (e.g. ``tweet_id``, ``author``).
        max_line_chars: Longest line accepted; a longer one is refused.
        network: Time limit and retries of a remote read (:class:`NetworkOptions`); its defaults when ``None``.
        layout: Format, separator, header and multi-label policy (:class:`FileLayout`); its defaults when ``None``.

    Returns:
        A frame with string columns ``text``, ``label``, ``source`` (the URI) and, when asked, the extra columns;
        ``attrs["columns"]`` and ``attrs["multi_label"]`` say which columns were used and what the multi-label
        policy did. Blank texts and labels are kept (cleaning drops and counts them).

    Raises:
        DataError: The file is missing, a directory, empty, header only, undecodable, has an over-long line, no
            usable text/label columns, a multi-label row under ``multi_label=refuse``, or no text or label at all.
    """
    layout = layout or FileLayout()
    raw, _ = decompress(uri, read_bytes(uri, network))
    data_format = file_format(uri, raw, layout.data_format)
    if data_format in ("jsonl", "parquet"):
        frame, text_col, label_col = _table(
            uri, _read_records(uri, raw, data_format, encoding), text_column, label_column, header=True
        )
    else:
        content = _decode(uri, raw, encoding)
        if not content.strip():
            raise DataError(f"{uri}: file is empty")
        _check_line_lengths(uri, content.splitlines(), max_line_chars)
        frame, text_col, label_col = _read_delimited(uri, content, text_column, label_column, layout)
    out = (frame if keep_extra_columns else frame[["text", "label"]]).copy()
    out["label"] = out["label"].astype(str).str.strip()
    if not out["text"].astype(str).str.strip().any():
        raise DataError(f"{uri}: column {text_col!r} is blank in all {len(out)} rows; no text to learn from")
    if not out["label"].any():
        raise DataError(f"{uri}: column {label_col!r} is blank in all {len(out)} rows; no labels to learn from")
    out, multi = _multi_label(uri, out, layout.multi_label)
    out.insert(2, "source", uri)
    out = out.reset_index(drop=True)
    out.attrs["columns"] = {uri: {"text": text_col, "label": label_col}}
    out.attrs["multi_label"] = {uri: multi} if multi else {}
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
        data_format: ``auto``, ``csv``, ``tsv``, ``semicolon``, ``jsonl`` or ``parquet`` (:class:`FileLayout`).
        separator: Separator of delimited text; empty: by the format, else sniffed.
        header: ``auto``, ``yes`` or ``no`` (columns then chosen by number: text_column=0).
        multi_label: Labels listing several (``2,27``): ``refuse``, ``first``, ``explode`` or ``drop``.
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
    data_format: str = FileLayout.data_format
    separator: str = FileLayout.separator
    header: str = FileLayout.header
    multi_label: str = FileLayout.multi_label

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
        self.layout()

    def layout(self) -> FileLayout:
        """Format, separator, header and multi-label policy of every file."""
        return FileLayout(self.data_format, self.separator, self.header, self.multi_label)

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


def _provenance(frames: Sequence[pd.DataFrame]) -> dict[str, dict[str, Any]]:
    """The ``columns`` used and the ``multi_label`` counts of every file read, by URI."""
    return {
        key: {uri: value for frame in frames for uri, value in frame.attrs.get(key, {}).items()}
        for key in ("columns", "multi_label")
    }


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
            options.layout(),
        )

    frames = [read(u) for u in train_uris]
    train = pd.concat(frames, ignore_index=True).fillna("") if len(frames) > 1 else frames[0]
    train.attrs = _provenance(frames)  # which columns of each file were used: kept in the Parquet, reported
    _check_classes(train, train_uris)
    if test_uri:
        test = read(test_uri)
        train.attrs = _provenance([*frames, test])
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
    train_part.attrs = train.attrs
    return train_part, test_part.reset_index(drop=True)
