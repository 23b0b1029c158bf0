"""A scenario as typed, frozen configuration (built from YAML by :mod:`harness.config.loader`).

Units: seconds for durations, milliseconds only where a name ends in ``_ms``,
megabytes where it ends in ``_mb``, bytes where it ends in ``_bytes``. Every number's
bounds are in :mod:`harness.config.sections` (and ``docs/scenario.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: Defects the embedded reference target can be started with.
DEFECTS: tuple[str, ...] = (
    "accept-empty-token",
    "cache-past-expiry",
    "no-capacity-check",
    "drop-before-handshake",
)

#: Token kinds a scenario's ``load.mix`` can weigh (what each one sends and expects:
#: :mod:`harness.protocol.tokens`, :data:`harness.protocol.outcomes.EXPECTED_OUTCOMES`).
TOKEN_KINDS: tuple[str, ...] = (
    "valid",
    "empty",
    "missing",
    "expired",
    "not_yet_valid",
    "bad_signature",
    "alg_none",
    "malformed",
    "expired_reused",
)

#: What a target's close code (standard or 3000-4999) can mean in ``target.close_codes``.
APP_CLOSE_CLASSES: tuple[str, ...] = (
    "auth",
    "capacity",
    "internal",
    "normal",
    "policy",
    "try_again",
)

#: What a refused upgrade's HTTP status can mean in ``target.http_statuses``: a refusal of the
#: token, a full service, a wrong path (config error), a dead service behind a proxy, or none
#: of these. A closed set: findings tell these apart, so a new class needs a new diagnosis.
HTTP_STATUS_CLASSES: tuple[str, ...] = ("auth", "capacity", "not_found", "upstream", "other")

#: Where the token goes (``socketio_auth``: the auth object of the Socket.IO CONNECT packet).
PLACEMENTS: tuple[str, ...] = (
    "query",
    "header",
    "cookie",
    "subprotocol",
    "first_message",
    "socketio_auth",
)

#: The protocol a target speaks (``target.protocol``): plain WebSocket, or Socket.IO v5 over
#: Engine.IO v4.
PROTOCOLS: tuple[str, ...] = ("websocket", "socketio")

#: How a session paces its messages (``load.session.pace``).
PACES: tuple[str, ...] = ("spread", "closed_loop")

#: Engine.IO transports, as socket.io-client names them (``target.socketio.transports``).
SOCKETIO_TRANSPORTS: tuple[str, ...] = ("websocket", "polling")

#: What a server event can be mapped to (``target.socketio.events``): the attempt ends as an
#: auth refusal, a capacity refusal, or another refusal by the server.
SOCKETIO_EVENT_CLASSES: tuple[str, ...] = ("auth", "capacity", "other")

#: How the embedded target refuses: at the upgrade (HTTP status) or by closing after it.
REJECTION_MODES: tuple[str, ...] = ("upgrade", "close")

#: Comparison operators of gates.
GATE_OPS: tuple[str, ...] = ("<", "<=", ">", ">=", "==", "!=")

#: Severities of findings, lowest first.
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

HS_ALGORITHMS: tuple[str, ...] = ("HS256", "HS384", "HS512")

#: How a user reconnects after it lost its connection (``load.reconnect.policy``).
RECONNECT_POLICIES: tuple[str, ...] = ("none", "fixed", "exponential")
#: How a reconnect delay is spread (``load.reconnect.jitter``): ``full`` draws from
#: [0, d], ``equal`` from [d/2, d], ``randomized`` from d +- ``randomization`` * d
#: (socket.io-client's ``randomizationFactor``).
JITTERS: tuple[str, ...] = ("none", "full", "equal", "randomized")


def _frozen(d: Mapping[Any, Any] | None = None) -> Mapping[Any, Any]:
    return MappingProxyType(dict(d or {}))


@dataclass(frozen=True)
class EmbeddedTarget:
    """Options of the embedded reference target (``harness target`` takes the same)."""

    rejection: str = "upgrade"  # auth rejections: "upgrade" (401/403) or "close" (4401/4403)
    capacity_rejection: str = "upgrade"  # "upgrade" (503) or "close" (1013)
    max_connections: int = 1000  # concurrent WebSocket connections before refusing
    max_rss_mb: float = 1024.0  # refuse new connections above this resident memory
    max_cpu_percent: float = 95.0  # refuse new connections above this CPU use (one core = 100)
    handshake_timeout: float = 10.0  # seconds for a client to finish the opening handshake
    ping_interval: float = 5.0  # seconds between server pings (0: no pings)
    ping_timeout: float = 10.0  # seconds to wait for the pong before closing 1011
    defects: tuple[str, ...] = ()  # names from DEFECTS
    drop_probability: float = 0.3  # share of connections dropped by drop-before-handshake
    cache_ttl: float = 60.0  # seconds a validity cache entry lives (cache-past-expiry)
    #: where the token is looked for: "first_message" waits for the auth message, any other
    #: placement finds it in the handshake (all of them are tried); None: auth.placement
    placement: str | None = None
    #: serve wss:// with a certificate made for the run (its CA is given to the users)
    tls: bool = False
    #: with target.protocol socketio: the Engine.IO transports the target allows (without
    #: websocket every WebSocket is refused, as behind a proxy that blocks the upgrade)
    socketio_transports: tuple[str, ...] = ("websocket", "polling")
    #: server processes sharing the port (SO_REUSEPORT); max_connections is split over them
    processes: int = 1
    #: with target.protocol socketio: the server disconnects every client this many seconds
    #: after its CONNECT ("io server disconnect"); 0: never
    disconnect_after: float = 0.0


@dataclass(frozen=True)
class Tls:
    """How a user's wss:// service is verified (``target.tls``; the embedded one is known)."""

    ca_file: str | None = None  # PEM file of the CAs to trust (None: the system's), absolute
    insecure: bool = False  # no certificate verification at all (a warning when the run starts)


