"""The embedded reference target: an asyncio WebSocket echo server with JWT auth and limits.

One :class:`TargetServer` answers every request in ``process_request``, in this order:

1. Routing: ``GET /health`` (JSON), ``GET /metrics`` (Prometheus text), the
   WebSocket path (``/ws``), anything else 404.
2. ``drop-before-handshake`` defect: abort the TCP connection after reading the
   request, before any response byte.
3. Auth (:mod:`harness.target.auth`): a refused token never takes a connection slot.
   The token is looked for in every handshake placement (query, ``Authorization``,
   cookie, subprotocol; the first subprotocol offered is picked and echoed); with
   placement ``first_message`` the check waits until after the open (see :meth:`_handler`).
4. Capacity: the connection limit, then the RSS and CPU thresholds (sampled every
   :data:`SAMPLE_INTERVAL_S` in the background, never per handshake).
5. Accept: reserve a slot until the TCP connection is gone; echo every message.

A refusal is either an HTTP response at the upgrade (mode ``upgrade``) or a
completed handshake followed by a close frame (mode ``close``).
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import os
import random
import resource
import socket
import ssl
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import psutil
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.typing import Subprotocol

from harness.config.scenario import EmbeddedTarget, FirstMessage
from harness.target.auth import (
    CAUSES,
    REJECTIONS,
    AuthResult,
    Carriers,
    ValidityCache,
    check_token,
    find_token,
)

log = logging.getLogger("harness.target")

# --- Tables ---------------------------------------------------------------------------

#: Capacity cause -> reason template (``{limit}`` is the configured threshold).
CAPACITY_REASONS: Mapping[str, str] = {
    "connection_limit": "try again later: connection limit {limit} reached",
    "memory": "try again later: memory above {limit} MB",
    "cpu": "try again later: cpu above {limit} percent",
    "file_descriptors": "try again later: {limit} file descriptors left",
    "memory_limit": "try again later: {limit} MB of memory left",
}
CAPACITY_STATUS = 503  # HTTP status of a capacity refusal at the upgrade
CAPACITY_CLOSE_CODE = 1013  # try again later (RFC 6455 section 7.4.1, IANA registry)
RETRY_AFTER_S = 1  # Retry-After header of a 503, seconds

#: Metric -> (type, help) of the ``/metrics`` page, in page order.
METRICS: Mapping[str, tuple[str, str]] = {
    "ws_connections_open": ("gauge", "Open WebSocket connections (slots held)."),
    "ws_connections_max": ("gauge", "Connection limit."),
    "ws_connections_total": ("counter", "Accepted WebSocket connections."),
    "ws_rejections_total": ("counter", "Refused connections by cause."),
    "ws_messages_total": ("counter", "Messages echoed."),
    "ws_drops_total": ("counter", "Handshakes dropped by the drop-before-handshake defect."),
    "ws_cache_hits_total": ("counter", "Validity cache hits (cache-past-expiry defect)."),
    "process_resident_memory_bytes": ("gauge", "Resident memory size in bytes."),
    "process_cpu_percent": ("gauge", "CPU use over the last sample (one core = 100)."),
    "process_start_time_seconds": ("gauge", "Start time since the epoch in seconds."),
}

# Timeouts
SAMPLE_INTERVAL_S = 0.5  # seconds between CPU/RSS samples
CLOSE_TIMEOUT_S = 1.0  # seconds to wait for the peer's close frame
SHUTDOWN_TIMEOUT_S = 1.5  # seconds for a graceful shutdown before aborting connections
#: Connections the kernel queues for accept() (capped by net.core.somaxconn). asyncio's
#: default of 100 overflows in a burst of thousands of connects a second: the kernel then
#: drops SYNs and clients see connect timeouts the service never chose.
LISTEN_BACKLOG = 4096


def deepen_backlog(sockets: Iterable[Any]) -> None:
    """Let the kernel queue :data:`LISTEN_BACKLOG` connections on each listening socket.

    Not through ``create_server(backlog=...)``: asyncio also accepts that many connections
    in one go before any of them is handled, which would run through the descriptor reserve
    at once and stall the server at EMFILE (the ``fd_limit`` fault showed it). ``listen()``
    again on a duplicate of the socket changes only the kernel's queue.
    """
    for sock in sockets:
        with socket.fromfd(sock.fileno(), sock.family, sock.type) as dup:
            dup.listen(LISTEN_BACKLOG)


_MB = 1024 * 1024


@dataclass(frozen=True)
class TargetConfig:
    """Everything the server needs; ``secret`` is kept out of ``repr``."""

    options: EmbeddedTarget
    secret: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 8765  # 0: the OS picks
    path: str = "/ws"
    query_param: str = "token"
    algorithm: str = "HS256"
    placement: str = "query"  # "first_message": auth after the open; else in the handshake
    header: str = "Authorization"  # header holding the token
    scheme: str = "Bearer"  # of that header ("": the bare value)
    cookie: str = "token"  # name of the cookie holding the token
    first_message: FirstMessage = field(default_factory=FirstMessage)
    #: PEM certificate chain and private key: serve wss:// (both None: plain ws://)
    certfile: str | None = None
    keyfile: str | None = None
    #: which of the target's ``options.processes`` processes this is (0-based)
    process: int = 0


def tls_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """The server side TLS context of the target (raises OSError/ssl.SSLError when unusable)."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


