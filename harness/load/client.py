"""One WebSocket connection attempt with websocket-client, measured stage by stage.

This is the I/O edge that turns a URL and a token into protocol facts
(:class:`harness.protocol.outcomes.Observation`) plus measurements. It works in plain
threads and under gevent (Locust monkey-patches ``socket``), and never calls
``WebSocket.close()``: that method ends in a bare ``except`` that swallows
gevent's ``GreenletExit`` and would keep a stopping Locust user alive. The
closing handshake is done by hand instead (RFC 6455 section 7.1.2), bounded
in time, then the socket is shut.

An attempt never polls to learn that the run is stopping: each blocking read waits
until the next thing the session plan has to do (a send, a reply deadline, the end
of the hold), so a held connection costs nothing while it waits. The run stops an
attempt by interrupting it (Locust kills the user's greenlet; a signal raises in a
thread): the interruption is recorded as far as the attempt got and re-raised.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import websocket
from websocket import ABNF

from harness.protocol.outcomes import Observation, Stage
from harness.redact import redact

CLOSE_WAIT_S = 1.0  # seconds to wait for the server's close reply after our close frame
ERROR_MAX = 160  # characters kept of an error text
#: The error text of an attempt the harness interrupted (its stop), followed by the cause.
STOPPED_BY_HARNESS = "stopped by the harness"


@dataclass(frozen=True)
class Request:
    """Where to connect and with which token.

    Attributes:
        url: ws:// or wss:// URL of the endpoint.
        token: token text; ``None`` sends no token at all.
        placement: "query" (``?<query_param>=<token>``) or "header" (``<header>: Bearer <token>``).
        query_param: name of the query parameter.
        header: name of the header.
        connect_timeout: seconds for the TCP connect.
        handshake_timeout: seconds for the upgrade response.
        verify_tls: verify the server certificate for wss://.
    """

    url: str
    token: str | None
    placement: str = "query"
    query_param: str = "token"
    header: str = "Authorization"
    connect_timeout: float = 5.0
    handshake_timeout: float = 5.0
    verify_tls: bool = True


@dataclass(frozen=True)
class SessionPlan:
    """What to do once open: hold for ``hold`` s, sending ``messages`` spread over it."""

    hold: float = 2.0  # seconds
    messages: int = 2
    message_bytes: int = 64
    expect_reply: bool = True
    reply_timeout: float = 5.0  # seconds per reply


@dataclass
class Result:
    """The protocol facts and measurements of one attempt."""

    observation: Observation
    connect_ms: float | None = None
    handshake_ms: float | None = None
    close_reason: str | None = None
    open_s: float | None = None
    msgs_sent: int = 0
    msgs_recv: int = 0
    rtts_ms: list[float] = field(default_factory=list)
    pings: int = 0
    error: str | None = None


def build_url(req: Request) -> str:
    """The URL to request: ``req.url`` with the token in the query string when placed there."""
    if req.placement != "query" or req.token is None:
        return req.url
    parts = urlsplit(req.url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    query.append((req.query_param, req.token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def build_headers(req: Request) -> list[str]:
    """Extra handshake headers: the token header when placed there."""
    if req.placement == "header" and req.token is not None:
        return [f"{req.header}: Bearer {req.token}"]
    return []


def _short(exc: BaseException, secrets: Sequence[str]) -> str:
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


def parse_close(payload: bytes) -> tuple[int | None, str | None]:
    """Code and reason of a close frame payload (RFC 6455 section 5.5.1)."""
    if len(payload) < 2:
        return None, None
    (code,) = struct.unpack("!H", payload[:2])
    return code, payload[2:].decode("utf-8", errors="replace") or None


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
    parts = urlsplit(req.url)
    secure = parts.scheme == "wss"
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if secure else 80)
    stage = Stage.CONNECT
    res = Result(observation=Observation(stage=stage))
    sock: socket.socket | None = None
    ws: websocket.WebSocket | None = None
    t_open: float | None = None
    try:
        t0 = time.perf_counter()
        try:
            sock = socket.create_connection((host, port), timeout=req.connect_timeout)
        except TimeoutError as exc:
            res.error = _short(exc, secrets)
            res.observation = Observation(stage=stage, timed_out=True)
            return res
        except OSError as exc:
            res.error = _short(exc, secrets)
            res.observation = Observation(stage=stage, errno=exc.errno)
            return res
        res.connect_ms = (time.perf_counter() - t0) * 1000.0
        stage = Stage.HANDSHAKE
        t1 = time.perf_counter()
        try:
            sock.settimeout(req.handshake_timeout)  # websocket-client leaves a given socket as is
            if secure:
                ctx = ssl.create_default_context()
                if not req.verify_tls:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                sock = ctx.wrap_socket(sock, server_hostname=host)
            ws = websocket.WebSocket(skip_utf8_validation=True)
            ws.connect(  # type: ignore[no-untyped-call]
                build_url(req),
                socket=sock,
                header=build_headers(req),
                timeout=req.handshake_timeout,
                suppress_origin=True,
                redirect_limit=0,
            )
        except websocket.WebSocketBadStatusException as exc:
            res.handshake_ms = (time.perf_counter() - t1) * 1000.0
            body = exc.resp_body
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
            res.error = redact(f"HTTP {exc.status_code}: {text.strip()}", secrets)[:ERROR_MAX]
            res.observation = Observation(stage=stage, http_status=exc.status_code)
            return res
        except (websocket.WebSocketTimeoutException, TimeoutError) as exc:
            res.error = _short(exc, secrets)
            res.observation = Observation(stage=stage, timed_out=True)
            return res
        except ssl.SSLError as exc:
            res.error = _short(exc, secrets)
            res.observation = Observation(stage=stage, tls_error=True)
            return res
        except websocket.WebSocketConnectionClosedException as exc:
            res.error = _short(exc, secrets)
            res.observation = Observation(stage=stage, errno=_errno_of(exc))
            return res
        except OSError as exc:
            res.error = _short(exc, secrets)
            res.observation = Observation(stage=stage, errno=exc.errno)
            return res
        except (websocket.WebSocketException, ValueError) as exc:
            res.error = _short(exc, secrets)
            res.observation = Observation(stage=stage, protocol_error=True)
            return res
        res.handshake_ms = (time.perf_counter() - t1) * 1000.0
        status = ws.handshake_response.status if ws.handshake_response else 101
        if status != 101:  # a redirect, not followed
            res.error = f"HTTP {status} (redirect not followed)"
            res.observation = Observation(stage=stage, http_status=status)
            return res
        stage = Stage.OPEN
        t_open = time.perf_counter()
        res.observation = _session(ws, plan, res, secrets)
        return res
    except BaseException as exc:  # GreenletExit, KeyboardInterrupt: record, then let it go on
        res.observation = Observation(stage=stage, interrupted=True, closed_by="client")
        res.error = res.error or f"{STOPPED_BY_HARNESS} ({type(exc).__name__})"
        exc.harness_result = res  # type: ignore[attr-defined]
        raise
    finally:
        if t_open is not None:
            res.open_s = time.perf_counter() - t_open
        _shut(ws, sock)


def partial_result(exc: BaseException) -> Result | None:
    """The result recorded so far of an attempt that ``exc`` interrupted, if any."""
    res = getattr(exc, "harness_result", None)
    return res if isinstance(res, Result) else None


def _shut(ws: websocket.WebSocket | None, sock: socket.socket | None) -> None:
    """Close the socket without websocket-client's exception-swallowing close()."""
    try:
        if ws is not None and ws.sock is not None:
            ws.shutdown()  # type: ignore[no-untyped-call]
        elif sock is not None:
            sock.close()
    except OSError:
        pass