@dataclass(frozen=True)
class SocketIO:
    """How a Socket.IO service is spoken to (``target.socketio``), as socket.io-client does.

    ``transports`` is the order tried: ``[websocket, polling]`` falls back to HTTP
    long-polling when the WebSocket fails; with ``upgrade`` a polling session upgrades to a
    WebSocket. A CONNECT_ERROR whose message contains one of ``auth_errors`` (any case) is an
    auth refusal, one of ``capacity_errors`` a capacity refusal, anything else another
    refusal; ``events`` maps server events (e.g. ``auth_error``) to such a refusal.
    """

    path: str = "/socket.io/"  # the Engine.IO endpoint's path
    namespace: str = "/"
    transports: tuple[str, ...] = ("websocket", "polling")  # from SOCKETIO_TRANSPORTS, in order
    upgrade: bool = True  # a polling session upgrades to a WebSocket when the server offers it
    event: str = "echo"  # the event emitted with an acknowledgement (its round trip measured)
    auth_field: str = "token"  # field of the CONNECT auth object (placement socketio_auth)
    auth_errors: tuple[str, ...] = ("token", "auth", "unauthorized", "expired", "invalid")
    capacity_errors: tuple[str, ...] = ("insufficient resources", "busy", "capacity", "limit")
    #: server event name -> SOCKETIO_EVENT_CLASSES: the event ends the attempt as that refusal
    events: Mapping[str, str] = field(default_factory=_frozen)


@dataclass(frozen=True)
class ExpectedLimits:
    """What the service promises (``target.expect``): the concurrent connections it serves
    before it refuses more, and the answers it refuses with there (HTTP statuses of the
    upgrade, or close codes). A refusal with one of ``refusals`` while the harness held
    ``max_connections`` open is the promise kept: graceful and expected, not a finding; the
    ``declared-limit`` finding says whether the limit sat where it was declared."""

    max_connections: int | None = None  # None: no connection limit is declared
    refusals: tuple[int, ...] = (503, 1013)  # HTTP statuses and close codes


