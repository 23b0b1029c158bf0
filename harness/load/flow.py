"""Custom sessions: a flow of steps from the scenario, or the user's own Python function.

A plain session holds the connection and sends random binary messages awaiting their echo
(:func:`harness.load.client.open_attempt`). A real service speaks its own protocol, so a
scenario may describe the session instead (``docs/flows.md``):

- ``load.session.flow``: steps as data (:class:`StepFlow`): send a text template, await a
  reply whose JSON field matches (a round trip), pause, repeat;
- ``load.session.hook``: ``module:function`` or ``file.py:function`` (:class:`HookFlow`),
  called with a :class:`FlowConnection`, the same connection the steps run on.

Either runs on the open connection in place of the hold (``SessionPlan.flow``) and ends as
the plain session does, so its attempts are standard records: the flow done, the client
closes (1000) and the attempt is ``accepted``; each round trip is in ``rtts_ms``; a reply
that does not come in time ends the attempt ``timeout_reply`` (deadline ``reply``), other
deadlines and broken rules as always (``timeout_send``, ``timeout_message``, 1002/1009);
the server's close frame ends it with the server's code. Server pings are answered
throughout. The first of those events ends the connection for good: every later call of the
hook raises it again, and the attempt ends with it even when the hook's code caught it. An
exception of the hook's own code (anything else it raises) is the scenario's fault, never
the target's: outcome ``flow_error`` (verdict ``excluded``), the exception's type, message
and line in ``error`` (redacted, bounded).

A hook is imported once per process, when the run starts
(:func:`harness.load.hooks.check_hook`, also run by ``harness validate``): a missing file,
module or function is an error naming the key. Flows speak plain WebSocket; the Engine.IO
check of the plain session is not made (a flow says what the service speaks).
"""

from __future__ import annotations

import functools
import json
import math
import random
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.scenario import Expect, FlowStep, Session
from harness.load.client import (
    GOING_AWAY,
    SessionPlan,
    SessionRunner,
    client_close,
    json_field_equals,
    server_closed,
)
from harness.load.connection import Connection, GaveUp, PeerClosed
from harness.load.hooks import load_hook
from harness.load.result import ERROR_MAX, Result, short_error
from harness.protocol.frames import (
    OP_BINARY,
    OP_PONG,
    OP_TEXT,
    CloseFrame,
    FrameViolation,
    Message,
    Ping,
)
from harness.protocol.outcomes import Deadline, Observation, Stage

#: Messages a hook's connection keeps for :meth:`FlowConnection.receive` (those that came
#: while it slept); beyond, the oldest is dropped and counted unmatched.
MAX_PENDING = 1024

#: What ends a connection for good: the server's close, a deadline, a broken rule, EOF, a
#: socket error. Raised to the hook from the call that met it, and again from every later one.
ENDING = (GaveUp, FrameViolation, PeerClosed, OSError)


class ServerClosed(Exception):
    """The server sent its close frame (``frame``) during a call of the flow: the attempt
    ends with the server's close."""

    def __init__(self, frame: CloseFrame) -> None:
        super().__init__(frame)
        self.frame = frame

    def __str__(self) -> str:
        code = "no code" if self.frame.code is None else str(self.frame.code)
        return f"the server closed the connection ({code})"


class NoReply(GaveUp):
    """The reply a flow awaited (``what``) did not come within ``seconds``: deadline
    ``reply``, so the attempt ends ``timeout_reply``."""

    def __init__(self, seconds: float, what: str) -> None:
        super().__init__(Deadline.REPLY, seconds)
        self.what = what

    def __str__(self) -> str:
        return f"gave up: no reply {self.what} within {self.seconds:g} s"


Reply = Any  # a reply as a hook sees it: the parsed JSON of a text message, or its text or bytes
Match = Callable[[Reply], object]


