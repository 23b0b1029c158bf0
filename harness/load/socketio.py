"""One Socket.IO connection attempt, as socket.io-client makes it, every wait bounded.

The same contract as :func:`harness.load.client.open_attempt`: a :class:`Result` of
protocol facts and measurements, never an exception for what the target did, and an
interruption recorded as far as it got, then re-raised.

What the attempt does (Engine.IO v4, Socket.IO v5):

1. Open an Engine.IO session on the first transport of ``target.socketio.transports``:
   ``websocket`` (``GET <path>?EIO=4&transport=websocket``, upgraded to a WebSocket, the
   server's OPEN packet in the first frame) or ``polling`` (the OPEN packet in the body of
   ``GET <path>?EIO=4&transport=polling``). With ``[websocket, polling]``, a WebSocket
   that got past the TCP connect but failed (a status, a reset, a timeout: a proxy that
   blocks the upgrade) falls back to polling; the record says ``fallback``. A TCP connect
   that fails is not retried on polling: it would reach the same port.
2. Send CONNECT with the token in the auth object (placement ``socketio_auth``) and wait
   for the server's answer within the handshake deadline: CONNECT (connected) or
   CONNECT_ERROR (its message classified by the scenario's patterns:
   :class:`harness.protocol.outcomes.SocketIOMeaning`).
3. A polling session upgrades to a WebSocket when ``upgrade`` is set and the server offers
   it (probe ``2probe``/``3probe``, the outstanding GET drained, then ``5``); an upgrade
   that fails leaves the session on polling, as socket.io-client does (``upgraded``).
4. The session: hold for ``load.session.hold``, emitting ``messages`` events
   (``target.socketio.event``, JSON text) with an acknowledgement each, timed as the
   round trip. The server's Engine.IO pings are answered; none within pingInterval +
   pingTimeout (its OPEN packet) ends the attempt ``timeout_heartbeat``. A DISCONNECT
   from the server is ``server_disconnect``; an event named in ``target.socketio.events``
   ends the attempt as the refusal it is mapped to.
5. The client's DISCONNECT, then the transport's close (a WebSocket close frame, or the
   Engine.IO close packet over polling).

Timing: ``connect_ms`` and ``tls_ms`` are the first transport's (the polling one after a
fallback); ``handshake_ms`` runs from the end of TLS to the server's answer to CONNECT:
the WebSocket upgrade or the polling open, the Engine.IO OPEN and the Socket.IO CONNECT.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import h11

from harness.config.scenario import SocketIO
from harness.load.client import (
    GOING_AWAY,
    SessionPlan,
    client_close,
    fail_connection,
    server_closed,
)
from harness.load.connection import Connection, GaveUp, PeerClosed
from harness.load.dial import (
    Dial,
    dial_websocket,
    endpoint,
    no_delay,
    start_tls,
    tcp_connect,
    tls_failure,
)
from harness.load.footprint import OPEN
from harness.load.http11 import BodyTooLarge, Channel, Dialer, Response
from harness.load.request import Request, build_headers, build_url
from harness.load.result import ERROR_MAX, Result, interrupted, short_error
from harness.load.transports import (
    POLLING,
    PONG,
    WEBSOCKET,
    PollingTransport,
    PollRefused,
    ServerClosed,
    Transport,
    WebSocketTransport,
)
from harness.protocol.engineio import (
    EIO_VERSION,
    PROBE,
    CodecError,
    CodecViolation,
    EioPacket,
    EioType,
    OpenInfo,
    SioPacket,
    SioType,
    connect_error_message,
    decode_payload,
    decode_sio,
    encode_sio,
    parse_open,
)
from harness.protocol.frames import FrameViolation, Violation
from harness.protocol.outcomes import Deadline, Observation, Stage
from harness.redact import redact

#: What ends an Engine.IO or Socket.IO handshake, as :func:`_handshake_failed` reads it.
HANDSHAKE_FAILURES = (
    GaveUp,
    ServerClosed,
    PollRefused,
    PeerClosed,
    FrameViolation,
    CodecError,
    BodyTooLarge,
    h11.ProtocolError,
    OSError,
)


@dataclass
class _Ended(Exception):
    """The attempt ended with ``observation`` (raised from deep in the session)."""

    observation: Observation


@dataclass
class _State:
    """One attempt's moving parts: where it is, its transports' sockets, its session."""

    req: Request
    plan: SessionPlan
    sio: SocketIO
    res: Result
    secrets: Sequence[str]
    stage: Stage = Stage.CONNECT
    dials: list[Dial] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    transport: Transport | None = None
    info: OpenInfo | None = None
    heartbeat_due: float = 0.0  # time.monotonic() by which the server's next ping must come
    pending: list[EioPacket] = field(default_factory=list)  # received, not yet handled

    def close(self) -> None:
        for channel in self.channels:
            channel.close()
        for dial in self.dials:
            dial.close()


def open_socketio_attempt(req: Request, plan: SessionPlan, sio: SocketIO) -> Result:
    """Open a Socket.IO session per ``sio``, run ``plan`` on it, close; see the module
    docstring. Never raises for target behaviour; an interruption is re-raised with the
    partial result attached (:func:`harness.load.result.partial_result`)."""
    st = _State(req, plan, sio, Result(Observation(stage=Stage.CONNECT)), _secrets(req))
    t_open: float | None = None
    try:
        try:
            ended = _open(st)
            if ended is None:
                t_open = time.perf_counter()
                OPEN.opened()
                ended = _session(st)
        except _Ended as exc:
            ended = exc.observation
        st.res.observation = ended
        return st.res
    except BaseException as exc:  # GreenletExit, KeyboardInterrupt: record, then go on
        interrupted(st.res, st.stage, exc)
        raise
    finally:
        if t_open is not None:
            st.res.open_s = time.perf_counter() - t_open
            OPEN.closed()
        st.close()


def _secrets(req: Request) -> list[str]:
    return [req.token] if req.token else []


# --- URLs -------------------------------------------------------------------------------


def engine_url(req: Request, sio: SocketIO, transport: str, sid: str | None = None) -> str:
    """The Engine.IO endpoint for ``transport``: the scheme for it (ws/wss for a WebSocket,
    http/https for polling), ``sio.path``, ``EIO=4&transport=...`` (and ``sid``) after the
    URL's own query, the token last when it goes in the query."""
    parts = urlsplit(req.url)
    secure = parts.scheme in ("wss", "https")
    if transport == WEBSOCKET:
        scheme = "wss" if secure else "ws"
    else:
        scheme = "https" if secure else "http"
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [("EIO", str(EIO_VERSION)), ("transport", transport)]
    if sid is not None:
        query.append(("sid", sid))
    url = urlunsplit((scheme, parts.netloc, sio.path, urlencode(query), ""))
    return build_url(replace(req, url=url))