@dataclass(frozen=True)
class Target:
    """Where the load goes: the embedded reference target, or a URL."""

    #: ws:// or wss:// (http:// or https:// too for socketio); None means embedded
    url: str | None = None
    embedded: EmbeddedTarget | None = None
    path: str = "/ws"  # path used on the embedded target
    #: meaning of close codes, private or standard (auth, capacity, policy, ...)
    close_codes: Mapping[int, str] = field(default_factory=_frozen)
    #: meaning of HTTP statuses of a refused upgrade (auth, capacity, not_found, ...)
    http_statuses: Mapping[int, str] = field(default_factory=_frozen)
    #: hosts (names or IP addresses, lowercase) this scenario may load beyond loopback
    allow_hosts: tuple[str, ...] = ()
    # An external target's process, for chaos (the embedded target's is known):
    pid: int | None = None  # its PID (checked with harness.processes.refusal at load)
    pid_file: str | None = None  # a file holding its PID (read when chaos starts)
    cgroup: str | None = None  # an existing cgroup directory it runs in
    restart_command: str | None = None  # command line that (re)starts it (no shell)
    tls: Tls = field(default_factory=Tls)  # verification of a wss:// url target
    protocol: str = "websocket"  # one of PROTOCOLS
    socketio: SocketIO = field(default_factory=SocketIO)  # with protocol socketio
    #: seconds between the pings the service is expected to send (the no-heartbeat finding
    #: judges sessions held longer than 1.5 times it); None: unknown (it judges those >= 30 s)
    heartbeat_interval: float | None = None
    #: the limits the service declares (see :class:`ExpectedLimits`)
    expect: ExpectedLimits = field(default_factory=ExpectedLimits)

    @property
    def is_embedded(self) -> bool:
        return self.url is None


@dataclass(frozen=True)
class Secret:
    """Where the signing secret comes from; the value itself is never stored here."""

    env: str | None = None  # environment variable name
    file: str | None = None  # path to a file holding the secret (trailing newline stripped)

    def describe(self) -> str:
        """Where the secret comes from, without its value."""
        if self.env:
            return f"env:{self.env}"
        if self.file:
            return f"file:{self.file}"
        return "generated for this run"


@dataclass(frozen=True)
class FirstMessage:
    """The auth message of placement ``first_message``: sent right after the open, and the
    attempt is accepted only when a server message whose JSON ``ack_field`` equals
    ``ack_value`` arrives within ``timeout`` seconds."""

    template: str = '{"type":"auth","token":"{token}"}'  # "{token}" substituted
    ack_field: str = "type"  # top-level field of the server's JSON ack
    ack_value: str = "auth_ok"  # its value (compared as text)
    timeout: float = 5.0  # seconds for the ack


@dataclass(frozen=True)
class Auth:
    """How tokens are minted and where they go."""

    secret: Secret = field(default_factory=Secret)  # neither env nor file: random per run
    algorithm: str = "HS256"
    #: claims template; "{user}" and "{attempt}" in string values are substituted
    claims: Mapping[str, Any] = field(default_factory=lambda: _frozen({"sub": "user-{user}"}))
    lifetime: float = 300.0  # seconds a valid token lives
    placement: str = "query"  # one of PLACEMENTS
    query_param: str = "token"  # name of the query parameter
    header: str = "Authorization"  # header name; the value is "<scheme> <token>"
    scheme: str = "Bearer"  # header scheme; "" sends the bare token
    cookie: str = "token"  # cookie name (placement cookie)
    #: Sec-WebSocket-Protocol value offered, "{token}" substituted (placement subprotocol)
    subprotocol: str = "{token}"
    first_message: FirstMessage = field(default_factory=lambda: FirstMessage())


@dataclass(frozen=True)
class Expect:
    """The reply a flow step waits for: a JSON object whose top-level ``field`` equals
    ``value`` (a value that is not a string compared as its JSON text; None: any value)."""

    field: str
    value: str | None = None


@dataclass(frozen=True)
class FlowStep:
    """One step of a session flow (``load.session.flow``, run by :mod:`harness.load.flow`).

    Exactly one kind: a message step (``send`` and/or ``expect``: with both, a round trip),
    a pause (``think``), or a loop (``repeat`` times ``steps``).
    """

    send: str | None = None  # a text message; "{n}", "{user}", "{token}" substituted
    expect: Expect | None = None  # the reply awaited (after a send: a round trip)
    timeout: float | None = None  # seconds for that reply (None: load.session.reply_timeout)
    think: tuple[float, float] | None = None  # seconds paused, uniform in [min, max]
    repeat: int | None = None  # run ``steps`` this many times
    steps: tuple[FlowStep, ...] = ()