class FlowConnection:
    """The open WebSocket as a session hook (and a data flow) uses it.

    Every wait is bounded: by the call's ``timeout`` (default ``load.session.reply_timeout``)
    and, for a frame begun, by the message deadline. Server pings are answered inside every
    call. See the module docstring for how the attempt ends.

    Attributes:
        user: the user's number in the run (from 1).
        token: the token this attempt carries (None: the kind sends none). Keep it out of
            logs: error texts have it redacted, your own prints do not.
    """

    def __init__(
        self,
        conn: Connection,
        plan: SessionPlan,
        res: Result,
        *,
        user: int,
        token: str | None,
    ) -> None:
        self.user = user
        self.token = token
        self._conn = conn
        self._plan = plan
        self._res = res
        self._pending: deque[Message] = deque()
        #: the event that ended the connection (a ServerClosed or one of ENDING), if any
        self.ended: BaseException | None = None

    # --- Sending ------------------------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Send one text message (counted in ``msgs_sent``)."""
        self._send(OP_TEXT, str(text).encode())

    def send_bytes(self, data: bytes) -> None:
        """Send one binary message (counted in ``msgs_sent``)."""
        self._send(OP_BINARY, bytes(data))

    def send_json(self, obj: Any) -> None:
        """Send ``obj`` as JSON in one text message."""
        self.send_text(json.dumps(obj))

    # --- Receiving ----------------------------------------------------------------------

    def receive(self, timeout: float | None = None) -> str | bytes | None:
        """The next message from the server (text as ``str``, binary as ``bytes``), or None
        when none came within ``timeout`` seconds (not an error: nothing ends)."""
        if self._pending:
            return _payload(self._pending.popleft())
        message = self._next(time.monotonic() + self._seconds(timeout))
        return None if message is None else _payload(message)

    def request(
        self, message: Any, match: Match | None = None, timeout: float | None = None
    ) -> Reply:
        """Send ``message`` and return the first reply that ``match`` accepts: one round trip,
        recorded in the attempt's ``rtts_ms``.

        ``message``: a ``str`` is sent as text, ``bytes`` as binary, anything else as JSON.
        ``match`` gets each message that comes after the send as :data:`Reply` (parsed JSON
        when it is JSON text); None accepts the first. Messages it refuses are counted
        ``msgs_unmatched`` and dropped.

        Raises:
            NoReply: none matched within ``timeout`` s: the attempt ends ``timeout_reply``.
        """
        seconds = self._seconds(timeout)
        send = functools.partial(self._send_any, message)
        return _reply(self._round_trip(send, _accepting(match), seconds, "matching the request"))

    def wait_for(self, match: Match | None = None, timeout: float | None = None) -> Reply:
        """The first message (kept ones first) that ``match`` accepts, as in :meth:`request`
        but without a send (a message the server pushes); not a round trip.

        Raises:
            NoReply: none matched within ``timeout`` s: the attempt ends ``timeout_reply``.
        """
        found = self._await(_accepting(match), self._seconds(timeout), "matching", pending=True)
        return _reply(found)

    def sleep(self, seconds: float) -> None:
        """Pause ``seconds`` (think time) while answering pings; messages that come meanwhile
        are kept for :meth:`receive` and :meth:`wait_for`."""
        until = time.monotonic() + _non_negative(seconds, "sleep")
        while (message := self._next(until)) is not None:
            if len(self._pending) >= MAX_PENDING:
                self._pending.popleft()
                self._res.msgs_unmatched += 1
            self._pending.append(message)

    # --- Inside -------------------------------------------------------------------------

    def drop_pending(self) -> None:
        """Count the kept messages as unmatched and forget them (nobody awaited them)."""
        self._res.msgs_unmatched += len(self._pending)
        self._pending.clear()

    def _round_trip(
        self, send: Callable[[], None], accept: Callable[[Message], bool], seconds: float, what: str
    ) -> Message:
        """``send``, then the first message ``accept`` takes: a round trip, recorded."""
        t_sent = time.perf_counter()
        send()
        found = self._await(accept, seconds, what, pending=False)
        self._res.rtts_ms.append((time.perf_counter() - t_sent) * 1000.0)
        return found

    def _seconds(self, timeout: float | None) -> float:
        return self._plan.reply_timeout if timeout is None else _non_negative(timeout, "timeout")

    def _send_any(self, message: Any) -> None:
        if isinstance(message, str):
            self.send_text(message)
        elif isinstance(message, bytes | bytearray):
            self.send_bytes(bytes(message))
        else:
            self.send_json(message)

    def _send(self, opcode: int, data: bytes) -> None:
        self._check_open()
        try:
            self._conn.send(opcode, data)
        except ENDING as exc:
            self.ended = exc
            raise
        self._res.msgs_sent += 1

    def _await(
        self, accept: Callable[[Message], bool], seconds: float, what: str, *, pending: bool
    ) -> Message:
        """The first message ``accept`` takes (kept ones first when ``pending``); refused
        ones are counted unmatched.

        Raises:
            NoReply: none within ``seconds`` (it ends the connection, as any deadline).
        """
        if pending:
            while self._pending:
                kept = self._pending.popleft()
                if accept(kept):
                    return kept
                self._res.msgs_unmatched += 1
        end = time.monotonic() + seconds
        while True:
            message = self._next(end)
            if message is None:
                self.ended = NoReply(seconds, what)
                raise self.ended
            if accept(message):
                return message
            self._res.msgs_unmatched += 1

    def _next(self, until: float) -> Message | None:
        """The next data message before ``until`` (``time.monotonic()``), pings answered.

        Raises:
            ServerClosed: the server's close frame came.
            GaveUp, FrameViolation, PeerClosed, OSError: see ``Connection.receive``.
        """
        self._check_open()
        try:
            while True:
                event = self._conn.receive(until)
                if event is None:
                    return None
                if isinstance(event, CloseFrame):
                    raise ServerClosed(event)
                if isinstance(event, Ping):
                    self._res.pings += 1
                    self._conn.send(OP_PONG, event.data)
                elif isinstance(event, Message):
                    self._res.msgs_recv += 1
                    return event
        except (ServerClosed, *ENDING) as exc:
            self.ended = exc
            raise

    def _check_open(self) -> None:
        if self.ended is not None:
            raise self.ended