def auth_object(req: Request, sio: SocketIO) -> dict[str, object] | None:
    """The CONNECT packet's auth object: the token in ``sio.auth_field`` (placement
    ``socketio_auth``; None when no token is sent at all)."""
    if req.placement != "socketio_auth" or req.token is None:
        return None
    return {sio.auth_field: req.token}


# --- Opening ----------------------------------------------------------------------------


def _open(st: _State) -> Observation | None:
    """Open the Engine.IO session and connect the namespace: None once connected, else
    how the attempt ended."""
    order = st.sio.transports
    if order[0] == WEBSOCKET:
        got = _open_websocket(st)
        if isinstance(got, Observation):
            if POLLING not in order or got.stage is Stage.CONNECT:
                return got
            st.res.fallback = True  # what the WebSocket met stays in the error text
            failed = st.res.error
            st.res = Result(Observation(stage=Stage.CONNECT), fallback=True)
            got = _open_polling(st)
            if isinstance(got, Observation):
                st.res.error = f"{st.res.error}; websocket before it: {failed}"
                return got
    else:
        got = _open_polling(st)
        if isinstance(got, Observation):
            return got
    st.transport, st.info = got
    st.res.transport = st.transport.name
    st.heartbeat_due = time.monotonic() + st.info.heartbeat_deadline_s
    refused = _connect(st)
    if refused is not None:
        return refused
    if (
        isinstance(st.transport, PollingTransport)
        and st.sio.upgrade
        and WEBSOCKET in st.sio.transports
        and WEBSOCKET in st.info.upgrades
    ):
        _upgrade(st, st.transport, st.info)
    st.stage = Stage.OPEN
    return None


