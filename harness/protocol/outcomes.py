"""Outcome classification: what a client saw, mapped to a closed set of outcomes and verdicts.

Everything here is pure and table-driven. The classifier looks only at what the
protocol showed the client (TCP errors, the HTTP status of a refused upgrade, the
close frame and who sent it, timeouts), never at our own reference target's
wording, so it means the same against any WebSocket service.

Rules, in the order :func:`classify` applies them:

1. The load generator's own resource failures (EMFILE, ENFILE, EADDRNOTAVAIL,
   ENOBUFS, ENOMEM on our side) are ``generator_fault``: the harness's failure,
   never the target's.
2. The harness stopping an attempt before the handshake finished is
   ``interrupted`` and is excluded from rates.
3. Before the TCP connection: ECONNREFUSED is ``refused``; a reset while connecting
   (the listener accepted, then reset) is ``abnormal_handshake``; a connect timeout is
   ``timeout_connect``; other errors ``connect_error``.
4. During the handshake: an HTTP status other than 101 is a rejection at the
   upgrade (401/403 auth, 429/503 capacity, 404/410 wrong path, 502/504 dead upstream,
   anything else other status; a per-target table can override any of them); a TLS
   failure is ``tls_error``; a malformed response ``protocol_error``; a timeout
   ``timeout_handshake``; EOF or a reset before the 101 is
   ``abnormal_handshake`` ("closed before the connection is established").
   An upgrade response over our size limit is ``limit_exceeded``.
5. After the 101, a server whose first message shows another protocol than the scenario's
   (an Engine.IO OPEN packet on a plain WebSocket scenario) is ``protocol_mismatch``: the
   scenario's configuration error, excluded from rates (verdict ``excluded``), never an
   accepted token. A session hook of the scenario (``load.session.hook``) that raised is
   ``flow_error``: the scenario's fault, excluded too, never the target's. Then what the
   client did about the server: a rule of RFC 6455 the
   server broke (:class:`harness.protocol.frames.Violation`) is ``protocol_error``, or
   ``limit_exceeded`` for our frame, message and fragment limits (the client failed the
   connection with 1002, 1007 or 1009); a deadline of the client that expired while open
   is ``timeout_send``, ``timeout_reply``, ``timeout_message``, ``timeout_auth`` or
   ``timeout_pong`` (no pong to our ping: a dead connection detected; the client gave up:
   the peer may still be there, so never ``abnormal_closure``). Then what the server did: a
   close frame maps by code (RFC 6455 section 7.4 and the IANA registry; 4000-4999
   through a per-target table); the connection ending without a close frame is
   ``abnormal_closure`` (1006); a session that ran until the client ended it is
   ``accepted`` (also when the server did not answer our close frame in time: the
   session had run its plan).

Socket.IO (a session of :mod:`harness.load.socketio`) adds, at the handshake, the server's
CONNECT_ERROR: ``connect_error_auth``, ``connect_error_capacity`` or ``connect_error_other``
by what its message says (:class:`SocketIOMeaning`: the scenario's patterns, never our
target's wording); and once open, after the client's deadlines (``timeout_heartbeat``: no
Engine.IO ping within pingInterval + pingTimeout), a server event the scenario maps to a
refusal (``event_auth``, ``event_capacity``, ``event_other``), the server's DISCONNECT
(``server_disconnect``: deliberate, "io server disconnect") and its Engine.IO close packet
(``closed_normal``: the session closed, as by a shutdown; the client reconnects).

Deadlines (:class:`Deadline`) and violations are kept on the :class:`Observation`, so the
record says which deadline expired or which rule was broken.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from harness.config.scenario import (
    APP_CLOSE_CLASSES,
    HTTP_STATUS_CLASSES,
    SOCKETIO_EVENT_CLASSES,
    TOKEN_KINDS,
    SocketIO,
)
from harness.protocol.frames import LIMIT_VIOLATIONS, Violation


class Outcome(StrEnum):
    """The closed set of outcomes of one connection attempt."""

    ACCEPTED = "accepted"
    REJECTED_AUTH = "rejected_auth"  # 401/403 at the upgrade
    REJECTED_CAPACITY = "rejected_capacity"  # 429/503 at the upgrade
    REJECTED_STATUS = "rejected_status"  # another non-101 status
    REJECTED_NOT_FOUND = "rejected_not_found"  # 404/410: no WebSocket at this path
    REJECTED_UPSTREAM = "rejected_upstream"  # 502/504: a proxy found the service behind it down
    PROTOCOL_MISMATCH = "protocol_mismatch"  # the server speaks another protocol (Engine.IO)
    FLOW_ERROR = "flow_error"  # the scenario's session hook raised: the scenario's fault
    CLOSED_NORMAL = "closed_normal"  # server closed with 1000/1001
    CLOSED_POLICY = "closed_policy"  # 1008
    CLOSED_INTERNAL = "closed_internal"  # 1011
    CLOSED_TRY_AGAIN = "closed_try_again"  # 1013 (and 1012 service restart)
    CLOSED_AUTH = "closed_auth"  # application code mapped to auth, e.g. 4401
    CLOSED_CAPACITY = "closed_capacity"  # application code mapped to capacity
    CLOSED_OTHER = "closed_other"  # any other code, or a close frame without a code
    ABNORMAL_HANDSHAKE = "abnormal_handshake"  # dropped before the 101
    ABNORMAL_CLOSURE = "abnormal_closure"  # 1006: gone after open without a close frame
    REFUSED = "refused"  # ECONNREFUSED
    TIMEOUT_CONNECT = "timeout_connect"
    TIMEOUT_HANDSHAKE = "timeout_handshake"  # TLS and the whole upgrade response, one deadline
    TIMEOUT_SEND = "timeout_send"  # open; a frame of ours not sent in time (peer not reading)
    TIMEOUT_REPLY = "timeout_reply"  # open; no echo of what we sent in time
    TIMEOUT_MESSAGE = "timeout_message"  # open; a frame or message begun, not finished in time
    TIMEOUT_AUTH = "timeout_auth"  # open; no ack of our first-message auth in time
    TIMEOUT_PONG = "timeout_pong"  # open; no pong to our ping in time: dead connection detected
    LIMIT_EXCEEDED = "limit_exceeded"  # over our frame/message/fragment or response limit; 1009
    CONNECT_ERROR = "connect_error"  # other TCP-level error before the connection
    TLS_ERROR = "tls_error"  # any other TLS failure
    TLS_UNTRUSTED = "tls_untrusted"  # certificate from a CA the client does not trust
    TLS_HOSTNAME = "tls_hostname"  # certificate for another host name
    TLS_EXPIRED = "tls_expired"  # certificate past its validity
    PROTOCOL_ERROR = "protocol_error"
    GENERATOR_FAULT = "generator_fault"  # the load generator ran out of something
    INTERRUPTED = "interrupted"  # stopped by the harness mid-handshake; not counted
    # Socket.IO: the server's CONNECT_ERROR, by its message (target.socketio patterns)
    CONNECT_ERROR_AUTH = "connect_error_auth"  # CONNECT_ERROR naming the token or auth
    CONNECT_ERROR_CAPACITY = "connect_error_capacity"  # CONNECT_ERROR: insufficient resources
    CONNECT_ERROR_OTHER = "connect_error_other"  # CONNECT_ERROR with another message
    SERVER_DISCONNECT = "server_disconnect"  # Socket.IO DISCONNECT from the server
    EVENT_AUTH = "event_auth"  # a server event mapped to auth (target.socketio.events)
    EVENT_CAPACITY = "event_capacity"  # a server event mapped to capacity
    EVENT_OTHER = "event_other"  # a server event mapped to another refusal
    TIMEOUT_HEARTBEAT = "timeout_heartbeat"  # no Engine.IO ping within pingInterval+pingTimeout


class Verdict(StrEnum):
    """What an outcome means for the token kind that produced it."""

    OK = "ok"  # the expected outcome for the token kind
    VALID_REFUSED = "valid_refused"  # availability: a valid token refused gracefully
    INVALID_ACCEPTED = "invalid_accepted"  # security: an invalid token got a session
    ABRUPT = "abrupt"  # reset, drop, timeout, 1006: no reason given
    WRONG_REJECTION = "wrong_rejection"  # an invalid token rejected, but not as expected
    GENERATOR_FAULT = "generator_fault"  # the harness's own failure; not the target's
    EXCLUDED = "excluded"  # interrupted by the harness; not counted


class Stage(StrEnum):
    """Where in the attempt the client was when it ended."""

    CONNECT = "connect"  # TCP connect
    HANDSHAKE = "handshake"  # HTTP upgrade sent, waiting for the 101
    OPEN = "open"  # WebSocket open


class Deadline(StrEnum):
    """Which of the client's deadlines expired: the client gave up waiting."""

    CONNECT = "connect"  # the TCP connect
    HANDSHAKE = "handshake"  # TLS and the whole upgrade response
    SEND = "send"  # one frame of ours written to the socket
    REPLY = "reply"  # the echo of a message we sent
    MESSAGE = "message"  # a frame or message from the server, from its first byte
    CLOSE = "close"  # the server's answer to our close frame
    AUTH = "auth"  # the ack of our auth message (placement first_message)
    PONG = "pong"  # the pong answering our ping (load.session.ping_interval)
    #: the server's Engine.IO ping, due every pingInterval + pingTimeout (its OPEN packet)
    HEARTBEAT = "heartbeat"