@dataclass(frozen=True)
class Refusal:
    """One decided refusal: how it shows at the upgrade and as a close frame."""

    cause: str  # a key of auth.REJECTIONS or CAPACITY_REASONS
    status: int
    close_code: int
    reason: str
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def auth(cls, cause: str) -> Refusal:
        row = REJECTIONS[cause]
        challenge = f'Bearer error="invalid_token", error_description="{cause}"'
        return cls(
            cause, row.status, row.close_code, row.reason, (("WWW-Authenticate", challenge),)
        )

    @classmethod
    def capacity(cls, cause: str, limit: float) -> Refusal:
        reason = CAPACITY_REASONS[cause].format(limit=f"{limit:g}")
        retry = (("Retry-After", str(RETRY_AFTER_S)),)
        return cls(cause, CAPACITY_STATUS, CAPACITY_CLOSE_CODE, reason, retry)


class TargetConnection(ServerConnection):
    """A server connection that carries a refusal decided during the handshake (close mode)."""

    refusal: Refusal | None = None


#: Refuse new connections (gracefully) when fewer descriptors than this are left under the
#: soft RLIMIT_NOFILE. Each connection holds one, and the reserve must absorb a burst of
#: accept()s that land before any of them is checked: at EMFILE, asyncio stops accepting
#: for a second and every queued client stalls (abrupt), which is what this avoids.
FD_RESERVE = 32


def fds_left() -> int | None:
    """Descriptors this process may still open under its soft limit (None: unknown)."""
    try:
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY:
            return None
        return soft - len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


#: Refuse new connections (gracefully) when less memory than this (MB) is left under a soft
#: RLIMIT_AS or RLIMIT_DATA (the ``memory_rlimit`` chaos fault, a container's ulimit -v). A
#: connection's buffers are allocated as its bytes arrive: at the limit, the event loop's
#: reads fail with MemoryError and asyncio drops the connection without a word (before the
#: 101, or 1006 after it), which the reserve keeps for the connections already held.
MEMORY_RESERVE_MB = 8.0

_PAGE = os.sysconf("SC_PAGE_SIZE")


def memory_left_mb() -> float | None:
    """MB this process may still map under its soft RLIMIT_AS / RLIMIT_DATA (the smaller);
    None when neither is set (the usual case: one getrlimit each, no /proc read)."""
    soft_as = resource.getrlimit(resource.RLIMIT_AS)[0]
    soft_data = resource.getrlimit(resource.RLIMIT_DATA)[0]
    if soft_as == resource.RLIM_INFINITY and soft_data == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm", encoding="ascii") as f:  # size resident shared text lib data
            fields = f.read().split()
    except OSError:
        return None
    left = []
    if soft_as != resource.RLIM_INFINITY:
        left.append(soft_as - int(fields[0]) * _PAGE)
    if soft_data != resource.RLIM_INFINITY:
        left.append(soft_data - int(fields[5]) * _PAGE)
    return min(left) / _MB


class FdGauge:
    """:func:`fds_left` for every handshake, without listing ``/proc/self/fd`` each time (a
    listing per handshake made the handshake cost grow with the connections held: 70 % of
    a target process's CPU at 10,000 connections).

    A count is reused for ``max_age`` seconds, each later call counting one more descriptor
    (its connection's; closed ones are not subtracted, so the estimate only errs towards
    fewer left). Within ``margin`` of the limit, or when the count is old, it counts again:
    near the limit (the ``fd_limit`` chaos fault) every handshake is checked exactly.
    """

    def __init__(self, margin: int = 1024, max_age: float = 0.5) -> None:
        self.margin = margin
        self.max_age = max_age
        self._count: int | None = None
        self._at = 0.0
        self._since = 0

    def left(self) -> int | None:
        try:
            soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        except OSError:
            return None
        if soft == resource.RLIM_INFINITY:
            return None
        now = time.monotonic()
        if self._count is not None and now - self._at < self.max_age:
            self._since += 1
            estimate = soft - (self._count + self._since)
            if estimate > self.margin:
                return estimate
        left = fds_left()
        if left is None:
            return None
        self._count, self._at, self._since = soft - left, now, 0
        return left


