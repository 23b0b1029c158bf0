"""Making a connection: the TCP connect, TLS and the WebSocket upgrade, each bounded.

Deadlines, each ending the attempt with an outcome that names it (the client gave up; it
never reads as "the peer vanished"): the TCP connect (``Request.connect_timeout``); TLS and
the whole upgrade response, one deadline (``Request.handshake_timeout``): every read of the
response (:class:`DeadlineSocket`) gets only the time left, so a 101 sent one byte a second
ends at the deadline, and the response is cut at :data:`UPGRADE_MAX_BYTES`. A certificate
that fails verification is named (:data:`TLS_VERIFY_FAILURES`). The times are measured
apart: ``connect_ms``, ``tls_ms``, ``handshake_ms``. The sockets set ``TCP_NODELAY``
(:func:`no_delay`).

The upgrade is our own few lines (:mod:`harness.protocol.upgrade` builds the request, parses
the response head and checks the 101): websocket-client, used before, read the response one
byte per call through three layers, which was half the client's CPU per handshake.
"""

from __future__ import annotations

import base64
import contextlib
import os
import selectors
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.load.connection import GaveUp
from harness.load.request import Request, build_headers, build_subprotocols, build_url
from harness.load.result import ERROR_MAX, Result, short_error
from harness.protocol.frames import Violation
from harness.protocol.outcomes import Deadline, Observation, Stage
from harness.protocol.upgrade import (
    REDIRECT_STATUSES,
    UpgradeError,
    check_switch,
    host_header,
    parse_head,
    upgrade_request,
)
from harness.redact import redact

UPGRADE_MAX_BYTES = 256 * 1024  # bytes of the upgrade response (status, headers, body)


class UpgradeTooLarge(Exception):
    """The upgrade response went past :data:`UPGRADE_MAX_BYTES`."""

    def __str__(self) -> str:
        return f"upgrade response over {UPGRADE_MAX_BYTES} bytes ({Violation.UPGRADE_SIZE})"


class DeadlineSocket:
    """A socket whose every call is bounded by one shared deadline and a byte budget.

    A per-call timeout never expires against a server that sends a byte now and then: here
    each ``recv``/``send`` gets only the time left before ``deadline``
    (``time.monotonic()``), then raises ``TimeoutError``; reads past ``budget`` bytes raise
    :class:`UpgradeTooLarge`.
    """

    READ_BYTES = 4096

    def __init__(self, sock: socket.socket, deadline: float, budget: int) -> None:
        self._sock = sock
        self._deadline = deadline
        self._budget = budget
        self.received = 0  # bytes read from the socket so far

    def _left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("handshake deadline passed")
        return left

    def recv(self, bufsize: int = READ_BYTES) -> bytes:
        """What came (at most ``bufsize`` bytes; b"" at EOF) before the deadline."""
        self._sock.settimeout(self._left())
        data = self._sock.recv(bufsize)
        self.received += len(data)
        if self.received > self._budget:
            raise UpgradeTooLarge
        return data

    def send(self, data: bytes) -> None:
        """Send all of ``data`` before the deadline."""
        view = memoryview(data)
        done = 0
        while done < len(view):
            self._sock.settimeout(self._left())
            done += self._sock.send(view[done:])


def _wait(sock: socket.socket, events: int, deadline: float) -> None:
    """Block until ``sock`` is ready for ``events`` (selectors) or raise at ``deadline``."""
    left = deadline - time.monotonic()
    if left > 0:
        with selectors.DefaultSelector() as sel:
            sel.register(sock, events)
            if sel.select(left):
                return
    raise TimeoutError("TLS handshake deadline passed")


#: OpenSSL's X509_V_ERR_* codes -> the TLS failure they are (any other: ``tls_error``).
TLS_VERIFY_FAILURES: dict[int, str] = {
    18: "untrusted",  # self-signed leaf
    19: "untrusted",  # self-signed certificate in the chain
    20: "untrusted",  # unable to get the local issuer certificate
    21: "untrusted",  # unable to verify the leaf signature
    10: "expired",  # certificate has expired
    62: "hostname",  # host name mismatch
    64: "hostname",  # IP address mismatch (a URL with an IP address)
}