def _session(
    ws: websocket.WebSocket, plan: SessionPlan, res: Result, secrets: Sequence[str]
) -> Observation:
    """Hold the open connection per ``plan``; return the observation of how it ended.

    Each read blocks until the next event of the plan (a send, a reply deadline, the
    end of the hold): nothing wakes up in between.
    """
    start = time.perf_counter()
    deadline = start + plan.hold
    step = plan.hold / (plan.messages + 1) if plan.messages else plan.hold
    next_send = start + step
    sent_at: float | None = None  # time of the message awaiting its reply
    while True:
        now = time.perf_counter()
        if sent_at is not None and now - sent_at > plan.reply_timeout:
            res.error = f"no reply within {plan.reply_timeout:g} s"
            sent_at = None
        if sent_at is None and now >= deadline:
            break
        if sent_at is None and res.msgs_sent < plan.messages and now >= next_send:
            try:
                ws.send_binary(os.urandom(plan.message_bytes))
            except (websocket.WebSocketException, OSError) as exc:
                res.error = _short(exc, secrets)
                return Observation(stage=Stage.OPEN, errno=_errno_of(exc))
            res.msgs_sent += 1
            next_send += step
            if plan.expect_reply:
                sent_at = time.perf_counter()
            continue
        wake = deadline if sent_at is None else sent_at + plan.reply_timeout
        if res.msgs_sent < plan.messages:
            wake = min(wake, next_send)
        ws.settimeout(max(0.001, wake - now))
        try:
            opcode, frame = ws.recv_data_frame(True)
        except websocket.WebSocketTimeoutException:
            continue
        except websocket.WebSocketConnectionClosedException as exc:
            res.error = _short(exc, secrets)
            return Observation(stage=Stage.OPEN, errno=_errno_of(exc))
        except (websocket.WebSocketException, ValueError) as exc:
            res.error = _short(exc, secrets)
            return Observation(stage=Stage.OPEN, protocol_error=True)
        except OSError as exc:
            res.error = _short(exc, secrets)
            return Observation(stage=Stage.OPEN, errno=exc.errno)
        if opcode == ABNF.OPCODE_CLOSE:  # the server closed; websocket-client replied
            code, reason = parse_close(frame.data if frame is not None else b"")
            res.close_reason = redact(reason, secrets) if reason else None
            return Observation(
                stage=Stage.OPEN, close_code=code, close_frame=True, closed_by="server"
            )
        if opcode == ABNF.OPCODE_PING:
            res.pings += 1
        elif opcode in (ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY):
            res.msgs_recv += 1
            if sent_at is not None:
                res.rtts_ms.append((time.perf_counter() - sent_at) * 1000.0)
                sent_at = None
    return _client_close(ws, res, secrets)


