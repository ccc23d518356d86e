"""Reading input files over the network: a time limit on every connection and read, bounded retries with
backoff, and failures that name the URI and the likely cause (no credentials, certificate, DNS, 403/404, timeout).

One deadline per URI: the attempts that fail on a URI take at most :attr:`NetworkOptions.deadline_seconds` (1.25 ×
``network_timeout_seconds``: 37.5 s at the defaults) in all, however many retries are allowed; each attempt waits at
most what is left. Within a run the steps share that deadline (``fingerprint``, then ``ingest``): the run names a
ledger file in :data:`LEDGER_ENV` where every step adds the seconds its failed attempts took, so a server that
accepts and never answers fails the run once, within the deadline, and no later step waits for it again.

Local paths go through the same functions (no time limit applies to them, and they are not retried).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from components.checks.errors import DataError
from components.checks.options import check_number

T = TypeVar("T")
HTTP = ("http", "https")
GCS = ("gs", "gcs")
#: Environment variable naming a run's ledger file: seconds each URI has spent in failed attempts (JSON).
LEDGER_ENV = "EMOTION_PIPELINE_NETWORK_LEDGER"
#: A URI's deadline, in network_timeout_seconds: attempts that fail take at most this many timeouts in all.
DEADLINE_FACTOR = 1.25  # at the defaults 37.5 s: with the run's start, a dead server fails it within a minute


@dataclass(frozen=True)
class NetworkOptions:
    """How remote files are read.

    Attributes:
        timeout_seconds: Longest wait to connect, and between two reads of the answer (each attempt waits at most
            what is left of the URI's deadline, :attr:`deadline_seconds`).
        retries: Further attempts after a timeout, a dropped connection or a server error (5xx), with backoff,
            while the URI's deadline lasts.
        backoff_seconds: First wait between attempts; doubled at each further attempt.
    """

    timeout_seconds: float = 30.0
    retries: int = 2
    backoff_seconds: float = 1.0

    def __post_init__(self) -> None:
        check_number("network_timeout_seconds", self.timeout_seconds, low=0, low_open=True)
        check_number("network_retries", self.retries, low=0, high=10, integer=True)
        check_number("backoff_seconds", self.backoff_seconds, low=0)

    @property
    def deadline_seconds(self) -> float:
        """Longest time one URI's failed attempts take in all, across retries and steps."""
        return DEADLINE_FACTOR * self.timeout_seconds


def protocol(uri: str) -> str:
    """``https``, ``gs`` … or ``file`` for a local path."""
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


def _filesystem(uri: str, options: NetworkOptions) -> tuple[Any, str]:
    import fsspec

    kind = protocol(uri)
    kwargs: dict[str, Any] = {}
    if kind in HTTP:
        import aiohttp

        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=options.timeout_seconds, sock_read=options.timeout_seconds
        )
        kwargs["client_kwargs"] = {"timeout": timeout}
    elif kind in GCS:
        _check_gcs_credentials(uri)
        kwargs["requests_timeout"] = options.timeout_seconds
    return fsspec.core.url_to_fs(uri, **kwargs)


def _check_gcs_credentials(uri: str) -> None:
    """Refuses at once (instead of a DNS error after retries) when no Google Cloud credentials can be found."""
    if os.environ.get("STORAGE_EMULATOR_HOST"):  # the emulator needs none
        return
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        google.auth.default()
    except DefaultCredentialsError as err:
        raise DataError(
            f"{uri}: no Google Cloud credentials found to read it (run `gcloud auth application-default login`, or "
            "set GOOGLE_APPLICATION_CREDENTIALS to a service account key file)"
        ) from err


def read_bytes(uri: str, options: NetworkOptions | None = None) -> bytes:
    """The whole content of a file (local path, ``gs://``, ``https://`` …), raw bytes.

    Raises:
        DataError: The file cannot be read; the message names the URI and the likely cause.
    """
    options = options or NetworkOptions()

    def read(attempt: NetworkOptions) -> bytes:
        filesystem, path = _filesystem(uri, attempt)
        return filesystem.cat_file(path)  # one request (HTTP: a GET, no HEAD first): an attempt waits one time limit

    return retrying(uri, options, read)


def file_info(uri: str, options: NetworkOptions | None = None) -> Mapping[str, Any]:
    """fsspec ``info()`` of a file (no data read), with the same limits and messages as :func:`read_bytes`."""
    options = options or NetworkOptions()

    def info(attempt: NetworkOptions) -> Mapping[str, Any]:
        filesystem, path = _filesystem(uri, attempt)
        # HTTP info() may send a HEAD then a GET, each with its own limits: the attempt as a whole is held to one.
        limit = {"timeout": attempt.timeout_seconds} if getattr(filesystem, "async_impl", False) else {}
        found = filesystem.info(path, **limit)
        if found.get("type") == "directory":
            raise IsADirectoryError(path)
        return found

    return retrying(uri, options, info)


