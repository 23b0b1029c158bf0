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

#: What a target's private close code (4000-4999) can mean in ``target.close_codes``.
APP_CLOSE_CLASSES: tuple[str, ...] = (
    "auth",
    "capacity",
    "internal",
    "normal",
    "policy",
    "try_again",
)

#: Where the token goes.
PLACEMENTS: tuple[str, ...] = ("query", "header")

#: How the embedded target refuses: at the upgrade (HTTP status) or by closing after it.
REJECTION_MODES: tuple[str, ...] = ("upgrade", "close")

#: Comparison operators of gates.
GATE_OPS: tuple[str, ...] = ("<", "<=", ">", ">=", "==", "!=")

#: Severities of findings, lowest first.
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")

HS_ALGORITHMS: tuple[str, ...] = ("HS256", "HS384", "HS512")


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


@dataclass(frozen=True)
class Target:
    """Where the load goes: the embedded reference target, or a URL."""

    url: str | None = None  # ws:// or wss://; None means embedded
    embedded: EmbeddedTarget | None = None
    path: str = "/ws"  # path used on the embedded target
    #: meaning of private close codes 4000-4999 (auth, capacity, policy, ...)
    close_codes: Mapping[int, str] = field(default_factory=_frozen)
    #: hosts (names or IP addresses, lowercase) this scenario may load beyond loopback
    allow_hosts: tuple[str, ...] = ()
    # An external target's process, for chaos (the embedded target's is known):
    pid: int | None = None  # its PID (checked with harness.processes.refusal at load)
    pid_file: str | None = None  # a file holding its PID (read when chaos starts)
    cgroup: str | None = None  # an existing cgroup directory it runs in
    restart_command: str | None = None  # command line that (re)starts it (no shell)

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
class Auth:
    """How tokens are minted and where they go."""

    secret: Secret = field(default_factory=Secret)  # neither env nor file: random per run
    algorithm: str = "HS256"
    #: claims template; "{user}" and "{attempt}" in string values are substituted
    claims: Mapping[str, Any] = field(default_factory=lambda: _frozen({"sub": "user-{user}"}))
    lifetime: float = 300.0  # seconds a valid token lives
    placement: str = "query"  # "query" or "header"
    query_param: str = "token"  # name of the query parameter
    header: str = "Authorization"  # header name; the value is "Bearer <token>"


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
class Load:
    users: int = 10
    spawn_rate: float = 10.0  # users started per second
    duration: float = 30.0  # seconds
    #: token kind -> weight (relative; kinds with weight 0 are not used)
    mix: Mapping[str, float] = field(default_factory=lambda: _frozen({"valid": 1.0}))
    session: Session = field(default_factory=Session)
    timeouts: Timeouts = field(default_factory=Timeouts)
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Gate:
    """A pass/fail condition on a summary metric: ``metric[token_kind]@phase op threshold``.

    ``phase`` narrows the metric to one phase of the run (``baseline``, ``during <label>``,
    ``after <label>``); ``fault`` names the window (label) whose ``recovery_s`` is meant;
    ``severity`` is the floor for the ``findings`` count.
    """

    name: str
    metric: str  # a name of harness.config.metrics.GATE_METRICS
    op: str  # one of GATE_OPS
    threshold: float
    token_kind: str | None = None  # None: over all token kinds
    phase: str | None = None  # None: the whole run
    fault: str | None = None  # a chaos window label, for recovery_s
    severity: str | None = None  # for findings: count those at or above this

    def describe(self) -> str:
        kind = f"[{self.token_kind}]" if self.token_kind else ""
        where = f"@{self.phase}" if self.phase else ""
        of = f"({self.fault})" if self.fault else f"(>= {self.severity})" if self.severity else ""
        return f"{self.metric}{of}{kind}{where} {self.op} {self.threshold:g}"


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