@dataclass(frozen=True)
class Session:
    """What a user does with an open connection."""

    hold: float = 2.0  # seconds to keep the connection open
    messages: int = 2  # messages sent while open, spread over the hold time
    message_bytes: int = 64  # size of each message (random, incompressible)
    expect_reply: bool = True  # wait for a reply (echo) to each message
    reply_timeout: float = 5.0  # seconds to wait for each reply
    wait_min: float = 0.1  # seconds a user waits between attempts (min)
    wait_max: float = 0.5  # (max)
    ping_interval: float = 0.0  # seconds between the client's pings while open; 0: no pings
    ping_timeout: float = 5.0  # seconds to wait for each pong (none: timeout_pong)
    #: a session described as data: replaces hold and messages when given (plain WebSocket)
    flow: tuple[FlowStep, ...] = ()
    #: the user's session function, "module:function" or "/abs/path/file.py:function"
    #: (a relative path in the file is made absolute), called with a FlowConnection
    hook: str | None = None
    #: how messages are paced (one of PACES): "spread" evenly over the hold, or "closed_loop":
    #: each sent as soon as the reply to the last one came (chat-like load), until the hold
    #: ends or ``messages`` were sent
    pace: str = "spread"


@dataclass(frozen=True)
class Timeouts:
    """Client deadlines, in seconds; each expiry means the client gave up, not that the peer
    vanished."""

    connect: float = 5.0  # the TCP connect
    handshake: float = 5.0  # the whole upgrade, TLS included: a deadline, not a per-read timeout
    send: float = 5.0  # one send (a whole message) before the client gives up
    close: float = 1.0  # the close handshake: our close frame sent, the peer's awaited


@dataclass(frozen=True)
class Limits:
    """What a client reads from the target at most, in bytes and frames: beyond any of them
    the client fails the connection with 1009 (RFC 6455 section 7.4.1) and never reads the
    rest into memory."""

    max_frame_bytes: int = 1 << 20  # payload of one frame (1 MiB)
    max_message_bytes: int = 4 << 20  # payload of one message, all its fragments (4 MiB)
    max_fragments: int = 256  # frames of one message, the first one included


@dataclass(frozen=True)
class Reconnect:
    """How a user's session reconnects after it lost its connection, as real clients do.

    A session is a user's logical connection: its first attempt and every reconnect, all with
    the same token. After an attempt that did not end as a completed session (refused, dropped,
    closed by the server, timed out), the session waits the policy's delay and tries again, up
    to ``max_attempts`` reconnects; a session that ran its plan ends, and the user starts a new
    one after ``load.session.wait``. Presets (``RECONNECT_PRESETS``) fill these fields as named
    clients do.
    """

    policy: str = "none"  # one of RECONNECT_POLICIES
    delay: float = 1.0  # seconds before the first reconnect (fixed: before each one)
    factor: float = 2.0  # exponential: each delay is the previous one times this
    cap: float = 30.0  # exponential: no delay longer than this (seconds)
    max_attempts: int = 0  # reconnects per lost connection; 0: until the run ends
    jitter: str = "none"  # one of JITTERS
    randomization: float = 0.5  # jitter randomized: the share a delay may move either way
    after_server_close: bool = True  # reconnect after the server closed with 1000 (a disconnect)
    after_auth_failure: bool = False  # reconnect after an auth rejection (with the same token)
    #: mint a new token for a reconnect when the one the session holds has expired (else the
    #: stale token is sent again, and recorded as kind expired_reused)
    refresh: bool = False
    preset: str = ""  # the preset these settings came from ("" when none)

    @property
    def enabled(self) -> bool:
        return self.policy != "none"


#: Reconnect presets, named after the clients whose behaviour they copy.
RECONNECT_PRESETS: Mapping[str, Reconnect] = MappingProxyType(
    {
        # socket.io-client's defaults: reconnectionDelay 1000, reconnectionDelayMax 5000,
        # randomizationFactor 0.5, reconnectionAttempts Infinity; a server disconnect
        # ("io server disconnect") and a refused CONNECT are not retried.
        "socketio-client": Reconnect(
            policy="exponential",
            cap=5.0,
            jitter="randomized",
            after_server_close=False,
            preset="socketio-client",
        ),
        # A typical hand-written front end: 1 s doubling to 30 s, 5 tries, no jitter, no
        # reconnect after a server disconnect, back to login after an auth failure.
        "front-end": Reconnect(
            policy="exponential",
            max_attempts=5,
            after_server_close=False,
            preset="front-end",
        ),
    }
)