class Manner(StrEnum):
    """How a refusal happened: with a stated reason, or without."""

    GRACEFUL = "graceful"
    ABRUPT = "abrupt"


# --- Tables ---------------------------------------------------------------------------

#: Close codes (RFC 6455 section 7.4.1 and the IANA registry) and their outcome.
CLOSE_CODE_OUTCOMES: Mapping[int, Outcome] = {
    1000: Outcome.CLOSED_NORMAL,
    1001: Outcome.CLOSED_NORMAL,
    1008: Outcome.CLOSED_POLICY,
    1011: Outcome.CLOSED_INTERNAL,
    1012: Outcome.CLOSED_TRY_AGAIN,
    1013: Outcome.CLOSED_TRY_AGAIN,
}

#: Names of close codes, for reports.
CLOSE_CODE_NAMES: Mapping[int, str] = {
    1000: "normal",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status",
    1006: "abnormal",
    1007: "invalid payload",
    1008: "policy violation",
    1009: "message too big",
    1010: "mandatory extension",
    1011: "internal error",
    1012: "service restart",
    1013: "try again later",
    1014: "bad gateway",
    1015: "TLS handshake",
    4401: "unauthorized",
    4403: "forbidden",
    4429: "too many",
}

#: Default meaning of private close codes (4000-4999); a scenario can extend or override it
#: per target, standard codes included.
DEFAULT_APP_CLOSE_CODES: Mapping[int, str] = {
    4401: "auth",
    4403: "auth",
    4429: "capacity",
    4503: "capacity",
}