def _open_websocket(st: _State) -> tuple[Transport, OpenInfo] | Observation:
    """Dial the WebSocket transport and read the OPEN packet (handshake deadline)."""
    req = replace(st.req, url=engine_url(st.req, st.sio, WEBSOCKET))
    dial = Dial()
    st.dials.append(dial)
    got = dial_websocket(req, st.res, st.secrets, dial)
    st.stage = dial.stage
    if isinstance(got, Observation):
        return got
    assert dial.sock is not None
    st.stage = Stage.HANDSHAKE  # the WebSocket is open; the Engine.IO session is not yet
    t1 = time.perf_counter()
    transport = WebSocketTransport(_connection(dial, st.plan, got))
    deadline = time.monotonic() + st.req.handshake_timeout
    try:
        packets = _receive_until(transport, deadline, st.req.handshake_timeout)
        info = _open_packet(packets[0])
    except _Ended as exc:
        return exc.observation
    except (GaveUp, ServerClosed, PeerClosed, FrameViolation, CodecError, OSError) as exc:
        return _handshake_failed(st, exc)
    finally:  # the upgrade's time, and the OPEN packet's after it
        st.res.handshake_ms = (st.res.handshake_ms or 0.0) + (time.perf_counter() - t1) * 1000.0
    st.pending.extend(packets[1:])
    return transport, info


def _open_polling(st: _State) -> tuple[Transport, OpenInfo] | Observation:
    """Open a polling session: the GET whose body carries the OPEN packet."""
    host, port, secure = endpoint(st.req.url)
    got = tcp_connect(host, port, st.req.connect_timeout, st.res, st.secrets, st.req.source_address)
    if isinstance(got, Observation):
        return got
    dial = Dial(Stage.HANDSHAKE, got)
    st.dials.append(dial)
    st.stage = Stage.HANDSHAKE
    t1 = time.perf_counter()
    deadline = time.monotonic() + st.req.handshake_timeout
    try:
        if secure:
            t_tls = time.perf_counter()
            dial.sock = start_tls(got, host, st.req.verify_tls, deadline, st.req.ca_file)
            st.res.tls_ms = (time.perf_counter() - t_tls) * 1000.0
    except ssl.SSLError as exc:
        st.res.error = short_error(exc, st.secrets)
        return Observation(stage=Stage.HANDSHAKE, tls_error=True, tls_failure=tls_failure(exc))
    except TimeoutError:
        st.res.error = str(GaveUp(Deadline.HANDSHAKE, st.req.handshake_timeout))
        return Observation(stage=Stage.HANDSHAKE, timed_out=True, gave_up=Deadline.HANDSHAKE)
    except OSError as exc:
        st.res.error = short_error(exc, st.secrets)
        return Observation(stage=Stage.HANDSHAKE, errno=exc.errno)
    t1 += (st.res.tls_ms or 0.0) / 1000.0
    url = urlsplit(engine_url(st.req, st.sio, POLLING))
    target = f"{url.path}?{url.query}"
    hostport = url.netloc.rsplit("@", 1)[-1]
    headers = [_header(line) for line in build_headers(st.req)]
    limit = st.plan.max_message_bytes
    receiving = Channel(_dialer(st, host, port, secure), hostport, limit, sock=dial.sock)
    dial.sock = None  # the channel owns it now
    sending = Channel(_dialer(st, host, port, secure), hostport, limit)
    st.channels += [receiving, sending]
    try:
        response = receiving.exchange("GET", target, headers, b"", deadline)
        if response is None:
            raise GaveUp(Deadline.HANDSHAKE, st.req.handshake_timeout)
        st.res.handshake_ms = (time.perf_counter() - t1) * 1000.0
        if response.status != 200:
            st.res.error = _status_error(response, st.secrets)
            return Observation(stage=Stage.HANDSHAKE, http_status=response.status)
        packets = decode_payload(response.body.decode("utf-8", "replace"))
        info = _open_packet(packets[0])
    except _Ended as exc:
        return exc.observation
    except (GaveUp, PeerClosed, CodecError, BodyTooLarge, h11.ProtocolError, OSError) as exc:
        return _handshake_failed(st, exc)
    cookies = _cookies(response)
    if cookies:  # a sticky-session cookie of a load balancer: sent back, as a browser does
        headers.append(("Cookie", cookies))
    transport = PollingTransport(receiving, sending, target, headers, st.plan.send_timeout)
    transport.with_sid(info.sid)
    st.pending.extend(packets[1:])
    return transport, info


