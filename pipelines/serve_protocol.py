"""uvicorn's h11 protocol with a deadline for a request's headers: a client that opens a connection and sends
nothing, or sends its request line and headers slowly, is let go when the deadline passes.

uvicorn limits the body's reads only through the application (``pipelines.serving`` answers 408) and the idle time
between two requests of a kept-alive connection (``timeout_keep_alive``), not the time a request's headers take:
without this class one slow client held a connection (and a place under ``limit_concurrency``) for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadlineProtocol(H11Protocol):
    """:class:`H11Protocol` that closes a connection whose next request's headers are not complete within
    :attr:`header_timeout` seconds of the connection (or of the previous response)."""

    header_timeout: float = 30.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _no_delay(transport)
        self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        """The deadline passed: a connection still waiting for a request's headers is closed (no answer is owed)."""
        self._header_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.logger.debug("closing a connection whose request headers took over %g s", self.header_timeout)
            self.transport.close()


def _no_delay(transport: asyncio.Transport) -> None:
    """TCP_NODELAY on the connection: asyncio sets it only on sockets it knows as TCP, and a listening socket handed
    to ``--workers`` processes reaches them with protocol 0, so their answers' headers and body (two writes) waited
    for the client's delayed ACK (40 ms each) under Nagle's algorithm."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def with_header_timeout(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class with its own header deadline (for uvicorn's ``http=`` setting): the module's class itself
    for the default deadline (worker processes receive it pickled, by name)."""
    if float(seconds) == HeaderDeadlineProtocol.header_timeout:
        return HeaderDeadlineProtocol
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_timeout": float(seconds)})