APP_CLASS_OUTCOMES: Mapping[str, Outcome] = {
    "auth": Outcome.CLOSED_AUTH,
    "capacity": Outcome.CLOSED_CAPACITY,
    "policy": Outcome.CLOSED_POLICY,
    "normal": Outcome.CLOSED_NORMAL,
    "try_again": Outcome.CLOSED_TRY_AGAIN,
    "internal": Outcome.CLOSED_INTERNAL,
}

assert set(APP_CLASS_OUTCOMES) == set(APP_CLOSE_CLASSES), "every close-code class needs an outcome"

#: Default meaning of the HTTP status of a refused upgrade; a scenario can override it per
#: target (``target.http_statuses``). A status in neither is ``other``.
DEFAULT_HTTP_STATUSES: Mapping[int, str] = {
    401: "auth",
    403: "auth",
    404: "not_found",
    410: "not_found",
    429: "capacity",
    502: "upstream",
    503: "capacity",
    504: "upstream",
}

HTTP_CLASS_OUTCOMES: Mapping[str, Outcome] = {
    "auth": Outcome.REJECTED_AUTH,
    "capacity": Outcome.REJECTED_CAPACITY,
    "not_found": Outcome.REJECTED_NOT_FOUND,
    "upstream": Outcome.REJECTED_UPSTREAM,
    "other": Outcome.REJECTED_STATUS,
}