def _dialer(st: _State, host: str, port: int, secure: bool) -> Dialer:
    """Makes another connection to the service (the second polling channel, or a new one
    after the server closed a keep-alive connection), TLS included, by a deadline."""

    def dial(deadline: float) -> socket.socket:
        left = max(0.001, deadline - time.monotonic())
        sock = socket.create_connection((host, port), timeout=left)
        no_delay(sock)
        if not secure:
            return sock
        try:
            return start_tls(sock, host, st.req.verify_tls, deadline, st.req.ca_file)
        except BaseException:
            sock.close()
            raise

    return dial


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip(), value.strip()


def _connection(dial: Dial, plan: SessionPlan, received: bytes) -> Connection:
    assert dial.sock is not None
    return Connection(
        dial.sock,
        plan.limits,
        send_timeout=plan.send_timeout,
        message_timeout=plan.message_timeout,
        received=received,
    )


def _receive_until(transport: Transport, deadline: float, seconds: float) -> list[EioPacket]:
    """The next packets, by ``deadline`` (else the handshake deadline expired)."""
    while True:
        packets = transport.receive(deadline)
        if packets:
            return packets
        if time.monotonic() >= deadline:
            raise GaveUp(Deadline.HANDSHAKE, seconds)


def _open_packet(packet: EioPacket) -> OpenInfo:
    """The session the server's first packet opens (it must be OPEN)."""
    if packet.type is not EioType.OPEN or not isinstance(packet.data, str):
        detail = f"first packet is {packet.type.name}, not OPEN"
        raise CodecError(CodecViolation.EIO_OPEN, detail)
    return parse_open(packet.data)


def _status_error(response: Response, secrets: Sequence[str]) -> str:
    text = response.body[:ERROR_MAX].decode("utf-8", "replace").strip()
    return redact(f"HTTP {response.status}: {text}", secrets)[:ERROR_MAX]


def _cookies(response: Response) -> str:
    """The ``Cookie`` header for the cookies the server set (name=value of each)."""
    pairs = [v.split(";", 1)[0].strip() for v in response.header("set-cookie")]
    return "; ".join(p for p in pairs if "=" in p)


