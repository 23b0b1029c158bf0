"""One WebSocket connection attempt, measured stage by stage, every wait bounded by a deadline.

This is the I/O edge that turns a URL and a token into protocol facts
(:class:`harness.protocol.outcomes.Observation`) plus measurements. It works in plain
threads and under gevent (Locust monkey-patches ``socket``).

Deadlines, each ending the attempt with an outcome that names it (the client gave up; it
never reads as "the peer vanished"):

- the TCP connect (``Request.connect_timeout``);
- TLS and the whole upgrade response, one deadline (``Request.handshake_timeout``): the
  socket handed to websocket-client gives each read only the time left, so a 101 sent
  one byte a second ends at the deadline, and the response is cut at
  :data:`UPGRADE_MAX_BYTES`;
- once open (:mod:`harness.load.connection`): each send, each reply (an echo of what we
  sent, nothing else), the pong to each of our pings (a missing one: a dead connection),
  each frame or fragmented message from its first byte, and the server's answer to our
  close frame (``SessionPlan.*_timeout``).

websocket-client does the opening handshake only; frames are read and written by
:class:`harness.load.connection.Connection`, which enforces RFC 6455 and our limits
(``SessionPlan.max_*``) and fails the connection with the close code the RFC asks for
(1002, 1007, 1009). ``WebSocket.close()`` is never called: it ends in a bare ``except``
that swallows gevent's ``GreenletExit`` and would keep a stopping Locust user alive.

An attempt never polls to learn that the run is stopping: each blocking read waits
until the next thing the session plan has to do (a send, a ping, a reply or pong
deadline, the end of the hold), so a held connection costs nothing while it waits. The
run stops an attempt by interrupting it (Locust kills the user's greenlet; a signal
raises in a thread): the interruption is recorded as far as the attempt got and
re-raised.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import selectors
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websocket

from harness.config.scenario import Auth, FirstMessage
from harness.load.connection import Connection, GaveUp, PeerClosed
from harness.protocol.foreign import foreign_protocol
from harness.protocol.frames import (
    MIB,
    OP_BINARY,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    CloseFrame,
    FrameViolation,
    Limits,
    Message,
    Ping,
    Pong,
    Violation,
    close_payload,
)
from harness.protocol.outcomes import Deadline, Observation, Stage
from harness.redact import redact

ERROR_MAX = 160  # characters kept of an error text
UPGRADE_MAX_BYTES = 256 * 1024  # bytes of the upgrade response (status, headers, body)
NORMAL_CLOSURE = 1000  # our close code at the end of a session
GOING_AWAY = 1001  # our close code when we give up on a connection (RFC 6455 section 7.4.1)
PING_BYTES = 8  # random payload of each of the client's pings
#: The error text of an attempt the harness interrupted (its stop), followed by the cause.
STOPPED_BY_HARNESS = "stopped by the harness"


@dataclass(frozen=True)
class Request:
    """Where to connect and with which token.

    Attributes:
        url: ws:// or wss:// URL of the endpoint.
        token: token text; ``None`` sends no token at all.
        placement: where the token goes: "query" (``?<query_param>=<token>``), "header"
            (``<header>: <scheme> <token>``), "cookie" (``Cookie: <cookie>=<token>``),
            "subprotocol" (``Sec-WebSocket-Protocol``: ``subprotocol`` with the token in
            it; the server must pick one of the values offered), or "first_message" (the
            text message ``first_message.template`` right after the open; see
            :func:`_authenticate`).
        query_param: name of the query parameter.
        header: name of the header.
        scheme: the header's scheme ("" sends the bare token).
        cookie: name of the cookie.
        subprotocol: the ``Sec-WebSocket-Protocol`` value offered, ``{token}`` substituted
            (a comma-separated list offers several).
        first_message: the auth message and its ack, for placement "first_message".
        connect_timeout: seconds for the TCP connect.
        handshake_timeout: seconds for TLS and the whole upgrade response together (one
            deadline, not per read).
        verify_tls: verify the server certificate for wss://.
        ca_file: PEM file of the CAs to trust for wss:// (None: the system's).
    """

    url: str
    token: str | None
    placement: str = "query"
    query_param: str = "token"
    header: str = "Authorization"
    scheme: str = "Bearer"
    cookie: str = "token"
    subprotocol: str = "{token}"
    first_message: FirstMessage = field(default_factory=FirstMessage)
    # Timeouts
    connect_timeout: float = 5.0
    handshake_timeout: float = 5.0
    # TLS
    verify_tls: bool = True
    ca_file: str | None = None


class SessionRunner(Protocol):
    """A custom session (``load.session.flow`` or ``hook``: :mod:`harness.load.flow`), run on
    the open connection in place of the plan's hold and messages.

    It is given the token (None: none sent) for its templates, and returns how the session
    ended, as :func:`_session` does; it raises what :func:`_open_session` turns into an
    observation (``GaveUp``, ``FrameViolation``, ``PeerClosed``, ``OSError``).
    """

    def __call__(
        self,
        conn: Connection,
        plan: SessionPlan,
        res: Result,
        secrets: Sequence[str],
        token: str | None,
    ) -> Observation: ...


@dataclass(frozen=True)
class SessionPlan:
    """What to do once open: hold for ``hold`` s, sending ``messages`` spread over it.

    A reply or a pong awaited, or a message from the server under way, when the hold ends
    is seen to its end or to its deadline, so an attempt lasts at most about ``hold`` plus
    the longest of ``reply_timeout``, ``ping_timeout`` and ``message_timeout``, plus
    ``close_timeout``.

    With ``ping_interval``, the client pings like a browser-side heartbeat (RFC 6455
    section 5.5.2): one ping of 8 random bytes at a time, the next ``ping_interval`` s after
    the last was sent (or once its pong came, when that is later); only a pong with the
    same payload answers it (RFC 6455 allows unsolicited pongs: they are ignored). The
    plain session pings; a ``flow`` does not.

    Attributes:
        hold: seconds to keep the connection open.
        messages: binary messages sent, spread over the hold.
        message_bytes: bytes of each message (random, incompressible).
        expect_reply: wait for the echo of each message (an equal payload) before the next.
        reply_timeout: seconds for each echo.
        send_timeout: seconds for each frame we send (a message, a pong, a close).
        message_timeout: seconds for a frame, or a fragmented message, from its first byte.
        close_timeout: seconds for the server's answer to our close frame.
        max_frame_bytes: payload bytes of one frame from the server (over: 1009).
        max_message_bytes: payload bytes of one message from the server (over: 1009).
        max_fragments: frames of one message from the server (over: 1009).
        ping_interval: seconds between the client's pings while open (0: no pings).
        ping_timeout: seconds for the pong to each ping; none in time is a dead
            connection: the attempt ends ``timeout_pong`` (deadline ``pong``).
        flow: a custom session run instead of the hold and messages (None: the plain one).
    """

    hold: float = 2.0
    messages: int = 2
    message_bytes: int = 64
    expect_reply: bool = True
    # Timeouts
    reply_timeout: float = 5.0
    send_timeout: float = 5.0
    message_timeout: float = 5.0
    close_timeout: float = 1.0
    # Limits
    max_frame_bytes: int = 1 * MIB
    max_message_bytes: int = 4 * MIB
    max_fragments: int = 256
    # Heartbeat
    ping_interval: float = 0.0
    ping_timeout: float = 5.0
    # Custom session
    flow: SessionRunner | None = None

    @property
    def limits(self) -> Limits:
        """The limits on what the server sends, as the frame parser takes them."""
        return Limits(self.max_frame_bytes, self.max_message_bytes, self.max_fragments)


@dataclass
class Result:
    """The protocol facts and measurements of one attempt.

    Attributes:
        client_close_code: code of the close frame the client started: 1000 at the end of
            a session, 1001 when it gave up, 1002/1007/1009 when it failed the connection
            (None: it sent none, or only echoed the server's).
        msgs_recv: data messages received, replies or not.
        msgs_unmatched: of those, messages that were not the echo awaited (unsolicited,
            or a different payload): counted, never a round trip.
        rtts_ms: round trips (milliseconds) of the echoes received.
        pings: the server's pings seen (each answered with a pong while open).
        client_pings: pings the client sent (``SessionPlan.ping_interval``).
        ping_rtts_ms: round trips (milliseconds) of the pongs that answered them.
    """

    observation: Observation
    connect_ms: float | None = None
    tls_ms: float | None = None  # the TLS handshake (wss://)
    handshake_ms: float | None = None  # upgrade request sent -> response read
    close_reason: str | None = None
    client_close_code: int | None = None
    open_s: float | None = None
    msgs_sent: int = 0
    msgs_recv: int = 0
    msgs_unmatched: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    pings: int = 0
    error: str | None = None
    client_pings: int = 0
    ping_rtts_ms: list[float] = field(default_factory=list)
    #: Socket.IO: the Engine.IO transport that carried the session ("websocket", "polling")
    transport: str | None = None
    fallback: bool = False  # Socket.IO: the WebSocket failed, polling carried the session
    upgraded: bool | None = None  # Socket.IO: a polling session upgraded (None: not tried)
    connect_error: str | None = None  # Socket.IO: the CONNECT_ERROR message (redacted)


def auth_request(url: str, auth: Auth, token: str | None, **options: Any) -> Request:
    """A request carrying ``token`` where the scenario's ``auth`` places it; ``options`` are
    the other :class:`Request` fields (timeouts, TLS)."""
    return Request(
        url=url,
        token=token,
        placement=auth.placement,
        query_param=auth.query_param,
        header=auth.header,
        scheme=auth.scheme,
        cookie=auth.cookie,
        subprotocol=auth.subprotocol,
        first_message=auth.first_message,
        **options,
    )


def build_url(req: Request) -> str:
    """The URL to request: ``req.url`` with the token in the query string when placed there."""
    if req.placement != "query" or req.token is None:
        return req.url
    parts = urlsplit(req.url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query.append((req.query_param, req.token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def build_headers(req: Request) -> list[str]:
    """Extra handshake headers: the token header or cookie when placed there."""
    if req.token is None:
        return []
    if req.placement == "header":
        value = f"{req.scheme} {req.token}" if req.scheme else req.token
        return [f"{req.header}: {value}"]
    if req.placement == "cookie":
        return [f"Cookie: {req.cookie}={req.token}"]
    return []


def build_subprotocols(req: Request) -> list[str] | None:
    """The subprotocols offered (placement "subprotocol"), else None (no header sent)."""
    if req.placement != "subprotocol" or req.token is None:
        return None
    offered = req.subprotocol.replace("{token}", req.token).split(",")
    return [p.strip() for p in offered if p.strip()]


def build_auth_message(req: Request) -> bytes | None:
    """The text of the auth message sent after the open (placement "first_message")."""
    if req.placement != "first_message" or req.token is None:
        return None
    return req.first_message.template.replace("{token}", req.token).encode()


def short_error(exc: BaseException, secrets: Sequence[str]) -> str:
    """``exc`` as a short line for the record: its type and text, secrets redacted."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return redact(text, secrets)[:ERROR_MAX]


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


# --- The opening handshake ------------------------------------------------------------


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


# --- The attempt ----------------------------------------------------------------------


def open_attempt(req: Request, plan: SessionPlan) -> Result:
    """Connect, hand-shake, run the session plan, close; never raises for target behaviour.

    Args:
        req: endpoint and token.
        plan: what to do while open.

    Returns:
        A :class:`Result`. Interruption by ``BaseException`` (gevent's ``GreenletExit``
        when Locust stops the user, ``KeyboardInterrupt``) is not swallowed: it is
        re-raised after the socket is shut, with the partial result attached as
        ``exc.harness_result`` (see :func:`partial_result`).
    """
    secrets = [req.token] if req.token else []
    res = Result(observation=Observation(stage=Stage.CONNECT))
    dial = Dial()
    t_open: float | None = None
    try:
        got = dial_websocket(req, res, secrets, dial)
        if isinstance(got, Observation):
            res.observation = got
            return res
        assert dial.sock is not None
        t_open = time.perf_counter()
        conn = Connection(
            dial.sock,
            plan.limits,
            send_timeout=plan.send_timeout,
            message_timeout=plan.message_timeout,
            received=got,
        )
        message = build_auth_message(req)
        auth = (message, req.first_message) if message is not None else None
        res.observation = _open_session(conn, plan, res, secrets, auth, req.token)
        return res
    except BaseException as exc:  # GreenletExit, KeyboardInterrupt: record, then let it go on
        interrupted(res, dial.stage, exc)
        raise
    finally:
        if t_open is not None:
            res.open_s = time.perf_counter() - t_open
        dial.close()


def interrupted(res: Result, stage: Stage, exc: BaseException) -> None:
    """Record that the harness interrupted the attempt at ``stage`` (its stop), and attach
    ``res`` to ``exc`` for :func:`partial_result`."""
    res.observation = Observation(stage=stage, interrupted=True, closed_by="client")
    res.error = res.error or f"{STOPPED_BY_HARNESS} ({type(exc).__name__})"
    exc.harness_result = res  # type: ignore[attr-defined]


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


def partial_result(exc: BaseException) -> Result | None:
    """The result recorded so far of an attempt that ``exc`` interrupted, if any."""
    res = getattr(exc, "harness_result", None)
    return res if isinstance(res, Result) else None


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


# --- The open session -----------------------------------------------------------------


def _open_session(
    conn: Connection,
    plan: SessionPlan,
    res: Result,
    secrets: Sequence[str],
    auth: tuple[bytes, FirstMessage] | None = None,
    token: str | None = None,
) -> Observation:
    """Run the session on an open connection; how it ended, whatever the server did.

    The one place that turns a deadline, a broken rule or a lost socket into the
    observation (and fails the connection with the right close code first). With
    ``auth`` (placement first_message) the session starts only once it is acknowledged.
    The session is the plan's ``flow`` when it has one (given ``token``), else the hold.
    """
    try:
        if auth is not None:
            refused = _authenticate(conn, plan, res, secrets, *auth)
            if refused is not None:
                return refused
        if plan.flow is not None:
            return plan.flow(conn, plan, res, secrets, token)
        return _session(conn, plan, res, secrets)
    except GaveUp as exc:
        res.error = str(exc)
        if conn.send_close(GOING_AWAY, plan.close_timeout):
            res.client_close_code = GOING_AWAY
        return Observation(
            stage=Stage.OPEN, timed_out=True, gave_up=exc.deadline, closed_by="client"
        )
    except FrameViolation as exc:
        return fail_connection(conn, plan, res, exc, secrets)
    except PeerClosed as exc:
        res.error = str(exc)
        return Observation(stage=Stage.OPEN)
    except OSError as exc:
        res.error = short_error(exc, secrets)
        return Observation(stage=Stage.OPEN, errno=exc.errno)


def is_ack(data: bytes, first: FirstMessage) -> bool:
    """Whether a server message is the auth ack: a JSON object whose ``first.ack_field``
    equals ``first.ack_value`` (see :func:`json_field_equals`)."""
    return json_field_equals(data, first.ack_field, first.ack_value)


def json_field_equals(data: bytes, name: str, value: str | None) -> bool:
    """Whether ``data`` is a JSON object whose top-level field ``name`` equals ``value`` (a
    value that is not a string compared as its JSON text; None: any value)."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, or nested deeper than Python recurses
        return False
    if not isinstance(doc, dict) or name not in doc:
        return False
    if value is None:
        return True
    got = doc[name]
    return (got if isinstance(got, str) else json.dumps(got)) == value


def _authenticate(
    conn: Connection,
    plan: SessionPlan,
    res: Result,
    secrets: Sequence[str],
    message: bytes,
    first: FirstMessage,
) -> Observation | None:
    """Send the auth message and wait up to ``first.timeout`` s for its ack.

    The auth message and its ack are not counted as session messages; other messages
    meanwhile are counted (received, unmatched) and pings answered. Returns None once
    acknowledged, else the observation of the server's close in reply (classified by
    its code, like any close).

    Raises:
        GaveUp: ``auth`` when no ack came in time; or ``send``/``message``.
        FrameViolation, PeerClosed, OSError: see :func:`_open_session`.
    """
    conn.send(OP_TEXT, message)
    end = time.monotonic() + first.timeout
    while True:
        event = conn.receive(end)
        if event is None:
            raise GaveUp(Deadline.AUTH, first.timeout)
        if isinstance(event, CloseFrame):
            return server_closed(conn, plan, res, event, secrets)
        if isinstance(event, Ping):
            res.pings += 1
            conn.send(OP_PONG, event.data)
        elif isinstance(event, Message):
            if is_ack(event.data, first):
                return None
            res.msgs_recv += 1
            res.msgs_unmatched += 1


def fail_connection(
    conn: Connection,
    plan: SessionPlan,
    res: Result,
    exc: FrameViolation,
    secrets: Sequence[str],
) -> Observation:
    """Fail the connection for ``exc`` (RFC 6455 section 7.1.7): our close frame with the
    code the rule asks for, no wait for an answer; the server's close code is kept."""
    code = exc.client_code
    failed = ""
    if code is not None and conn.send_close(code, plan.close_timeout):
        res.client_close_code = code
        failed = f"; failed the connection with {code}"
    res.error = redact(f"{exc}{failed}", secrets)[:ERROR_MAX]
    if exc.close_reason:
        res.close_reason = redact(exc.close_reason, secrets)[:ERROR_MAX]
    return Observation(
        stage=Stage.OPEN,
        violation=exc.violation,
        close_code=exc.close_code,
        close_frame=exc.in_close,
        closed_by="server" if exc.in_close else "client",
    )