assert set(HTTP_CLASS_OUTCOMES) == set(HTTP_STATUS_CLASSES), "every status class needs an outcome"

#: errno values that mean the load generator itself ran out of a resource.
GENERATOR_ERRNOS: frozenset[int] = frozenset(
    {errno.EMFILE, errno.ENFILE, errno.EADDRNOTAVAIL, errno.ENOBUFS, errno.ENOMEM}
)

#: Errors during the handshake that mean "the peer dropped us" rather than "it said no".
DROP_ERRNOS: frozenset[int] = frozenset(
    {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ESHUTDOWN}
)

#: The outcome of each expired deadline. ``close`` is absent: the session had run its plan
#: when the server failed to answer our close frame, so it stays ``accepted`` (the record's
#: ``gave_up`` still says ``close``).
DEADLINE_OUTCOMES: Mapping[Deadline, Outcome] = {
    Deadline.CONNECT: Outcome.TIMEOUT_CONNECT,
    Deadline.HANDSHAKE: Outcome.TIMEOUT_HANDSHAKE,
    Deadline.SEND: Outcome.TIMEOUT_SEND,
    Deadline.REPLY: Outcome.TIMEOUT_REPLY,
    Deadline.MESSAGE: Outcome.TIMEOUT_MESSAGE,
    Deadline.AUTH: Outcome.TIMEOUT_AUTH,
    Deadline.PONG: Outcome.TIMEOUT_PONG,
    Deadline.HEARTBEAT: Outcome.TIMEOUT_HEARTBEAT,
}

#: Why a certificate was not accepted -> its outcome (``Observation.tls_failure``).
TLS_FAILURE_OUTCOMES: Mapping[str, Outcome] = {
    "untrusted": Outcome.TLS_UNTRUSTED,
    "hostname": Outcome.TLS_HOSTNAME,
    "expired": Outcome.TLS_EXPIRED,
}

#: The outcome of each broken rule: our limits apart from the RFC's rules.
VIOLATION_OUTCOMES: Mapping[Violation, Outcome] = {
    v: Outcome.LIMIT_EXCEEDED if v in LIMIT_VIOLATIONS else Outcome.PROTOCOL_ERROR
    for v in Violation
}

#: Outcomes where the client gave up waiting (its deadline expired): the peer may still be
#: there, slow or not reading; never "gone" (that is ``abnormal_closure``).
GAVE_UP_OUTCOMES: frozenset[Outcome] = frozenset(DEADLINE_OUTCOMES.values())

#: Outcomes where the target gave no reason: resets, silent drops, timeouts, broken rules.
ABRUPT_OUTCOMES: frozenset[Outcome] = frozenset(
    {
        Outcome.ABNORMAL_HANDSHAKE,
        Outcome.ABNORMAL_CLOSURE,
        Outcome.REFUSED,
        Outcome.TIMEOUT_CONNECT,
        Outcome.TIMEOUT_HANDSHAKE,
        Outcome.TIMEOUT_SEND,
        Outcome.TIMEOUT_REPLY,
        Outcome.TIMEOUT_MESSAGE,
        Outcome.TIMEOUT_AUTH,
        Outcome.TIMEOUT_PONG,
        Outcome.TIMEOUT_HEARTBEAT,
        Outcome.CONNECT_ERROR,
        Outcome.TLS_ERROR,
        Outcome.TLS_UNTRUSTED,
        Outcome.TLS_HOSTNAME,
        Outcome.TLS_EXPIRED,
        Outcome.PROTOCOL_ERROR,
        Outcome.LIMIT_EXCEEDED,
    }
)