def _handshake_failed(st: _State, exc: BaseException) -> Observation:
    """What ended the Engine.IO or Socket.IO handshake, as an observation at HANDSHAKE."""
    res = st.res
    if isinstance(exc, GaveUp):
        res.error = str(exc)
        return Observation(stage=Stage.HANDSHAKE, timed_out=True, gave_up=Deadline.HANDSHAKE)
    if isinstance(exc, ServerClosed):
        res.close_reason = redact(exc.frame.reason, st.secrets) if exc.frame.reason else None
        res.error = f"closed by the server ({exc.frame.code}) before the Socket.IO CONNECT"
        return Observation(stage=Stage.HANDSHAKE, close_code=exc.frame.code, close_frame=True)
    if isinstance(exc, PollRefused):
        res.error = str(exc)
        return Observation(stage=Stage.HANDSHAKE, http_status=exc.status)
    if isinstance(exc, FrameViolation):
        res.error = redact(str(exc), st.secrets)[:ERROR_MAX]
        return Observation(stage=Stage.HANDSHAKE, violation=exc.violation)
    if isinstance(exc, BodyTooLarge):
        res.error = str(exc)
        return Observation(stage=Stage.HANDSHAKE, violation=Violation.MESSAGE_SIZE)
    if isinstance(exc, (CodecError, h11.ProtocolError)):
        res.error = redact(f"{type(exc).__name__}: {exc}", st.secrets)[:ERROR_MAX]
        return Observation(stage=Stage.HANDSHAKE, protocol_error=True)
    if isinstance(exc, PeerClosed):
        res.error = str(exc)
        return Observation(stage=Stage.HANDSHAKE)
    assert isinstance(exc, OSError)
    res.error = short_error(exc, st.secrets)
    return Observation(stage=Stage.HANDSHAKE, errno=exc.errno)


def _connect(st: _State) -> Observation | None:
    """Send CONNECT; None once the server connected the namespace, else the refusal."""
    assert st.transport is not None
    ns = st.sio.namespace
    t1 = time.perf_counter() - (st.res.handshake_ms or 0.0) / 1000.0
    deadline = time.monotonic() + st.req.handshake_timeout
    try:
        st.transport.send([_sio(SioPacket(SioType.CONNECT, ns, auth_object(st.req, st.sio)))])
        while True:
            for packet in _take(st, deadline, st.req.handshake_timeout):
                sio = _handle_engine(st, packet)
                if sio is None:
                    continue
                if sio.namespace != ns:
                    _unmatched(st.res)
                elif sio.type is SioType.CONNECT:
                    return None
                elif sio.type is SioType.CONNECT_ERROR:
                    message = redact(connect_error_message(sio), st.secrets)[:ERROR_MAX]
                    st.res.connect_error = message
                    st.res.error = f"CONNECT_ERROR: {message}"
                    return Observation(stage=Stage.HANDSHAKE, connect_error=message)
                else:
                    _unmatched(st.res)
    except HANDSHAKE_FAILURES as exc:
        return _handshake_failed(st, exc)
    finally:
        st.res.handshake_ms = (time.perf_counter() - t1) * 1000.0


def _take(st: _State, until: float, seconds: float) -> list[EioPacket]:
    """Packets held over from the last read, else the next ones by ``until``."""
    assert st.transport is not None
    if st.pending:
        packets, st.pending = st.pending, []
        return packets
    packets = st.transport.receive(until)
    if not packets and time.monotonic() >= until:
        raise GaveUp(Deadline.HANDSHAKE, seconds)
    return packets


def _sio(packet: SioPacket) -> EioPacket:
    return EioPacket(EioType.MESSAGE, encode_sio(packet))


def _unmatched(res: Result) -> None:
    res.msgs_recv += 1
    res.msgs_unmatched += 1


def _handle_engine(st: _State, packet: EioPacket) -> SioPacket | None:
    """Answer a ping, drop a noop, read a message as Socket.IO; the server's Engine.IO close
    ends the attempt."""
    assert st.transport is not None and st.info is not None
    if packet.type is EioType.PING:
        st.res.pings += 1
        st.heartbeat_due = time.monotonic() + st.info.heartbeat_deadline_s
        st.transport.send([PONG])
        return None
    if packet.type is EioType.CLOSE:  # a shutdown: socket.io-client's "transport close"
        st.res.close_reason = "Engine.IO close"
        raise _Ended(Observation(stage=st.stage, closed_by="server", engine_close=True))
    if packet.type is EioType.MESSAGE:
        if isinstance(packet.data, bytes):
            _unmatched(st.res)  # a binary attachment: nothing this client asked for
            return None
        return decode_sio(packet.data)
    return None  # noop, pong, a repeated open or upgrade: nothing to do