class ResourceSampler:
    """This process's RSS and CPU use, sampled in the background (cached between samples)."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self._process.cpu_percent(None)  # the first call only sets the baseline
        self.rss_bytes = self._process.memory_info().rss
        self.cpu_percent = 0.0  # over the last interval; one core = 100

    @property
    def rss_mb(self) -> float:
        return self.rss_bytes / _MB

    def sample(self) -> None:
        """Take one sample now."""
        self.rss_bytes = self._process.memory_info().rss
        self.cpu_percent = self._process.cpu_percent(None)

    async def run(self, interval: float = SAMPLE_INTERVAL_S) -> None:
        """Sample every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval)
            self.sample()


class TargetServer:
    """The reference WebSocket manager; see the module docstring for the request pipeline."""

    def __init__(self, config: TargetConfig, *, rng: random.Random | None = None) -> None:
        self.config = config
        self.options = config.options
        self.defects = frozenset(config.options.defects)
        self.rng = rng or random.Random()
        self.cache = (
            ValidityCache(config.options.cache_ttl) if "cache-past-expiry" in self.defects else None
        )
        self.sampler = ResourceSampler()
        self.fds = FdGauge()
        self.slots: set[ServerConnection] = set()  # accepted, TCP still up
        # Counters
        self.accepted_total = 0
        self.messages_total = 0
        self.drops_total = 0
        self.cache_hits_total = 0
        self.rejections: Counter[str] = Counter({c: 0 for c in (*CAUSES, *CAPACITY_REASONS)})
        self.started_wall = time.time()
        self.started_mono = time.monotonic()
        self._server: Server | None = None
        self._sampler_task: asyncio.Task[None] | None = None

    # --- Lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening (on an OS-chosen port when ``config.port`` is 0)."""
        opts = self.options
        cfg = self.config
        tls = tls_context(cfg.certfile, cfg.keyfile) if cfg.certfile and cfg.keyfile else None
        self._sampler_task = asyncio.create_task(self.sampler.run())
        self._server = await serve(
            self._handler,
            self.config.host,
            self.config.port,
            process_request=self._process_request,
            create_connection=TargetConnection,
            select_subprotocol=_first_offered,
            compression=None,  # payload sizes on the wire are the real ones
            open_timeout=opts.handshake_timeout or None,
            ping_interval=opts.ping_interval or None,
            ping_timeout=opts.ping_timeout or None,
            close_timeout=CLOSE_TIMEOUT_S,
            ssl=tls,
            # several processes (harness.target.pool) listen on this port: the kernel spreads
            reuse_port=opts.processes > 1 or None,
        )
        deepen_backlog(self._server.sockets)

    async def stop(self) -> None:
        """Close open connections with 1001, stop listening; abort what is left after a while."""
        if self._sampler_task is not None:
            self._sampler_task.cancel()
        server = self._server
        if server is None:
            return
        server.close()
        try:
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                await server.wait_closed()
        except TimeoutError:
            for connection in list(server.all_connections):
                connection.transport.abort()

    @property
    def port(self) -> int:
        """The port actually bound."""
        assert self._server is not None, "not started"
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        """``ws://host:port/path`` (``wss://`` with a certificate) of the WebSocket endpoint."""
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        scheme = "wss" if self.config.certfile else "ws"
        return f"{scheme}://{host}:{self.port}{self.config.path}"

    # --- Handshake ----------------------------------------------------------------------

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        url = urlsplit(request.path)
        if url.path == "/health":
            return _respond(connection, 200, json.dumps(self.health()), "application/json")
        if url.path == "/metrics":
            return _respond(connection, 200, self.metrics(), "text/plain; version=0.0.4")
        if url.path != self.config.path:
            return connection.respond(404, "not found\n")
        if "drop-before-handshake" in self.defects and (
            self.rng.random() < self.options.drop_probability
        ):
            return await self._drop(connection)
        if self.config.placement != "first_message":
            result = self.authenticate(self.handshake_token(request))
            if result.cause is not None:
                return self._refuse(connection, Refusal.auth(result.cause), self.options.rejection)
        capacity = self.capacity_refusal()
        if capacity is not None:
            return self._refuse(connection, capacity, self.options.capacity_rejection)
        self._reserve(connection)
        return None

    def handshake_token(self, request: Request) -> str | None:
        """The token of an upgrade request, from whichever placement holds it."""
        headers = request.headers
        authorization = headers.get_all(self.config.header)
        cookie = headers.get_all("Cookie")
        offered = [
            p.strip() for v in headers.get_all("Sec-WebSocket-Protocol") for p in v.split(",")
        ]
        carriers = Carriers(
            query=urlsplit(request.path).query,
            authorization=authorization[0] if authorization else None,
            cookie="; ".join(cookie) if cookie else None,
            subprotocols=[p for p in offered if p],
        )
        c = self.config
        return find_token(carriers, query_param=c.query_param, scheme=c.scheme, cookie=c.cookie)

    async def first_message_auth(self, connection: ServerConnection) -> Refusal | None:
        """Placement first_message: the auth message, awaited up to the handshake timeout,
        validated; the ack sent, or the refusal to close with (no message: ``missing``)."""
        first = self.config.first_message
        prefix, _, suffix = first.template.partition("{token}")
        token: str | None = None
        try:
            async with asyncio.timeout(self.options.handshake_timeout or None):
                message = await connection.recv()
        except (TimeoutError, ConnectionClosed):
            message = None
        if message is not None:
            text = message if isinstance(message, str) else message.decode("utf-8", "replace")
            if (
                text.startswith(prefix)
                and text.endswith(suffix)
                and len(text) >= len(prefix + suffix)
            ):
                token = text[len(prefix) : len(text) - len(suffix)]
        result = self.authenticate(token)
        if result.cause is not None:
            self.rejections[result.cause] += 1
            log.info("refused %s (%s) after the open", _peer(connection), result.cause)
            return Refusal.auth(result.cause)
        await connection.send(json.dumps({first.ack_field: first.ack_value}))
        return None

    def authenticate(self, token: str | None) -> AuthResult:
        """Validate ``token`` by the target's rules and defects (:func:`check_token`)."""
        result, cached = check_token(
            token,
            self.config.secret,
            algorithm=self.config.algorithm,
            defects=self.defects,
            cache=self.cache,
        )
        self.cache_hits_total += cached
        return result

    def capacity_refusal(self) -> Refusal | None:
        """Why a new connection cannot be taken now, or None (always None with the defect)."""
        if "no-capacity-check" in self.defects:
            return None
        opts = self.options
        if len(self.slots) >= opts.max_connections:
            return Refusal.capacity("connection_limit", opts.max_connections)
        if opts.max_rss_mb > 0 and self.sampler.rss_mb > opts.max_rss_mb:
            return Refusal.capacity("memory", opts.max_rss_mb)
        if opts.max_cpu_percent > 0 and self.sampler.cpu_percent > opts.max_cpu_percent:
            return Refusal.capacity("cpu", opts.max_cpu_percent)
        left = self.fds.left()
        if left is not None and left < FD_RESERVE:
            return Refusal.capacity("file_descriptors", left)
        mem = memory_left_mb()
        if mem is not None and mem < MEMORY_RESERVE_MB:
            return Refusal.capacity("memory_limit", round(max(mem, 0.0), 1))
        return None

    def _refuse(self, connection: ServerConnection, refusal: Refusal, mode: str) -> Response | None:
        self.rejections[refusal.cause] += 1
        log.info("refused %s (%s) %s", _peer(connection), refusal.cause, mode)
        if mode == "close":
            assert isinstance(connection, TargetConnection)
            connection.refusal = refusal  # the handler closes right after the 101
            return None
        phrase = http.HTTPStatus(refusal.status).phrase.lower()
        response = connection.respond(refusal.status, f"{phrase}: {refusal.reason}\n")
        for name, value in refusal.headers:
            response.headers[name] = value
        return response

    def _reserve(self, connection: ServerConnection) -> None:
        # Held from the decision until the TCP connection is gone, so that
        # concurrent handshakes cannot overshoot the limit.
        self.slots.add(connection)
        connection.connection_lost_waiter.add_done_callback(
            lambda _: self.slots.discard(connection)
        )

    async def _drop(self, connection: ServerConnection) -> Response:
        # Abort the transport and let connection_lost() run: the protocol state
        # becomes CLOSED, so handshake() sends nothing and the library's handler
        # returns quietly (no traceback). The response returned is never sent.
        self.drops_total += 1
        log.info("dropped %s before the handshake (defect)", _peer(connection))
        connection.transport.abort()
        await asyncio.shield(connection.connection_lost_waiter)
        return connection.respond(CAPACITY_STATUS, "dropped\n")

    # --- Session ------------------------------------------------------------------------

    async def _handler(self, connection: ServerConnection) -> None:
        refusal = getattr(connection, "refusal", None)
        if refusal is None and self.config.placement == "first_message":
            try:
                refusal = await self.first_message_auth(connection)
            except ConnectionClosed:
                return
        if refusal is not None:
            await connection.close(refusal.close_code, refusal.reason)
            return
        self.accepted_total += 1
        log.info("accepted %s", _peer(connection))
        try:
            async for message in connection:
                await connection.send(message)
                self.messages_total += 1
        except ConnectionClosed:
            pass
        finally:
            self.slots.discard(connection)

    # --- Endpoints ----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The ``/health`` document."""
        return health_document(self)

    def metrics(self) -> str:
        """The ``/metrics`` page in the Prometheus text exposition format (version 0.0.4)."""
        return metrics_page(self)