#: Outcomes where the target refused while saying why (status or close code).
GRACEFUL_OUTCOMES: frozenset[Outcome] = frozenset(
    {
        Outcome.REJECTED_AUTH,
        Outcome.REJECTED_CAPACITY,
        Outcome.REJECTED_STATUS,
        Outcome.REJECTED_NOT_FOUND,
        Outcome.REJECTED_UPSTREAM,
        Outcome.CLOSED_NORMAL,
        Outcome.CLOSED_POLICY,
        Outcome.CLOSED_INTERNAL,
        Outcome.CLOSED_TRY_AGAIN,
        Outcome.CLOSED_AUTH,
        Outcome.CLOSED_CAPACITY,
        Outcome.CLOSED_OTHER,
        Outcome.CONNECT_ERROR_AUTH,
        Outcome.CONNECT_ERROR_CAPACITY,
        Outcome.CONNECT_ERROR_OTHER,
        Outcome.SERVER_DISCONNECT,
        Outcome.EVENT_AUTH,
        Outcome.EVENT_CAPACITY,
        Outcome.EVENT_OTHER,
    }
)

#: An auth rejection, in any of the ways a service may express it.
AUTH_REJECTIONS: frozenset[Outcome] = frozenset(
    {
        Outcome.REJECTED_AUTH,
        Outcome.CLOSED_AUTH,
        Outcome.CLOSED_POLICY,
        Outcome.CONNECT_ERROR_AUTH,
        Outcome.EVENT_AUTH,
    }
)

#: What a Socket.IO refusal's class (a CONNECT_ERROR's message, a mapped event) ends as.
CONNECT_ERROR_OUTCOMES: Mapping[str, Outcome] = {
    "auth": Outcome.CONNECT_ERROR_AUTH,
    "capacity": Outcome.CONNECT_ERROR_CAPACITY,
    "other": Outcome.CONNECT_ERROR_OTHER,
}
EVENT_OUTCOMES: Mapping[str, Outcome] = {
    "auth": Outcome.EVENT_AUTH,
    "capacity": Outcome.EVENT_CAPACITY,
    "other": Outcome.EVENT_OTHER,
}

assert set(EVENT_OUTCOMES) == set(SOCKETIO_EVENT_CLASSES), "every event class needs an outcome"


@dataclass(frozen=True)
class SocketIOMeaning:
    """How a Socket.IO service says why it refused (``target.socketio``): the texts of a
    CONNECT_ERROR message that mean an auth or a capacity refusal (matched anywhere in the
    message, any case; auth first), and server events that end an attempt as a refusal."""

    auth_errors: tuple[str, ...] = SocketIO.auth_errors
    capacity_errors: tuple[str, ...] = SocketIO.capacity_errors
    events: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, sio: SocketIO) -> SocketIOMeaning:
        return cls(sio.auth_errors, sio.capacity_errors, sio.events)

    def connect_error_class(self, message: str) -> str:
        """``auth``, ``capacity`` or ``other``: what a CONNECT_ERROR message says."""
        text = message.casefold()
        if any(p.casefold() in text for p in self.auth_errors):
            return "auth"
        if any(p.casefold() in text for p in self.capacity_errors):
            return "capacity"
        return "other"


DEFAULT_SOCKETIO = SocketIOMeaning()

#: Outcomes after which a session (a user's logical connection) is over by itself: it ran
#: its plan, the harness stopped it, or the scenario's own hook failed (a reconnect would
#: only fail again). After any other a reconnect policy may try again.
SESSION_ENDING: frozenset[Outcome] = frozenset(
    {Outcome.ACCEPTED, Outcome.INTERRUPTED, Outcome.FLOW_ERROR}
)

#: Token kinds and the outcomes each one expects.
EXPECTED_OUTCOMES: Mapping[str, frozenset[Outcome]] = {
    "valid": frozenset({Outcome.ACCEPTED}),
    "empty": AUTH_REJECTIONS,
    "missing": AUTH_REJECTIONS,
    "expired": AUTH_REJECTIONS,
    "not_yet_valid": AUTH_REJECTIONS,
    "bad_signature": AUTH_REJECTIONS,
    "alg_none": AUTH_REJECTIONS,
    "malformed": AUTH_REJECTIONS,
    "expired_reused": AUTH_REJECTIONS,
}

assert tuple(EXPECTED_OUTCOMES) == TOKEN_KINDS, "every token kind needs its expected outcomes"


