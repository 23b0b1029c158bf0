"""One WebSocket connection attempt, measured stage by stage, every wait bounded by a deadline.

This is the I/O edge that turns a URL and a token into protocol facts
(:class:`harness.protocol.outcomes.Observation`) plus measurements. It works in plain
threads and under gevent (Locust monkey-patches ``socket``).

Deadlines, each ending the attempt with an outcome that names it (the client gave up; it
never reads as "the peer vanished"):

- the TCP connect, TLS and the upgrade (:mod:`harness.load.dial`);
- once open (:mod:`harness.load.connection`): each send, each reply (an echo of what we
  sent, nothing else), the pong to each of our pings (a missing one: a dead connection),
  each frame or fragmented message from its first byte, and the server's answer to our
  close frame (``SessionPlan.*_timeout``).

After the upgrade (:mod:`harness.load.dial`) frames are read and
written by :class:`harness.load.connection.Connection`, which enforces RFC 6455 and our
limits (``SessionPlan.max_*``) and fails the connection with the close code the RFC asks
for (1002, 1007, 1009).

An attempt never polls to learn that the run is stopping: each blocking read waits
until the next thing the session plan has to do (a send, a ping, a reply or pong
deadline, the end of the hold), so a held connection costs nothing while it waits. The
run stops an attempt by interrupting it (Locust kills the user's greenlet; a signal
raises in a thread): the interruption is recorded as far as the attempt got and
re-raised.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from harness.config.scenario import FirstMessage
from harness.load.connection import Connection, GaveUp, PeerClosed
from harness.load.dial import Dial, dial_websocket
from harness.load.footprint import OPEN
from harness.load.request import Request, build_auth_message
from harness.load.result import ERROR_MAX, Result, interrupted, short_error
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
    close_payload,
)
from harness.protocol.outcomes import Deadline, Observation, Stage
from harness.redact import redact

NORMAL_CLOSURE = 1000  # our close code at the end of a session


GOING_AWAY = 1001  # our close code when we give up on a connection (RFC 6455 section 7.4.1)


PING_BYTES = 8  # random payload of each of the client's pings


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
        closed_loop: send each message as soon as the echo of the last one came (chat-like
            load: as many round trips as the service answers, up to ``messages``), instead
            of spreading ``messages`` evenly over the hold.
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
    # Pace
    closed_loop: bool = False
    # Custom session
    flow: SessionRunner | None = None

    @property
    def limits(self) -> Limits:
        """The limits on what the server sends, as the frame parser takes them."""
        return Limits(self.max_frame_bytes, self.max_message_bytes, self.max_fragments)


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
        OPEN.opened()
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
            OPEN.closed()
        dial.close()


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
    next_send = start if plan.closed_loop else start + step
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
            next_send = now if plan.closed_loop else next_send + step
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