def tls_failure(exc: ssl.SSLError) -> str | None:
    """Why certificate verification failed (a value of :data:`TLS_VERIFY_FAILURES`), or None."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TLS_VERIFY_FAILURES.get(exc.verify_code)
    return None


def start_tls(
    raw: socket.socket, host: str, verify: bool, deadline: float, ca_file: str | None = None
) -> ssl.SSLSocket:
    """The TLS handshake on ``raw``, bounded by ``deadline`` as a whole (non-blocking steps)."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    tls = ctx.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
    try:
        tls.settimeout(0.0)
        while True:
            try:
                tls.do_handshake()
                return tls
            except ssl.SSLWantReadError:
                _wait(tls, selectors.EVENT_READ, deadline)
            except ssl.SSLWantWriteError:
                _wait(tls, selectors.EVENT_WRITE, deadline)
    except BaseException:
        tls.close()  # it owns the descriptor now; the caller's close of ``raw`` is a no-op
        raise


@dataclass(slots=True)
class Dial:
    """A connection being made: how far it got, and its socket (closed by :meth:`close`,
    which the maker of the dial calls on every exit path)."""

    stage: Stage = Stage.CONNECT
    sock: socket.socket | None = None

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None


def tcp_connect(
    host: str,
    port: int,
    timeout: float,
    res: Result,
    secrets: Sequence[str],
    source: str | None = None,
) -> socket.socket | Observation:
    """The TCP connection (``res.connect_ms`` measured), from ``source`` when given (a local
    address: port chosen by the OS), or the observation it ended with."""
    t0 = time.perf_counter()
    try:
        sock = socket.create_connection(
            (host, port), timeout=timeout, source_address=None if source is None else (source, 0)
        )
    except TimeoutError:
        res.error = str(GaveUp(Deadline.CONNECT, timeout))
        return Observation(stage=Stage.CONNECT, timed_out=True, gave_up=Deadline.CONNECT)
    except OSError as exc:
        res.error = short_error(exc, secrets)
        return Observation(stage=Stage.CONNECT, errno=exc.errno)
    res.connect_ms = (time.perf_counter() - t0) * 1000.0
    no_delay(sock)
    return sock


def no_delay(sock: socket.socket) -> None:
    """Send small frames at once (no Nagle): a round trip is the server's, not a 40 ms
    wait for the delayed ACK of the frame before (a pong, then a message)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def endpoint(url: str) -> tuple[str, int, bool]:
    """Host, port and whether TLS is spoken, of a ws(s):// or http(s):// URL."""
    parts = urlsplit(url)
    secure = parts.scheme in ("wss", "https")
    return parts.hostname or "127.0.0.1", parts.port or (443 if secure else 80), secure


def dial_websocket(
    req: Request, res: Result, secrets: Sequence[str], dial: Dial
) -> Observation | bytes:
    """TCP connect, TLS (wss://) and the upgrade to ``req.url``, every step bounded.

    Measures ``res.connect_ms``, ``tls_ms`` and ``handshake_ms``; ``dial`` holds the socket
    (the TLS one for wss://) and the stage reached.

    Returns:
        When the 101 came, the bytes already read past it (the start of the first frames),
        with ``dial.stage`` OPEN; else the observation the attempt ended with (``res.error``
        is set).
    """
    host, port, secure = endpoint(req.url)
    got = tcp_connect(host, port, req.connect_timeout, res, secrets, req.source_address)
    if isinstance(got, Observation):
        return got
    dial.sock = got
    dial.stage = Stage.HANDSHAKE
    t1 = time.perf_counter()
    dial.sock, shook = _handshake(dial.sock, req, host, secure, res, secrets)
    if isinstance(shook, Observation):
        if shook.http_status is not None:  # a response was read
            res.handshake_ms = _upgrade_ms(t1, res)
        return shook
    res.handshake_ms = _upgrade_ms(t1, res)
    dial.stage = Stage.OPEN
    return shook


