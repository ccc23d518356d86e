"""Reading input files over the network: a time limit on every connection and read, bounded retries with
backoff, and failures that name the URI and the likely cause (no credentials, certificate, DNS, 403/404, timeout).

Local paths go through the same functions (no time limit applies to them, and they are not retried).
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from components.checks.errors import DataError
from components.checks.options import check_number

T = TypeVar("T")
HTTP = ("http", "https")
GCS = ("gs", "gcs")


@dataclass(frozen=True)
class NetworkOptions:
    """How remote files are read.

    Attributes:
        timeout_seconds: Longest wait to connect, and between two reads of the answer.
        retries: Further attempts after a timeout, a dropped connection or a server error (5xx), with backoff.
        backoff_seconds: First wait between attempts; doubled at each further attempt.
    """

    timeout_seconds: float = 30.0
    retries: int = 2
    backoff_seconds: float = 1.0

    def __post_init__(self) -> None:
        check_number("network_timeout_seconds", self.timeout_seconds, low=0, low_open=True)
        check_number("network_retries", self.retries, low=0, high=10, integer=True)
        check_number("backoff_seconds", self.backoff_seconds, low=0)


def protocol(uri: str) -> str:
    """``https``, ``gs`` … or ``file`` for a local path."""
    return uri.split("://", 1)[0].lower() if "://" in uri else "file"


def _filesystem(uri: str, options: NetworkOptions) -> tuple[Any, str]:
    import fsspec

    kind = protocol(uri)
    kwargs: dict[str, Any] = {}
    if kind in HTTP:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=options.timeout_seconds,
                                        sock_read=options.timeout_seconds)  # fmt: skip
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

    def read() -> bytes:
        filesystem, path = _filesystem(uri, options)
        with filesystem.open(path, "rb") as handle:
            return handle.read()

    return retrying(uri, options, read)


def file_info(uri: str, options: NetworkOptions | None = None) -> Mapping[str, Any]:
    """fsspec ``info()`` of a file (no data read), with the same limits and messages as :func:`read_bytes`."""
    options = options or NetworkOptions()

    def info() -> Mapping[str, Any]:
        filesystem, path = _filesystem(uri, options)
        found = filesystem.info(path)
        if found.get("type") == "directory":
            raise IsADirectoryError(path)
        return found

    return retrying(uri, options, info)


def retrying(uri: str, options: NetworkOptions, action: Callable[[], T]) -> T:
    """Runs ``action``; retries a transient network failure of a remote URI up to ``options.retries`` times.

    Raises:
        DataError: The last failure, explained by :func:`explain`.
    """
    attempts = 1 + (options.retries if protocol(uri) != "file" else 0)
    for attempt in range(attempts):
        try:
            return action()
        except DataError:
            raise
        except Exception as err:
            cause, transient = explain(err, options)
            if not transient or attempt == attempts - 1:
                tried = f" (after {attempt + 1} attempts)" if attempt else ""
                raise DataError(f"{uri}: {cause}{tried}") from err
            time.sleep(options.backoff_seconds * 2**attempt)
    raise AssertionError("unreachable")


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