@dataclass(frozen=True)
class Stage:
    """One stage of ``load.stages`` (as k6's stages, on Locust's ``LoadTestShape``).

    Exactly one of ``users`` and ``rate``, the same for every stage of a scenario:

    - ``users`` (closed model): the stage ramps to ``users`` concurrent users at
      ``spawn_rate`` users/s (up or down), then holds them until it ends;
    - ``rate`` (open model): ``rate`` new sessions start per second, whatever the target's
      answers take, each by one idle user of a pool of ``max_users`` (started at
      ``spawn_rate``); an arrival that finds every user busy for more than a second is
      missed, and counted.

    The loader fills every default in, so a stage read back from ``scenario.json`` is equal.
    """

    duration: float  # seconds the stage lasts
    name: str = ""  # its label on records and charts ("stage-<n>" unless given)
    users: int | None = None  # users the stage ramps to and holds (closed model)
    rate: float | None = None  # new sessions per second (open model)
    spawn_rate: float = 10.0  # users started (or stopped) per second to reach the stage
    max_users: int | None = None  # with rate: the users that serve its arrivals, at most

    @property
    def is_rate(self) -> bool:
        """An arrival-rate (open model) stage."""
        return self.rate is not None

    @property
    def pool(self) -> int:
        """The users Locust runs during this stage: ``users``, or ``max_users``."""
        n = self.max_users if self.is_rate else self.users
        return n or 0


@dataclass(frozen=True)
class Load:
    users: int = 10  # with stages: the highest stage's users (or max_users)
    spawn_rate: float = 10.0  # users started per second (with stages: their default)
    duration: float = 30.0  # seconds (with stages: their sum)
    #: token kind -> weight (relative; kinds with weight 0 are not used)
    mix: Mapping[str, float] = field(default_factory=lambda: _frozen({"valid": 1.0}))
    session: Session = field(default_factory=Session)
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)
    reconnect: Reconnect = field(default_factory=Reconnect)
    #: local IP addresses the users' connections come from, round robin by user (each has
    #: its own ephemeral ports towards one target address: about 28,000 on Linux); empty:
    #: the OS chooses
    source_addresses: tuple[str, ...] = ()
    #: the load's shape over time (empty: ``users`` for ``duration`` s, started at
    #: ``spawn_rate``); with stages, ``users`` and ``duration`` are derived from them
    stages: tuple[Stage, ...] = ()


@dataclass(frozen=True)
class Gate:
    """A pass/fail condition on a summary metric: ``metric[token_kind]@phase op threshold``.

    ``phase`` narrows the metric to one phase of the run (``baseline``, ``during <label>``,
    ``after <label>``); ``fault`` names the window (label) whose ``recovery_s`` is meant;
    ``severity`` is the floor for the ``findings`` count. ``relative_to`` (a phase) makes the
    gate's value a ratio: the metric in ``phase`` (or the whole run) over the same metric in
    that phase, e.g. handshake p95 during a CPU quota at least 3 times the baseline's.
    """

    name: str
    metric: str  # a name of harness.config.metrics.GATE_METRICS
    op: str  # one of GATE_OPS
    threshold: float
    token_kind: str | None = None  # None: over all token kinds
    phase: str | None = None  # None: the whole run
    fault: str | None = None  # a chaos window label, for recovery_s
    severity: str | None = None  # for findings: count those at or above this
    relative_to: str | None = None  # a phase: the value is metric(phase) / metric(this phase)

    def describe(self) -> str:
        kind = f"[{self.token_kind}]" if self.token_kind else ""
        where = f"@{self.phase}" if self.phase else ""
        of = f"({self.fault})" if self.fault else f"(>= {self.severity})" if self.severity else ""
        ratio = f" / @{self.relative_to}" if self.relative_to else ""
        return f"{self.metric}{of}{kind}{where}{ratio} {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class ChaosEntry:
    """One fault window on the run's timeline."""

    fault: str  # a registered fault name (harness chaos list)
    at: float  # seconds after the run starts
    duration: float | None = None  # seconds the fault lasts ("for"); None: until the run ends
    params: Mapping[str, Any] = field(default_factory=_frozen)  # the fault's parameters
    optional: bool = False  # skip (instead of refusing the run) where this machine cannot
    label: str = ""  # unique per window: "<fault>#<n>"


@dataclass(frozen=True)
class Scenario:
    name: str
    source: str  # the file it was loaded from, as given
    description: str = ""
    target: Target = field(default_factory=lambda: Target(embedded=EmbeddedTarget()))
    auth: Auth = field(default_factory=Auth)
    load: Load = field(default_factory=Load)
    gates: tuple[Gate, ...] = ()
    chaos: tuple[ChaosEntry, ...] = ()