def _upgrade_ms(t_start: float, res: Result) -> float:
    """Milliseconds since ``t_start`` (``perf_counter``) less the TLS handshake's."""
    return (time.perf_counter() - t_start) * 1000.0 - (res.tls_ms or 0.0)


def _handshake(
    sock: socket.socket,
    req: Request,
    host: str,
    secure: bool,
    res: Result,
    secrets: Sequence[str],
) -> tuple[socket.socket, Observation | bytes]:
    """TLS (for wss://) and the upgrade, within one deadline of ``req.handshake_timeout``.

    Returns:
        The socket to go on with (the TLS one for wss://, to be closed by the caller) and,
        when the 101 came, the bytes already read past it (the start of the first frames),
        else the observation the attempt ended with (``res.error`` is set).
    """
    stage = Stage.HANDSHAKE
    deadline = time.monotonic() + req.handshake_timeout
    try:
        if secure:
            t_tls = time.perf_counter()
            sock = start_tls(sock, host, req.verify_tls, deadline, req.ca_file)
            res.tls_ms = (time.perf_counter() - t_tls) * 1000.0
        return sock, _upgrade(sock, req, secure, deadline, res, secrets)
    except TimeoutError:
        res.error = str(GaveUp(Deadline.HANDSHAKE, req.handshake_timeout))
        return sock, Observation(stage=stage, timed_out=True, gave_up=Deadline.HANDSHAKE)
    except UpgradeTooLarge as exc:
        res.error = str(exc)
        return sock, Observation(stage=stage, violation=Violation.UPGRADE_SIZE)
    except ssl.SSLError as exc:
        res.error = short_error(exc, secrets)
        return sock, Observation(stage=stage, tls_error=True, tls_failure=tls_failure(exc))
    except OSError as exc:
        res.error = short_error(exc, secrets)
        return sock, Observation(stage=stage, errno=exc.errno)
    except UpgradeError as exc:
        res.error = redact(f"invalid upgrade response: {exc}", secrets)[:ERROR_MAX]
        return sock, Observation(stage=stage, protocol_error=True)
    except BaseException:  # interrupted: the TLS socket, if made, is not the caller's yet
        with contextlib.suppress(OSError):
            sock.close()
        raise


def _upgrade(
    sock: socket.socket,
    req: Request,
    secure: bool,
    deadline: float,
    res: Result,
    secrets: Sequence[str],
) -> Observation | bytes:
    """Send the upgrade request and read the response (head, and a refusal's body), within
    ``deadline`` and :data:`UPGRADE_MAX_BYTES`; the bytes read past a 101, or how it ended.

    Raises:
        TimeoutError, UpgradeTooLarge, UpgradeError, OSError, ssl.SSLError.
    """
    parts = urlsplit(build_url(req))
    host, port, _ = endpoint(req.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    offered = build_subprotocols(req)
    request = upgrade_request(
        target, host_header(host, port, secure), key, build_headers(req), offered
    )
    bounded = DeadlineSocket(sock, deadline, UPGRADE_MAX_BYTES)
    bounded.send(request)
    data = b""
    head = None
    while head is None:
        chunk = bounded.recv()
        if not chunk:
            res.error = "connection closed before the upgrade response was complete"
            return Observation(stage=Stage.HANDSHAKE)
        data += chunk
        head = parse_head(data)
    if head.status == 101:
        check_switch(head, key, offered)
        return data[head.length :]
    if head.status in REDIRECT_STATUSES:
        res.error = f"HTTP {head.status} (redirect not followed)"
        return Observation(stage=Stage.HANDSHAKE, http_status=head.status)
    body = data[head.length :]
    want = min(head.content_length or 0, ERROR_MAX)  # a refusal's reason: its first words
    try:
        while len(body) < want:
            chunk = bounded.recv()
            if not chunk:
                break
            body += chunk
    except (TimeoutError, OSError, UpgradeTooLarge):
        pass  # the status is the answer; its body is only the reason, as far as it came
    text = body[:want].decode("utf-8", "replace").strip()
    res.error = redact(f"HTTP {head.status}: {text}", secrets)[:ERROR_MAX]
    return Observation(stage=Stage.HANDSHAKE, http_status=head.status)