def _non_negative(seconds: float, what: str) -> float:
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a number of seconds >= 0, got {seconds!r}")
    return value


def _payload(message: Message) -> str | bytes:
    if message.opcode == OP_TEXT:
        return message.data.decode("utf-8", "replace")
    return message.data


def _reply(message: Message) -> Reply:
    """The message as a hook sees it: parsed JSON when it is JSON text, else text or bytes."""
    payload = _payload(message)
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except (ValueError, RecursionError):
            return payload
    return payload


def _accepting(match: Match | None) -> Callable[[Message], bool]:
    if match is None:
        return lambda message: True
    return lambda message: bool(match(_reply(message)))


# --- Running a custom session ----------------------------------------------------------------


def run_flow(
    fc: FlowConnection,
    conn: Connection,
    plan: SessionPlan,
    res: Result,
    secrets: Sequence[str],
    body: Callable[[], object],
    *,
    user_code: bool,
) -> Observation:
    """Run ``body`` on ``fc`` (over ``conn``); how the session ended (see the module docstring).

    With ``user_code`` an exception of ``body`` that is not an ending of the connection is
    the hook's own error (``flow_error``); without, it propagates (a bug of the harness).

    Raises:
        GaveUp, FrameViolation, PeerClosed, OSError: the event that ended the connection,
            for :func:`harness.load.client._open_session` to classify.
    """
    try:
        body()
    except Exception as exc:
        if fc.ended is None:
            if not user_code:
                raise
            return _flow_error(conn, plan, res, exc, secrets)
    if isinstance(fc.ended, ServerClosed):
        fc.drop_pending()
        return server_closed(conn, plan, res, fc.ended.frame, secrets)
    if fc.ended is not None:
        raise fc.ended
    fc.drop_pending()
    return client_close(conn, plan, res, secrets)


def _flow_error(
    conn: Connection, plan: SessionPlan, res: Result, exc: Exception, secrets: Sequence[str]
) -> Observation:
    """The hook raised: record its exception (where in the hook's code, its type and its
    message), and close going away."""
    theirs = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    where = f" at {Path(theirs[-1].filename).name}:{theirs[-1].lineno}" if theirs else ""
    res.error = f"hook raised{where}: {short_error(exc, secrets)}"[:ERROR_MAX]
    if conn.send_close(GOING_AWAY, plan.close_timeout):
        res.client_close_code = GOING_AWAY
    return Observation(stage=Stage.OPEN, flow_error=True, closed_by="client")


