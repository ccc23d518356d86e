"""Atomic writes: a result appears complete under its name, or not at all.

Each result is written to a temporary file in the same folder, flushed to disk, then renamed over its name
(``os.replace``, atomic on one file system). A crash, a kill or a full disk leaves at most a ``.tmp-*`` file,
never a truncated file that looks complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yields a temporary path beside ``path`` to write to; renamed to ``path`` when the block succeeds.

    On an error (``OSError`` of a full disk included) the temporary file is removed and the error raised;
    ``path`` keeps what it had.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f".tmp-{target.name}-", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Writes ``data`` to ``path`` atomically."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    """Writes ``value`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(value, indent=2, default=str))


def write_parquet(path: str | os.PathLike[str], frame: Any) -> None:
    """Writes a pandas frame as Parquet (no index) to ``path`` atomically."""
    with atomic_path(path) as temporary:
        frame.to_parquet(temporary, index=False)


def write_sparse(path: str | os.PathLike[str], matrix: Any) -> None:
    """Writes a SciPy sparse matrix as an uncompressed ``.npz`` (``scipy.sparse.load_npz`` reads it) atomically."""
    from scipy import sparse

    with atomic_path(path) as temporary, open(temporary, "wb") as handle:  # a file object: no ".npz" appended
        sparse.save_npz(handle, matrix, compressed=False)


def forget_pruned_vocabulary(value: Any, _seen: set[int] | None = None) -> int:
    """Empties every ``stop_words_`` attribute in a fitted estimator and whatever it holds (pipelines, unions,
    ensembles, lists, mappings). scikit-learn's ``TfidfVectorizer``/``CountVectorizer`` keep there the terms they
    pruned (rare ones included: a password pasted into a text, CVE-2024-5206); nothing uses them after fitting.

    Returns:
        How many attributes were emptied.
    """
    seen = set() if _seen is None else _seen
    if id(value) in seen or isinstance(value, str | bytes | int | float | bool | type(None)):
        return 0
    seen.add(id(value))
    emptied = 0
    if isinstance(value, dict):
        children: list[Any] = list(value.values())
    elif isinstance(value, list | tuple | set | frozenset):
        children = list(value)
    else:
        attributes = getattr(value, "__dict__", None)
        if not isinstance(attributes, dict) or type(value).__module__.startswith(("numpy", "scipy", "pandas")):
            return 0
        if "stop_words_" in attributes:
            value.stop_words_ = set()
            emptied += 1
        children = [v for k, v in attributes.items() if k != "stop_words_"]
    return emptied + sum(forget_pruned_vocabulary(child, seen) for child in children)


def dump_joblib(path: str | os.PathLike[str], value: Any) -> None:
    """Pickles ``value`` with joblib to ``path`` atomically (a model is never left half-written), its pruned
    vocabularies emptied first (:func:`forget_pruned_vocabulary`)."""
    import joblib

    forget_pruned_vocabulary(value)
    with atomic_path(path) as temporary:
        joblib.dump(value, temporary)
