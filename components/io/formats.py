"""File formats of labelled texts: compression, the format itself, and the separator of delimited text.

Compression is recognised by its magic bytes (gzip, bz2, xz, zstd), whatever the file's name. The format is the
``data_format`` parameter, or (``auto``) told by the name without its compression suffix (``.parquet``, ``.jsonl``,
``.tsv`` …), then by the content (Parquet's ``PAR1``, a JSON object per line, tabs on every line). Delimited text
with ``;`` and no header is the dair-ai ``text;label`` shape (the label after the last ``;``).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import re
from dataclasses import dataclass

from components.checks.errors import DataError, ParameterError
from components.checks.options import check_choice

FORMATS = ("auto", "csv", "tsv", "semicolon", "jsonl", "parquet")
HEADERS = ("auto", "yes", "no")
MULTI_LABEL_POLICIES = ("refuse", "first", "explode", "drop")
_MAGIC = {
    b"\x1f\x8b": ("gzip", gzip.decompress),
    b"BZh": ("bz2", bz2.decompress),
    b"\xfd7zXZ\x00": ("xz", lzma.decompress),
    b"\x28\xb5\x2f\xfd": ("zstd", None),
}
_COMPRESSED_SUFFIX = re.compile(r"\.(gz|gzip|bz2|xz|zst|zstd)$", re.IGNORECASE)
_SUFFIX_FORMATS = {
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".tsv": "tsv",
    ".tab": "tsv",
}


@dataclass(frozen=True)
class FileLayout:
    """How to read a file's rows and columns.

    Attributes:
        data_format: ``auto`` (told by name and content), ``csv``, ``tsv``, ``semicolon`` (``text;label`` lines),
            ``jsonl`` (a JSON object per line) or ``parquet``.
        separator: The separator of delimited text; empty: by the format, else sniffed (tab, else comma).
        header: ``auto`` (a first line naming a known or given column is a header), ``yes`` or ``no`` (columns
            are then chosen by index: ``text_column=0``).
        multi_label: A label listing several, comma separated (``2,27``): ``refuse``, keep the ``first``,
            ``explode`` into one row per label, or ``drop`` the row.
    """

    data_format: str = "auto"
    separator: str = ""
    header: str = "auto"
    multi_label: str = "refuse"

    def __post_init__(self) -> None:
        check_choice("data_format", self.data_format, FORMATS)
        check_choice("header", self.header, HEADERS)
        check_choice("multi_label", self.multi_label, MULTI_LABEL_POLICIES)
        if len(self.separator) > 1 or self.separator in ('"', "\n", "\r"):
            raise ParameterError(f"separator must be one character such as ',' or '\\t', got {self.separator!r}")


def decompress(uri: str, raw: bytes) -> tuple[bytes, str]:
    """The file's bytes, decompressed when they start with a compression's magic bytes.

    Returns:
        ``(bytes, compression)``: compression is ``gzip``, ``bz2``, ``xz``, ``zstd`` or empty.

    Raises:
        DataError: The compressed data is corrupt or truncated.
    """
    for magic, (name, function) in _MAGIC.items():
        if raw.startswith(magic):
            try:
                if function is None:
                    import zstandard

                    return zstandard.ZstdDecompressor().stream_reader(raw).read(), name
                return function(raw), name
            except Exception as err:
                raise DataError(f"{uri}: {name}-compressed, but cannot be decompressed ({err})") from err
    return raw, ""


def file_format(uri: str, raw: bytes, wanted: str) -> str:
    """The format of a file's (decompressed) bytes: ``wanted`` unless ``auto``; else by name, then content."""
    if wanted != "auto":
        return wanted
    name = _COMPRESSED_SUFFIX.sub("", uri.split("?", 1)[0]).lower()
    for suffix, found in _SUFFIX_FORMATS.items():
        if name.endswith(suffix):
            return found
    if raw.startswith(b"PAR1"):
        return "parquet"
    if raw.lstrip()[:1] == b"{":
        return "jsonl"
    return "delimited"


def sniff_separator(lines: list[str], data_format: str, separator: str) -> str:
    """The separator of delimited text: given, by the format, or tab when every sampled line has one, else comma
    (``;`` lines without a header are handled by the caller as ``text;label``)."""
    if separator:
        return separator
    if data_format in ("tsv", "csv", "semicolon"):
        return {"tsv": "\t", "csv": ",", "semicolon": ";"}[data_format]
    sample = [line for line in lines[:50] if line.strip()]
    return "\t" if sample and all("\t" in line for line in sample) else ","


def binary_hint(raw: bytes) -> str:
    """What a file that does not decode as text probably is, and what to set."""
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "it starts with a UTF-16 byte-order mark: set --encoding utf-16"
    if raw.startswith(b"PAR1"):
        return "it is a Parquet file: set --format parquet"
    head = raw[:4096]
    if head.count(b"\x00") > len(head) // 4:
        return "many NUL bytes: UTF-16 text without a byte-order mark (set --encoding utf-16-le) or a binary file"
    controls = sum(byte < 32 and byte not in (9, 10, 13) for byte in head)
    if controls > len(head) // 10:
        return "it looks binary (many control bytes), not a file of labelled texts; no text encoding will read it"
    return (
        "the file is probably in another encoding such as Latin-1 or Windows-1252: set the encoding parameter "
        "(e.g. encoding='latin-1', CLI --encoding latin-1)"
    )