def _session(
    conn: Connection, plan: SessionPlan, res: Result, secrets: Sequence[str]
) -> Observation:
    """Hold the open connection per ``plan``; return the observation of how it ended.

    Each read blocks until the next event of the plan (a send, a ping, a reply or pong
    deadline, the end of the hold): nothing wakes up in between. A reply or a pong
    awaited, or a message under way, at the end of the hold is waited for, up to its own
    deadline; no ping is sent once the hold is over.

    Raises:
        GaveUp, FrameViolation, PeerClosed, OSError: see :func:`_open_session`.
    """
    start = time.monotonic()
    hold_end = start + plan.hold
    step = plan.hold / (plan.messages + 1) if plan.messages else plan.hold
    next_send = start + step
    awaited: bytes | None = None  # the payload whose echo we wait for
    sent_at = 0.0  # time.monotonic() when it was sent
    t_sent = 0.0  # time.perf_counter() when it was sent, for the round trip
    next_ping = start + plan.ping_interval if plan.ping_interval > 0 else math.inf
    ping: bytes | None = None  # the payload of our ping whose pong we wait for
    ping_at = 0.0  # time.monotonic() when it was sent
    t_ping = 0.0  # time.perf_counter() when it was sent, for the round trip
    while True:
        now = time.monotonic()
        if awaited is not None and now >= sent_at + plan.reply_timeout:
            raise GaveUp(Deadline.REPLY, plan.reply_timeout)
        if ping is not None and now >= ping_at + plan.ping_timeout:
            raise GaveUp(Deadline.PONG, plan.ping_timeout)  # a dead connection detected
        if awaited is None and ping is None and now >= hold_end and not conn.busy:
            break
        if ping is None and next_ping <= now < hold_end:
            ping = os.urandom(PING_BYTES)
            t_ping = time.perf_counter()
            conn.send(OP_PING, ping)
            res.client_pings += 1
            ping_at = time.monotonic()
            next_ping = ping_at + plan.ping_interval
            continue
        if awaited is None and res.msgs_sent < plan.messages and next_send <= now < hold_end:
            payload = os.urandom(plan.message_bytes)
            t_sent = time.perf_counter()
            conn.send(OP_BINARY, payload)
            res.msgs_sent += 1
            next_send += step
            if plan.expect_reply:
                awaited, sent_at = payload, time.monotonic()
            continue
        if awaited is not None:
            wake = sent_at + plan.reply_timeout
        elif now < hold_end:
            wake = min(hold_end, next_send) if res.msgs_sent < plan.messages else hold_end
        elif ping is not None:  # the hold is over, a pong is awaited
            wake = math.inf
        else:  # the hold is over, a message is under way: its own deadline bounds it
            wake = conn.message_deadline or now
        if ping is not None:
            wake = min(wake, ping_at + plan.ping_timeout)
        elif next_ping < hold_end:
            wake = min(wake, next_ping)
        event = conn.receive(wake)
        if event is None:
            continue
        if isinstance(event, CloseFrame):  # the server closes: answer with its code, done
            return server_closed(conn, plan, res, event, secrets)
        if isinstance(event, Ping):
            res.pings += 1
            conn.send(OP_PONG, event.data)
        elif isinstance(event, Pong):  # the answer to our ping; any other is unsolicited
            if ping is not None and event.data == ping:
                res.ping_rtts_ms.append((time.perf_counter() - t_ping) * 1000.0)
                ping = None
        elif isinstance(event, Message):
            res.msgs_recv += 1
            foreign = foreign_protocol(event.opcode, event.data) if res.msgs_recv == 1 else None
            if foreign is not None:  # not the scenario's protocol: its sessions mean nothing
                return replace(client_close(conn, plan, res, secrets), foreign_protocol=foreign)
            if awaited is not None and event.data == awaited:
                res.rtts_ms.append((time.perf_counter() - t_sent) * 1000.0)
                awaited = None
            else:
                res.msgs_unmatched += 1
    return client_close(conn, plan, res, secrets)


