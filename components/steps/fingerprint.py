"""Fingerprint: the version of every input file, so that ingest can be cached without ever serving stale data.

KFP and Vertex AI reuse a step's earlier result when its component and its inputs are unchanged. Ingest's inputs
are URIs, and the file behind a URI can change while the URI stays the same, so ingest on its own must not be
cached. The pipeline therefore runs this small step first, never cached: it asks the storage (through fsspec
``info()``, no data read) for each file's version and passes the result to ingest as an input. Unchanged files
give the same fingerprint, so ingest and every step after it are served from the cache; a changed file gives
a new fingerprint, and everything reruns. The rule is the same on Vertex AI, KFP and local runs.

What identifies a version, by storage: GCS ``generation`` (a new one at every write) with ``md5Hash``/``crc32c``
and ``size``; S3 ``VersionId``/``ETag``/``LastModified``; HTTP(S) ``ETag``/``Content-MD5``/``Digest``/
``Last-Modified``; local files ``mtime``, ``ino`` and ``size``. A file for which the storage reports none of
these is *unversioned*: the fingerprint then gets a random part, so ingest is never served from the cache for
it (a miss costs a rerun; a false hit would cost a wrong result).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from components.io.remote import NetworkOptions, file_info

#: Keys of fsspec ``info()`` that change when the content changes (any one suffices), by storage.
VERSION_KEYS = (
    "generation",
    "md5Hash",
    "crc32c",  # GCS (gcsfs)
    "VersionId",
    "ETag",
    "LastModified",  # S3 (s3fs)
    "Content-MD5",
    "Digest",
    "Last-Modified",  # HTTP(S), ETag as for S3
    "mtime",
    "ino",  # local files
)
UNVERSIONED = "unversioned"


def file_version(info: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of one file's fsspec ``info()`` that identify its content, with its size.

    Args:
        info: What ``fs.info(path)`` returned.

    Returns:
        ``{"generation": "1712", "md5Hash": "…", "size": 62004}``; empty when no field identifies the content.
    """
    version = {key: info[key] for key in VERSION_KEYS if info.get(key) not in (None, "")}
    if version and info.get("size") is not None:
        version["size"] = info["size"]
    return version


def fingerprint_uris(
    uris: Sequence[str],
    info: Callable[[str], Mapping[str, Any]] | None = None,
    nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    network: NetworkOptions | None = None,
) -> str:
    """The fingerprint of a run's input files: one JSON object, the version of every URI (empty URIs skipped).

    Args:
        uris: Training and test URIs (local paths, ``gs://``, ``s3://``, ``https://``).
        info: Reads one URI's metadata (fsspec ``info()`` by default, through :func:`file_info`; replaced in tests).
        nonce: A fresh random text, for files whose version cannot be told (see the module docstring).
        network: Time limit and retries of remote files (:class:`NetworkOptions`); its defaults when ``None``.

    Returns:
        Sorted JSON, e.g. ``{"gs://b/train.csv": {"generation": "1712", "md5Hash": "…", "size": 62004}}``: the same
        text for the same file versions, so the steps that take it as an input are cached exactly when no file
        changed.

    Raises:
        DataError: A URI names no file, a folder, or cannot be reached; the message names it and the likely cause.
    """
    info = info or (lambda uri: file_info(uri, network))
    versions = {}
    for uri in dict.fromkeys(u for u in uris if u):
        versions[uri] = file_version(info(uri)) or {UNVERSIONED: nonce()}
    return json.dumps(versions, sort_keys=True, default=str)


def is_cacheable(fingerprint: str) -> bool:
    """Whether a fingerprint can give a cache hit (False when a file's version was unknown)."""
    return all(UNVERSIONED not in version for version in json.loads(fingerprint).values())