# --- Upgrade ----------------------------------------------------------------------------


def _upgrade(st: _State, polling: PollingTransport, info: OpenInfo) -> None:
    """Upgrade the polling session to a WebSocket; on any failure it stays on polling."""
    req = replace(st.req, url=engine_url(st.req, st.sio, WEBSOCKET, sid=info.sid))
    scratch = Result(Observation(stage=Stage.CONNECT))  # the first transport's times stand
    dial = Dial()
    st.dials.append(dial)
    got = dial_websocket(req, scratch, st.secrets, dial)
    if isinstance(got, Observation):
        st.res.upgraded = False
        dial.close()
        return
    transport = WebSocketTransport(_connection(dial, st.plan, got))
    deadline = time.monotonic() + st.req.handshake_timeout
    try:
        transport.send([EioPacket(EioType.PING, PROBE)])
        while True:
            packets = transport.receive(deadline)
            if not packets and time.monotonic() >= deadline:
                raise GaveUp(Deadline.HANDSHAKE, st.req.handshake_timeout)
            if any(p.type is EioType.PONG and p.data == PROBE for p in packets):
                break
        while polling.waiting:  # the server ends the outstanding GET (a noop) to pause it
            got_packets = polling.receive(deadline)
            st.pending.extend(got_packets)
            if not got_packets and time.monotonic() >= deadline:
                raise GaveUp(Deadline.HANDSHAKE, st.req.handshake_timeout)
        transport.send([EioPacket(EioType.UPGRADE)])
    except HANDSHAKE_FAILURES:
        st.res.upgraded = False
        dial.close()
        return
    polling.close()
    st.transport = transport
    st.res.upgraded = True
    st.res.transport = WEBSOCKET


# --- The session ------------------------------------------------------------------------


def _session(st: _State) -> Observation:
    """Hold the connected session per the plan; how it ended, whatever the server did."""
    transport = st.transport
    assert transport is not None and st.info is not None
    try:
        return _hold(st)
    except GaveUp as exc:
        st.res.error = str(exc)
        ws = st.transport if isinstance(st.transport, WebSocketTransport) else None
        if ws is not None and ws.conn.send_close(GOING_AWAY, st.plan.close_timeout):
            st.res.client_close_code = GOING_AWAY
        return Observation(
            stage=Stage.OPEN, timed_out=True, gave_up=exc.deadline, closed_by="client"
        )
    except ServerClosed as exc:
        assert isinstance(st.transport, WebSocketTransport)
        return server_closed(st.transport.conn, st.plan, st.res, exc.frame, st.secrets)
    except FrameViolation as exc:
        assert isinstance(st.transport, WebSocketTransport)
        return fail_connection(st.transport.conn, st.plan, st.res, exc, st.secrets)
    except (CodecError, h11.ProtocolError) as exc:
        st.res.error = redact(f"{type(exc).__name__}: {exc}", st.secrets)[:ERROR_MAX]
        return Observation(stage=Stage.OPEN, protocol_error=True)
    except BodyTooLarge as exc:
        st.res.error = str(exc)
        return Observation(stage=Stage.OPEN, violation=Violation.MESSAGE_SIZE)
    except (PeerClosed, PollRefused) as exc:
        st.res.error = str(exc)
        return Observation(stage=Stage.OPEN)
    except OSError as exc:
        st.res.error = short_error(exc, st.secrets)
        return Observation(stage=Stage.OPEN, errno=exc.errno)


