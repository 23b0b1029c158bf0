"""What one attempt found: the protocol facts and measurements every client fills in
(:class:`Result`), and how an attempt the harness interrupted is recorded as far as it got.

The clients (:mod:`harness.load.client`, :mod:`harness.load.socketio`) never raise for what
the target did; an interruption (gevent's ``GreenletExit`` when Locust stops a user, a
signal) is recorded with :func:`interrupted` and re-raised, carrying the partial result
(:func:`partial_result`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from harness.protocol.outcomes import Observation, Stage
from harness.redact import redact

ERROR_MAX = 160  # characters kept of an error text


#: The error text of an attempt the harness interrupted (its stop), followed by the cause.
STOPPED_BY_HARNESS = "stopped by the harness"


@dataclass(slots=True)
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


def short_error(exc: BaseException, secrets: Sequence[str]) -> str:
    """``exc`` as a short line for the record: its type and text, secrets redacted."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return redact(text, secrets)[:ERROR_MAX]


def interrupted(res: Result, stage: Stage, exc: BaseException) -> None:
    """Record that the harness interrupted the attempt at ``stage`` (its stop), and attach
    ``res`` to ``exc`` for :func:`partial_result`."""
    res.observation = Observation(stage=stage, interrupted=True, closed_by="client")
    res.error = res.error or f"{STOPPED_BY_HARNESS} ({type(exc).__name__})"
    exc.harness_result = res  # type: ignore[attr-defined]


def partial_result(exc: BaseException) -> Result | None:
    """The result recorded so far of an attempt that ``exc`` interrupted, if any."""
    res = getattr(exc, "harness_result", None)
    return res if isinstance(res, Result) else None