# --- What the client saw --------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What one connection attempt showed the client, protocol facts only.

    Attributes:
        stage: where the attempt ended (or was when it failed).
        errno: the OS error number of a socket error, if any.
        timed_out: a timeout fired at ``stage`` (implied by ``gave_up``).
        gave_up: which deadline of the client expired, if one did.
        violation: the rule of RFC 6455 the server broke or the limit it exceeded, if any
            (the client then failed the connection).
        http_status: status of the upgrade response, when one was read.
        tls_error: the TLS handshake failed.
        tls_failure: why certificate verification failed, when known: "untrusted",
            "hostname" or "expired" (a key of :data:`TLS_FAILURE_OUTCOMES`).
        protocol_error: the peer sent something that is not valid HTTP/WebSocket.
        close_code: code from the server's close frame (None: no code, or no frame); kept
            when the code itself is invalid (e.g. 1005 or 5000 on the wire).
        close_frame: a close frame was received from the server.
        closed_by: "server", "client", or None when the connection just ended.
        interrupted: the harness stopped the attempt (e.g. at the end of the run).
        foreign_protocol: the protocol the server's first message showed when it is not
            the scenario's (``engine.io``: see :mod:`harness.protocol.foreign`), else None.
        connect_error: Socket.IO: the message of the server's CONNECT_ERROR, if one came.
        server_disconnect: Socket.IO: the server sent DISCONNECT ("io server disconnect").
        server_event: Socket.IO: the name of a server event that ends the attempt (one of
            ``SocketIOMeaning.events``), if one came.
        flow_error: the scenario's session hook raised an exception (the user's code).
        engine_close: Socket.IO: the server closed the Engine.IO session (its close packet:
            a shutdown, "transport close" to the client), as a WebSocket server closes 1001.
    """

    stage: Stage
    errno: int | None = None
    timed_out: bool = False
    gave_up: Deadline | None = None
    violation: Violation | None = None
    http_status: int | None = None
    tls_error: bool = False
    tls_failure: str | None = None
    protocol_error: bool = False
    close_code: int | None = None
    close_frame: bool = False
    closed_by: str | None = None
    interrupted: bool = False
    foreign_protocol: str | None = None
    connect_error: str | None = None
    server_disconnect: bool = False
    server_event: str | None = None
    flow_error: bool = False
    engine_close: bool = False


def classify(
    obs: Observation,
    app_codes: Mapping[int, str] = DEFAULT_APP_CLOSE_CODES,
    http_statuses: Mapping[int, str] = DEFAULT_HTTP_STATUSES,
    sio: SocketIOMeaning = DEFAULT_SOCKETIO,
) -> Outcome:
    """Map what the client saw to an outcome (pure; see the module docstring for rules).

    Args:
        obs: the protocol facts of one attempt.
        app_codes: meaning of this target's close codes (private ones, or standard ones it
            uses its own way), over the registered table (values from :data:`APP_CLOSE_CLASSES`).
        http_statuses: meaning of the statuses of a refused upgrade for this target (values
            from :data:`HTTP_STATUS_CLASSES`; a status not in it is ``rejected_status``).
        sio: what a Socket.IO service's CONNECT_ERROR messages and events mean.
    """
    if obs.errno in GENERATOR_ERRNOS:
        return Outcome.GENERATOR_FAULT
    timed_out = obs.timed_out or obs.gave_up is not None
    if obs.stage is Stage.CONNECT:
        if obs.interrupted:
            return Outcome.INTERRUPTED
        if obs.errno == errno.ECONNREFUSED:
            return Outcome.REFUSED
        if obs.errno in DROP_ERRNOS:  # accepted by the kernel, then reset: dropped, not refused
            return Outcome.ABNORMAL_HANDSHAKE
        if timed_out or obs.errno == errno.ETIMEDOUT:
            return Outcome.TIMEOUT_CONNECT
        return Outcome.CONNECT_ERROR
    if obs.stage is Stage.HANDSHAKE:
        if obs.connect_error is not None:
            return CONNECT_ERROR_OUTCOMES[sio.connect_error_class(obs.connect_error)]
        if obs.http_status is not None and obs.http_status != 101:
            return HTTP_CLASS_OUTCOMES[http_statuses.get(obs.http_status, "other")]
        if obs.interrupted:
            return Outcome.INTERRUPTED
        if obs.tls_error:
            return TLS_FAILURE_OUTCOMES.get(obs.tls_failure or "", Outcome.TLS_ERROR)
        if obs.violation is not None:
            return VIOLATION_OUTCOMES[obs.violation]
        if timed_out:
            return Outcome.TIMEOUT_HANDSHAKE
        if obs.protocol_error:
            return Outcome.PROTOCOL_ERROR
        return Outcome.ABNORMAL_HANDSHAKE
    # Stage.OPEN: the 101 was received.
    if obs.foreign_protocol is not None:
        return Outcome.PROTOCOL_MISMATCH
    if obs.flow_error:
        return Outcome.FLOW_ERROR
    if obs.violation is not None:
        return VIOLATION_OUTCOMES[obs.violation]
    if obs.gave_up is not None and obs.gave_up in DEADLINE_OUTCOMES:
        return DEADLINE_OUTCOMES[obs.gave_up]
    if obs.server_event is not None:
        return EVENT_OUTCOMES[sio.events.get(obs.server_event, "other")]
    if obs.server_disconnect:
        return Outcome.SERVER_DISCONNECT
    if obs.engine_close:
        return Outcome.CLOSED_NORMAL
    if obs.closed_by == "server" and obs.close_frame:
        return close_code_outcome(obs.close_code, app_codes)
    if obs.closed_by == "client" or obs.interrupted:
        return Outcome.ACCEPTED
    if obs.protocol_error:
        return Outcome.PROTOCOL_ERROR
    return Outcome.ABNORMAL_CLOSURE


def close_code_outcome(
    code: int | None, app_codes: Mapping[int, str] = DEFAULT_APP_CLOSE_CODES
) -> Outcome:
    """Outcome of a close frame sent by the server with ``code`` (None: frame without a code).

    ``app_codes`` (the target's ``close_codes`` over the defaults) wins over the registered
    meaning: a service that closes with 1013 for a bad token says so in its scenario.
    """
    if code is None:
        return Outcome.CLOSED_OTHER
    if code in app_codes:
        return APP_CLASS_OUTCOMES[app_codes[code]]
    return CLOSE_CODE_OUTCOMES.get(code, Outcome.CLOSED_OTHER)


def expected_outcomes(token_kind: str) -> frozenset[Outcome]:
    """Outcomes that count as success for ``token_kind``."""
    return EXPECTED_OUTCOMES[token_kind]


def manner(outcome: Outcome) -> Manner | None:
    """Graceful (a reason given) or abrupt (none), for any outcome other than accepted."""
    if outcome in ABRUPT_OUTCOMES:
        return Manner.ABRUPT
    if outcome in GRACEFUL_OUTCOMES:
        return Manner.GRACEFUL
    return None


def verdict(token_kind: str, outcome: Outcome) -> Verdict:
    """The verdict for one attempt of ``token_kind`` that ended in ``outcome``."""
    if outcome is Outcome.GENERATOR_FAULT:
        return Verdict.GENERATOR_FAULT
    if outcome in (Outcome.INTERRUPTED, Outcome.PROTOCOL_MISMATCH, Outcome.FLOW_ERROR):
        return Verdict.EXCLUDED  # the harness's or the scenario's doing, not the target's
    if outcome in EXPECTED_OUTCOMES[token_kind]:
        return Verdict.OK
    if outcome is Outcome.ACCEPTED:
        return Verdict.INVALID_ACCEPTED
    if outcome in ABRUPT_OUTCOMES:
        return Verdict.ABRUPT
    if token_kind == "valid":
        return Verdict.VALID_REFUSED
    return Verdict.WRONG_REJECTION


def expects_accept(token_kind: str) -> bool:
    """True when ``token_kind`` should be accepted."""
    return Outcome.ACCEPTED in EXPECTED_OUTCOMES[token_kind]