class Reporting(Protocol):
    """What ``/health`` and ``/metrics`` read of a target (the plain one, the Socket.IO one)."""

    config: TargetConfig
    options: EmbeddedTarget
    defects: frozenset[str]
    sampler: ResourceSampler
    rejections: Counter[str]
    accepted_total: int
    messages_total: int
    drops_total: int
    cache_hits_total: int
    started_wall: float  # time.time() at the start
    started_mono: float  # time.monotonic() at the start

    @property
    def slots(self) -> Sized: ...

    def capacity_refusal(self) -> Any: ...


def health_document(t: Reporting) -> dict[str, Any]:
    """The ``/health`` document every target mode answers (a mode may add keys)."""
    return {
        "status": "ok",
        "accepting": t.capacity_refusal() is None,
        "connections": len(t.slots),
        "max_connections": t.options.max_connections,
        "rss_mb": round(t.sampler.rss_mb, 1),
        "cpu_percent": round(t.sampler.cpu_percent, 1),
        "defects": sorted(t.defects),
        "uptime_s": round(time.monotonic() - t.started_mono, 3),
        # which process answers (of options.processes sharing the port): its own figures
        "process": t.config.process,
        "processes": t.options.processes,
        "pid": os.getpid(),
    }


def metrics_page(t: Reporting) -> str:
    """The ``/metrics`` page every target mode answers (:data:`METRICS`)."""
    rejections = {f'cause="{c}"': n for c, n in sorted(t.rejections.items())}
    return render_metrics(
        {
            "ws_connections_open": {"": len(t.slots)},
            "ws_connections_max": {"": t.options.max_connections},
            "ws_connections_total": {"": t.accepted_total},
            "ws_rejections_total": rejections,
            "ws_messages_total": {"": t.messages_total},
            "ws_drops_total": {"": t.drops_total},
            "ws_cache_hits_total": {"": t.cache_hits_total},
            "process_resident_memory_bytes": {"": t.sampler.rss_bytes},
            "process_cpu_percent": {"": t.sampler.cpu_percent},
            "process_start_time_seconds": {"": t.started_wall},
        }
    )