def retrying(uri: str, options: NetworkOptions, action: Callable[[NetworkOptions], T]) -> T:
    """Runs ``action`` with the options of one attempt; retries a transient network failure of a remote URI up to
    ``options.retries`` times while the URI's deadline lasts (each attempt's time limit at most what is left).

    Raises:
        DataError: The last failure, explained by :func:`explain`, or the deadline already spent by an earlier step.
    """
    if protocol(uri) == "file":
        return _attempt(uri, options, action)
    import fsspec

    with contextlib.suppress(Exception):  # an unknown protocol is said by the attempt
        fsspec.get_filesystem_class(protocol(uri))  # its modules imported now: their import time is no attempt's
    spent = spent_seconds(uri)  # by earlier steps of this run
    if spent >= options.deadline_seconds:
        raise DataError(f"{uri}: no answer: {_deadline(options, spent)} by an earlier step of this run")
    attempts = 1 + options.retries
    for attempt in range(attempts):
        left = options.deadline_seconds - spent
        started = time.monotonic()
        try:
            return _attempt(uri, replace(options, timeout_seconds=min(options.timeout_seconds, left)), action)
        except _Transient as failed:
            last = attempt == attempts - 1
            if not last:
                time.sleep(min(options.backoff_seconds * 2**attempt, max(left - (time.monotonic() - started), 0)))
            took = time.monotonic() - started
            spent += took
            add_spent(uri, took)
            cause = explain(failed.error, options)[0]
            if spent >= options.deadline_seconds:
                raise DataError(f"{uri}: {cause} (after {attempt + 1} attempts: {_deadline(options, spent)})") from (
                    failed.error
                )
            if last:
                tried = f" (after {attempt + 1} attempts)" if attempt else ""
                raise DataError(f"{uri}: {cause}{tried}") from failed.error
    raise AssertionError("unreachable")


class _Transient(Exception):
    """A failure another attempt may cure."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _attempt(uri: str, options: NetworkOptions, action: Callable[[NetworkOptions], T]) -> T:
    """One attempt: the result, a :class:`_Transient` failure, or the :class:`DataError` no retry cures."""
    try:
        return action(options)
    except DataError:
        raise
    except Exception as err:
        cause, transient = explain(err, options)
        if not transient or protocol(uri) == "file":
            raise DataError(f"{uri}: {cause}") from err
        raise _Transient(err) from err


def _deadline(options: NetworkOptions, spent: float) -> str:
    return (
        f"{spent:.1f} s spent, its deadline is {options.deadline_seconds:g} s ({DEADLINE_FACTOR:g} × "
        "network_timeout_seconds)"
    )


def spent_seconds(uri: str) -> float:
    """Seconds ``uri``'s failed attempts have taken in this run's earlier steps (0 outside a run)."""
    with _ledger_entries() as entries:
        return float(entries.get(uri, 0.0))


def add_spent(uri: str, seconds: float) -> None:
    """Adds a failed attempt's seconds (and its backoff) to ``uri``'s account in the run's ledger, if any."""
    with _ledger_entries(write=True) as entries:
        entries[uri] = float(entries.get(uri, 0.0)) + seconds


@contextlib.contextmanager
def _ledger_entries(write: bool = False) -> Iterator[dict[str, float]]:
    """The run's ledger (:data:`LEDGER_ENV`) under its lock, saved again when ``write``; empty outside a run."""
    path = Path(os.environ.get(LEDGER_ENV, "") or os.devnull)
    if path == Path(os.devnull):
        yield {}
        return
    import filelock

    with filelock.FileLock(f"{path}.lock", timeout=30):
        try:
            entries = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except (OSError, ValueError):
            entries = {}  # an unreadable ledger: this step's own attempts still count
        yield entries
        if write:
            path.write_text(json.dumps(entries), encoding="utf-8")


def _status(err: BaseException) -> int | None:
    status = getattr(err, "status", None) or getattr(err, "code", None)
    return status if isinstance(status, int) else None


def explain(err: BaseException, options: NetworkOptions) -> tuple[str, bool]:
    """The likely cause of a read failure in words, and whether another attempt may succeed."""
    cause = err.__cause__ or err.__context__
    if isinstance(err, FileNotFoundError) and cause is not None and _status(cause) != 404:
        return explain(cause, options)  # fsspec's HTTP info() turns every failure into FileNotFoundError
    text = f"{type(err).__name__}: {err}".lower()
    status = _status(err)
    if isinstance(err, FileNotFoundError) or status == 404:
        return "file not found", False
    if isinstance(err, IsADirectoryError):
        return "is a directory, expected a file of labelled texts", False
    if isinstance(err, PermissionError) or status in (401, 403) or "403" in text or "forbidden" in text:
        return "access denied (HTTP 401/403 or file permissions): check the credentials and their rights", False
    if isinstance(err, ssl.SSLError) or "certificate" in text:
        return f"the server's TLS certificate could not be verified ({err})", False
    if "credentials" in text:
        return f"no usable credentials ({err})", False
    if isinstance(err, socket.gaierror) or "name or service not known" in text or "name resolution" in text:
        return f"the host name could not be resolved (DNS; no network, or a typo in the host?) ({err})", True
    if isinstance(err, TimeoutError) or "timeout" in text or "timed out" in text:
        return f"no answer within {options.timeout_seconds:g} s (network_timeout_seconds)", True
    if status is not None and status >= 500:
        return f"server error (HTTP {status})", True
    if isinstance(err, ConnectionError | OSError) or "connect" in text:
        return f"connection failed ({err})", True
    return f"cannot be read ({type(err).__name__}: {err})", False