def server_closed(
    conn: Connection, plan: SessionPlan, res: Result, event: CloseFrame, secrets: Sequence[str]
) -> Observation:
    """The server sent a close frame: echo its code (RFC 6455 section 5.5.1) and end there."""
    res.close_reason = redact(event.reason, secrets) if event.reason else None
    conn.send_close(event.code, plan.close_timeout)
    return Observation(
        stage=Stage.OPEN, close_code=event.code, close_frame=True, closed_by="server"
    )


def client_close(
    conn: Connection, plan: SessionPlan, res: Result, secrets: Sequence[str]
) -> Observation:
    """Send a normal close frame and wait up to ``plan.close_timeout`` for the server's.

    Raises:
        GaveUp: ``send``: our close frame could not be written in time.
        OSError: the socket failed while sending it.
    """
    conn.send(OP_CLOSE, close_payload(NORMAL_CLOSURE))
    res.client_close_code = NORMAL_CLOSURE
    end = time.monotonic() + plan.close_timeout
    ours = Observation(
        stage=Stage.OPEN, close_code=NORMAL_CLOSURE, close_frame=False, closed_by="client"
    )
    while True:
        try:
            event = conn.receive(end)
        except GaveUp:
            event = None  # a message under way when our close wait ended
        except (PeerClosed, OSError):
            return ours  # the server hung up without replying: our close still stands
        except FrameViolation as exc:  # no second close frame: record the rule broken
            res.error = redact(str(exc), secrets)[:ERROR_MAX]
            return Observation(
                stage=Stage.OPEN,
                violation=exc.violation,
                close_code=exc.close_code,
                close_frame=exc.in_close,
                closed_by="server" if exc.in_close else "client",
            )
        if event is None:
            res.error = res.error or str(GaveUp(Deadline.CLOSE, plan.close_timeout))
            return Observation(
                stage=Stage.OPEN,
                close_code=NORMAL_CLOSURE,
                close_frame=False,
                closed_by="client",
                gave_up=Deadline.CLOSE,
            )
        if isinstance(event, CloseFrame):
            res.close_reason = redact(event.reason, secrets) if event.reason else None
            if event.code not in (None, NORMAL_CLOSURE):
                # not the echo of our 1000: the server was closing on its own (e.g. 4401
                # sent while we were ending the session), so it is the server's close
                return Observation(
                    stage=Stage.OPEN, close_code=event.code, close_frame=True, closed_by="server"
                )
            return Observation(
                stage=Stage.OPEN,
                close_code=event.code or NORMAL_CLOSURE,
                close_frame=True,
                closed_by="client",
            )
        if isinstance(event, Message):
            res.msgs_recv += 1
            res.msgs_unmatched += 1
        elif isinstance(event, Ping):
            res.pings += 1  # no pong: nothing more is sent after our close frame
