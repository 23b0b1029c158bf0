"""Making a connection: the TCP connect, TLS and the WebSocket upgrade, each bounded.

Deadlines, each ending the attempt with an outcome that names it (the client gave up; it
never reads as "the peer vanished"): the TCP connect (``Request.connect_timeout``); TLS and
the whole upgrade response, one deadline (``Request.handshake_timeout``): the socket handed
to websocket-client (:class:`DeadlineSocket`) gives each read only the time left, so a 101
sent one byte a second ends at the deadline, and the response is cut at
:data:`UPGRADE_MAX_BYTES`. A certificate that fails verification is named
(:data:`TLS_VERIFY_FAILURES`). The times are measured apart: ``connect_ms``, ``tls_ms``,
``handshake_ms``.

websocket-client does the opening handshake only; ``WebSocket.close()`` is never called:
it ends in a bare ``except`` that swallows gevent's ``GreenletExit`` and would keep a
stopping Locust user alive. The sockets set ``TCP_NODELAY`` (:func:`no_delay`).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import websocket

from harness.load.connection import GaveUp
from harness.load.request import Request, build_headers, build_subprotocols, build_url
from harness.load.result import ERROR_MAX, Result, short_error
from harness.protocol.frames import Violation
from harness.protocol.outcomes import Deadline, Observation, Stage
from harness.redact import redact

UPGRADE_MAX_BYTES = 256 * 1024  # bytes of the upgrade response (status, headers, body)


def _errno_of(exc: BaseException) -> int | None:
    """The OS error number inside ``exc`` (also for errors websocket-client re-wraps)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno is not None:
            return cur.errno
        cur = cur.__cause__ or cur.__context__
    return None


class UpgradeTooLarge(Exception):
    """The upgrade response went past :data:`UPGRADE_MAX_BYTES`."""

    def __str__(self) -> str:
        return f"upgrade response over {UPGRADE_MAX_BYTES} bytes ({Violation.UPGRADE_SIZE})"


class DeadlineSocket:
    """A socket as websocket-client uses it, every call bounded by one shared deadline.

    websocket-client leaves the timeout of a socket it is given as it is and reads the
    upgrade response one byte per call, so a per-call timeout never expires against a
    server that sends a byte now and then. Here each ``recv``/``send`` gets only the time
    left before ``deadline`` (``time.monotonic()``), then raises ``TimeoutError``; reads
    past ``budget`` bytes raise :class:`UpgradeTooLarge`. Reads are buffered (one system
    call per :data:`READ_BYTES`, not per byte); what the handshake did not consume (the
    first frames, when the server sent them with its 101) is :meth:`leftover`.
    """

    READ_BYTES = 4096

    def __init__(self, sock: socket.socket, deadline: float, budget: int) -> None:
        self._sock = sock
        self._deadline = deadline
        self._budget = budget
        self._buf = bytearray()
        self.received = 0  # bytes read from the socket so far

    def _left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("handshake deadline passed")
        return left

    def gettimeout(self) -> float:
        """The time left (never 0, which websocket-client takes for non-blocking)."""
        return max(0.001, self._deadline - time.monotonic())

    def settimeout(self, timeout: float | None) -> None:
        """Ignored: the deadline decides."""

    def fileno(self) -> int:
        return self._sock.fileno()

    def recv(self, bufsize: int) -> bytes:
        if not self._buf:
            self._sock.settimeout(self._left())
            data = self._sock.recv(self.READ_BYTES)
            if not data:
                return b""  # EOF: websocket-client reports the connection lost
            self.received += len(data)
            if self.received > self._budget:
                raise UpgradeTooLarge
            self._buf += data
        chunk = bytes(self._buf[:bufsize])
        del self._buf[:bufsize]
        return chunk

    def leftover(self) -> bytes:
        """Bytes read past the upgrade response: the start of the server's first frames."""
        data, self._buf = bytes(self._buf), bytearray()
        return data

    def send(self, data: bytes) -> int:
        """Send all of ``data`` before the deadline (websocket-client sends the request once)."""
        view = memoryview(data)
        done = 0
        while done < len(view):
            self._sock.settimeout(self._left())
            done += self._sock.send(view[done:])
        return done

    def close(self) -> None:
        """Ignored: the attempt closes the real socket itself."""


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


@dataclass
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
    host: str, port: int, timeout: float, res: Result, secrets: Sequence[str]
) -> socket.socket | Observation:
    """The TCP connection (``res.connect_ms`` measured), or the observation it ended with."""
    t0 = time.perf_counter()
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
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
    got = tcp_connect(host, port, req.connect_timeout, res, secrets)
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
        ws = websocket.WebSocket(skip_utf8_validation=True)
        bounded = DeadlineSocket(sock, deadline, UPGRADE_MAX_BYTES)
        ws.connect(  # type: ignore[no-untyped-call]
            build_url(req),
            socket=bounded,
            header=build_headers(req),
            subprotocols=build_subprotocols(req),
            timeout=req.handshake_timeout,
            suppress_origin=True,
            redirect_limit=0,
        )
    except websocket.WebSocketBadStatusException as exc:
        body = exc.resp_body
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
        res.error = redact(f"HTTP {exc.status_code}: {text.strip()}", secrets)[:ERROR_MAX]
        return sock, Observation(stage=stage, http_status=exc.status_code)
    except (websocket.WebSocketTimeoutException, TimeoutError):
        res.error = str(GaveUp(Deadline.HANDSHAKE, req.handshake_timeout))
        return sock, Observation(stage=stage, timed_out=True, gave_up=Deadline.HANDSHAKE)
    except UpgradeTooLarge as exc:
        res.error = str(exc)
        return sock, Observation(stage=stage, violation=Violation.UPGRADE_SIZE)
    except ssl.SSLError as exc:
        res.error = short_error(exc, secrets)
        return sock, Observation(stage=stage, tls_error=True, tls_failure=tls_failure(exc))
    except websocket.WebSocketConnectionClosedException as exc:
        res.error = short_error(exc, secrets)
        return sock, Observation(stage=stage, errno=_errno_of(exc))
    except OSError as exc:
        res.error = short_error(exc, secrets)
        return sock, Observation(stage=stage, errno=exc.errno)
    except (websocket.WebSocketException, ValueError) as exc:
        res.error = short_error(exc, secrets)
        return sock, Observation(stage=stage, protocol_error=True)
    except BaseException:  # interrupted: the TLS socket, if made, is not the caller's yet
        with contextlib.suppress(OSError):
            sock.close()
        raise
    status = ws.handshake_response.status if ws.handshake_response else 101
    if status != 101:  # a redirect, not followed
        res.error = f"HTTP {status} (redirect not followed)"
        return sock, Observation(stage=stage, http_status=status)
    return sock, bounded.leftover()