def render_metrics(values: Mapping[str, Mapping[str, float]]) -> str:
    """Prometheus text for ``values`` (metric -> label set, e.g. ``cause="expired"`` -> value)."""
    lines: list[str] = []
    for name, (kind, help_) in METRICS.items():
        lines += (f"# HELP {name} {help_}", f"# TYPE {name} {kind}")
        for labels, value in values.get(name, {}).items():
            lines.append(f"{name}{{{labels}}} {value!r}" if labels else f"{name} {value!r}")
    return "\n".join(lines) + "\n"


def _respond(connection: ServerConnection, status: int, body: str, content_type: str) -> Response:
    response = connection.respond(status, body)
    headers: Headers = response.headers
    del headers["Content-Type"]
    headers["Content-Type"] = f"{content_type}; charset=utf-8"
    headers["Cache-Control"] = "no-store"
    return response


def _first_offered(
    connection: ServerConnection, offered: Sequence[Subprotocol]
) -> Subprotocol | None:
    """Pick the first subprotocol the client offers (it may carry the token): a client that
    offers one requires the answer to name one of its values."""
    return offered[0] if offered else None


def _peer(connection: ServerConnection) -> str:
    try:
        host, port = connection.remote_address[:2]
    except Exception:  # the socket may be gone already
        return "?"
    return f"{host}:{port}"