def _hold(st: _State) -> Observation:
    """Emit the plan's events with acks over the hold; answer pings; then disconnect.

    Each read blocks until the next thing due: an emit, an ack's deadline, the server's
    next ping (pingInterval + pingTimeout), the end of the hold.

    Raises:
        GaveUp: ``reply`` (no ack in time), ``heartbeat`` (no ping in time), ``send``.
        _Ended: the server disconnected, sent a mapped event or closed the session.
    """
    plan, res, ns = st.plan, st.res, st.sio.namespace
    assert st.transport is not None and st.info is not None
    start = time.monotonic()
    hold_end = start + plan.hold
    step = plan.hold / (plan.messages + 1) if plan.messages else plan.hold
    next_send = start if plan.closed_loop else start + step
    awaited: int | None = None  # the ack id we wait for
    sent_at = 0.0
    t_sent = 0.0
    ack_id = 0
    while True:
        now = time.monotonic()
        if awaited is not None and now >= sent_at + plan.reply_timeout:
            raise GaveUp(Deadline.REPLY, plan.reply_timeout)
        if now >= st.heartbeat_due:
            raise GaveUp(Deadline.HEARTBEAT, st.info.heartbeat_deadline_s)
        if awaited is None and now >= hold_end:
            break
        if awaited is None and res.msgs_sent < plan.messages and next_send <= now < hold_end:
            ack_id += 1
            payload = {"n": res.msgs_sent + 1, "data": os.urandom(plan.message_bytes // 2).hex()}
            wanted = ack_id if plan.expect_reply else None
            emit = SioPacket(SioType.EVENT, ns, [st.sio.event, payload], wanted)
            t_sent = time.perf_counter()
            st.transport.send([_sio(emit)])
            res.msgs_sent += 1
            next_send = now if plan.closed_loop else next_send + step
            if wanted is not None:
                awaited, sent_at = wanted, time.monotonic()
            continue
        wake = st.heartbeat_due
        if awaited is not None:
            wake = min(wake, sent_at + plan.reply_timeout)
        elif res.msgs_sent < plan.messages:
            wake = min(wake, next_send, hold_end)
        else:
            wake = min(wake, hold_end)
        if st.pending:
            packets, st.pending = st.pending, []
        else:
            packets = st.transport.receive(wake)
        for packet in packets:
            sio = _handle_engine(st, packet)
            if sio is None:
                continue
            if sio.namespace != ns:
                _unmatched(res)
            elif sio.type is SioType.ACK and awaited is not None and sio.ack_id == awaited:
                res.msgs_recv += 1
                res.rtts_ms.append((time.perf_counter() - t_sent) * 1000.0)
                awaited = None
            elif sio.type is SioType.DISCONNECT:
                res.error = "io server disconnect"
                raise _Ended(
                    Observation(stage=Stage.OPEN, server_disconnect=True, closed_by="server")
                )
            elif sio.type is SioType.EVENT and _event_name(sio) in st.sio.events:
                name = _event_name(sio)
                res.error = redact(f"server event {name!r}: {_event_text(sio)}", st.secrets)[
                    :ERROR_MAX
                ]
                raise _Ended(Observation(stage=Stage.OPEN, server_event=name, closed_by="server"))
            else:
                _unmatched(res)
    return _disconnect(st)


def _event_name(packet: SioPacket) -> str:
    assert isinstance(packet.data, list)
    return str(packet.data[0])


def _event_text(packet: SioPacket) -> str:
    assert isinstance(packet.data, list)
    return json.dumps(packet.data[1:])[:ERROR_MAX]


def _disconnect(st: _State) -> Observation:
    """The client's DISCONNECT, then the transport's close (as socket.io-client's
    ``disconnect()``): a WebSocket close handshake, or the Engine.IO close over polling."""
    assert st.transport is not None
    bye = _sio(SioPacket(SioType.DISCONNECT, st.sio.namespace))
    if isinstance(st.transport, WebSocketTransport):
        st.transport.send([bye])
        return client_close(st.transport.conn, st.plan, st.res, st.secrets)
    st.transport.send([bye, EioPacket(EioType.CLOSE)])
    return Observation(stage=Stage.OPEN, closed_by="client")