def fill(template: str, *, n: int, user: int, token: str | None) -> str:
    """A step's message: :func:`fill_counters`, and ``{token}`` (empty when the kind sends
    none) substituted."""
    return fill_counters(template, n=n, user=user).replace("{token}", token or "")


def fill_counters(template: str, *, n: int, user: int) -> str:
    """``template`` with ``{n}`` (the innermost repeat's iteration, from 1) and ``{user}``
    (the user's number) substituted; nothing else is touched (JSON braces stay as they are)."""
    return template.replace("{n}", str(n)).replace("{user}", str(user))


def _expect_text(expect: Expect) -> str:
    return f"with {expect.field}" if expect.value is None else f"{expect.field}={expect.value}"


def run_steps(fc: FlowConnection, steps: Sequence[FlowStep], where: str, n: int = 1) -> None:
    """Run ``steps`` (at key path ``where``) on ``fc``, ``{n}`` being ``n``.

    A send with an expect is a round trip (messages before the send that nobody awaited are
    counted unmatched); an expect alone waits for a message the server pushes.
    """
    for i, step in enumerate(steps):
        at = f"{where}[{i}]"
        if step.repeat is not None:
            for k in range(1, step.repeat + 1):
                run_steps(fc, step.steps, f"{at}.steps", k)
        elif step.think is not None:
            fc.sleep(random.uniform(*step.think))
        else:
            expect = step.expect
            text = None if step.send is None else fill(step.send, n=n, user=fc.user, token=fc.token)
            if text is not None:
                fc.drop_pending()
            if expect is None:
                assert text is not None  # a step is a send, an expect, or both
                fc.send_text(text)
                continue
            if expect.value is not None:  # "{n}" and "{user}" in the value too, no token
                expect = Expect(expect.field, fill_counters(expect.value, n=n, user=fc.user))
            what = f"{_expect_text(expect)} ({at}, n={n})"
            accept = functools.partial(_expected, expect)
            seconds = fc._seconds(step.timeout)
            if text is None:
                fc._await(accept, seconds, what, pending=True)
            else:
                fc._round_trip(functools.partial(fc.send_text, text), accept, seconds, what)


def _expected(expect: Expect, message: Message) -> bool:
    return json_field_equals(message.data, expect.field, expect.value)


@dataclass(frozen=True)
class StepFlow:
    """``load.session.flow`` for one user: a :class:`~harness.load.client.SessionRunner`."""

    steps: tuple[FlowStep, ...]
    user: int

    def __call__(
        self,
        conn: Connection,
        plan: SessionPlan,
        res: Result,
        secrets: Sequence[str],
        token: str | None,
    ) -> Observation:
        fc = FlowConnection(conn, plan, res, user=self.user, token=token)
        body = functools.partial(run_steps, fc, self.steps, "load.session.flow")
        return run_flow(fc, conn, plan, res, secrets, body, user_code=False)


@dataclass(frozen=True)
class HookFlow:
    """``load.session.hook`` for one user: the user's function, called with a
    :class:`FlowConnection`."""

    function: Callable[[FlowConnection], object]
    user: int

    def __call__(
        self,
        conn: Connection,
        plan: SessionPlan,
        res: Result,
        secrets: Sequence[str],
        token: str | None,
    ) -> Observation:
        fc = FlowConnection(conn, plan, res, user=self.user, token=token)
        body = functools.partial(self.function, fc)
        return run_flow(fc, conn, plan, res, secrets, body, user_code=True)


def session_flow(session: Session, user: int) -> SessionRunner | None:
    """The custom session of ``load.session`` for user number ``user`` (None: the plain one).

    Raises:
        harness.load.hooks.HookError: the hook cannot be loaded
            (:func:`harness.load.hooks.check_hook` says so before a run).
    """
    if session.flow:
        return StepFlow(session.flow, user)
    if session.hook is not None:
        return HookFlow(load_hook(session.hook), user)
    return None
