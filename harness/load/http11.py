"""HTTP/1.1 exchanges on our own sockets, every wait bounded by a deadline (Engine.IO polling).

Engine.IO's long-polling transport is plain HTTP/1.1: a GET that the server holds until it
has packets (up to its ping interval), and POSTs that carry ours. A client keeps one GET
outstanding while it POSTs on a second connection, as browsers do; so an exchange here is
two halves, :meth:`Channel.send_request` and :meth:`Channel.read_response`, and the read
returns ``None`` at the caller's deadline with the response still owed, to be read on later.

h11 parses the protocol (status line, headers, ``Content-Length`` and chunked bodies,
keep-alive); the sockets, the deadlines and the limits are ours: a body over ``max_bytes``
ends the exchange (:class:`BodyTooLarge`), a connection the server closes is made anew for
the next request. A general HTTP client (urllib3, requests) would block in a read for its
whole timeout, could not leave a response owed while the session goes on, and hides when
its connection was made (our ``connect_ms`` and ``tls_ms``).
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import h11

RECV_BYTES = 65536  # bytes asked of the socket per read
MAX_HEADER_BYTES = 64 * 1024  # bytes of a response's status line and headers


class BodyTooLarge(Exception):
    """A response body went past the limit the channel was given."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit

    def __str__(self) -> str:
        return f"HTTP response body over {self.limit} bytes"


class HttpClosed(Exception):
    """The server closed the connection before the response was complete."""

    def __str__(self) -> str:
        return "connection ended before the HTTP response was complete"


@dataclass(frozen=True)
class Response:
    """A complete HTTP response."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> list[str]:
        """The values of header ``name`` (any case), in order."""
        key = name.lower()
        return [v for k, v in self.headers if k == key]


#: Makes a new connected socket (TCP, and TLS for https) before ``deadline``
#: (``time.monotonic()``), or raises (``TimeoutError``, ``OSError``, ``ssl.SSLError``).
Dialer = Callable[[float], socket.socket]


class Channel:
    """One keep-alive HTTP/1.1 connection, made by ``dial`` when needed.

    Args:
        dial: makes the socket (again, after the server closed the last one).
        host: the ``Host`` header.
        max_bytes: the largest response body accepted.
        sock: a socket already connected (the first one, whose connect the caller timed).
    """

    def __init__(
        self, dial: Dialer, host: str, max_bytes: int, sock: socket.socket | None = None
    ) -> None:
        self._dial = dial
        self._host = host
        self._max_bytes = max_bytes
        self._sock = sock
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
        self._status: int | None = None
        self._headers: tuple[tuple[str, str], ...] = ()
        self._body = bytearray()
        self._eof = False
        self.owed = False  # a request was sent, its response not read to the end yet

    def send_request(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        deadline: float,
    ) -> None:
        """Write a request (its body whole) before ``deadline``; the response is then owed."""
        if self._h11.our_state is h11.MUST_CLOSE or self._h11.their_state is h11.MUST_CLOSE:
            self.close()
        if self._sock is None:
            self._sock = self._dial(deadline)
            self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
            self._eof = False
        fields = [("Host", self._host), *headers, ("Content-Length", str(len(body)))]
        data = self._h11.send(h11.Request(method=method, target=target, headers=fields)) or b""
        data += self._h11.send(h11.Data(data=body)) if body else b""
        data += self._h11.send(h11.EndOfMessage()) or b""
        self._send_all(data, deadline)
        self._status, self._headers, self._body = None, (), bytearray()
        self.owed = True

    def read_response(self, deadline: float) -> Response | None:
        """The owed response once complete, or None when ``deadline`` came first (it stays
        owed: call again to go on reading it).

        Raises:
            HttpClosed: the server ended the connection first.
            BodyTooLarge: the body went past the limit.
            h11.RemoteProtocolError: what came is not HTTP/1.1.
            OSError: the socket failed.
        """
        assert self.owed and self._sock is not None
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError:
                if self._h11.their_state is h11.ERROR and self._eof:
                    self.close()
                    raise HttpClosed from None  # EOF inside the response
                raise
            if event is h11.NEED_DATA:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._sock.settimeout(left)
                try:
                    data = self._sock.recv(RECV_BYTES)
                except TimeoutError:
                    return None
                self._eof = not data
                self._h11.receive_data(data)  # b"": EOF
                continue
            if isinstance(event, h11.Response):
                self._status = event.status_code
                self._headers = tuple(
                    (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in event.headers
                )
            elif isinstance(event, h11.InformationalResponse):
                continue  # 100 Continue: the real response follows
            elif isinstance(event, h11.Data):
                self._body += event.data
                if len(self._body) > self._max_bytes:
                    self.close()
                    raise BodyTooLarge(self._max_bytes)
            elif isinstance(event, h11.EndOfMessage):
                assert self._status is not None
                self.owed = False
                response = Response(self._status, self._headers, bytes(self._body))
                if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
                    self._h11.start_next_cycle()
                return response
            elif isinstance(event, h11.ConnectionClosed):
                self.close()
                raise HttpClosed

    def exchange(
        self,
        method: str,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        deadline: float,
    ) -> Response | None:
        """A request and its whole response before ``deadline`` (None: not in time; the
        connection is then closed, as its state is lost)."""
        self.send_request(method, target, headers, body, deadline)
        response = self.read_response(deadline)
        if response is None:
            self.close()
        return response

    def _send_all(self, data: bytes, deadline: float) -> None:
        assert self._sock is not None
        view = memoryview(data)
        done = 0
        while done < len(view):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("HTTP request not sent in time")
            self._sock.settimeout(left)
            done += self._sock.send(view[done:])

    def close(self) -> None:
        """Close the socket (a new one is dialled for the next request)."""
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
        self._sock = None
        self.owed = False