def _client_close(ws: websocket.WebSocket, res: Result, secrets: Sequence[str]) -> Observation:
    """Send a normal close frame and wait briefly for the server's reply."""
    try:
        ws.send_close(websocket.STATUS_NORMAL, b"")
    except (websocket.WebSocketException, OSError) as exc:
        res.error = _short(exc, secrets)
        return Observation(stage=Stage.OPEN, errno=_errno_of(exc))
    end = time.perf_counter() + CLOSE_WAIT_S
    while (left := end - time.perf_counter()) > 0:
        ws.settimeout(left)
        try:
            frame = ws.recv_frame()  # type: ignore[no-untyped-call]
        except websocket.WebSocketTimeoutException:
            continue
        except (websocket.WebSocketException, OSError, ValueError):
            break  # the server hung up without replying: our close still stands
        if frame.opcode == ABNF.OPCODE_CLOSE:
            code, reason = parse_close(frame.data)
            res.close_reason = redact(reason, secrets) if reason else None
            if code not in (None, websocket.STATUS_NORMAL):
                # not the echo of our 1000: the server was closing on its own (e.g. 4401
                # sent while we were ending the session), so it is the server's close
                return Observation(
                    stage=Stage.OPEN, close_code=code, close_frame=True, closed_by="server"
                )
            return Observation(
                stage=Stage.OPEN, close_code=code or 1000, close_frame=True, closed_by="client"
            )
    return Observation(
        stage=Stage.OPEN, close_code=websocket.STATUS_NORMAL, close_frame=False, closed_by="client"
    )
