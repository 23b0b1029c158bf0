"""The embedded target's Socket.IO mode: Socket.IO v5 over Engine.IO v4 (python-socketio's
``AsyncServer`` under aiohttp), with the plain target's token rules, limits and defects.

aiohttp, not an ASGI server, because the ``drop-before-handshake`` defect needs a real
abrupt TCP drop before the Engine.IO OPEN (``request.transport.abort()``). One
:class:`SocketIOTarget` answers, in this order:

1. Routing: ``GET /health`` (JSON), ``GET /metrics`` (Prometheus text), the Engine.IO path
   (``/socket.io/``), anything else 404.
2. ``drop-before-handshake`` defect: the request that would open a new Engine.IO session (no
   ``sid`` in its query, polling or WebSocket) has its TCP connection aborted, before any byte
   of a response: the client sees the connection closed before it was established.
3. Engine.IO (python-socketio): the transports allowed (``--transports``; a WebSocket without
   ``websocket`` in them gets 400), the OPEN packet, heartbeats.
4. The Socket.IO CONNECT of the namespace: the token is the CONNECT auth object's field
   (``--auth-field``), else whatever the handshake carried (query, header, cookie: the plain
   target's placements). A refused token is a CONNECT_ERROR ``unauthorized: <reason>``.
5. Capacity (the plain target's limits: connections, RSS, CPU, descriptors): CONNECT_ERROR
   ``insufficient resources: <why>``. An accepted client holds a slot until it disconnects.
6. Events: ``--event`` (``echo``) is acknowledged with its own argument; ``disconnect_me``
   makes the server disconnect the client (``41``, "io server disconnect"); with
   ``--disconnect-after S`` the server does the same S seconds after every CONNECT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import socket
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import socketio
from aiohttp import web

from harness.target.auth import (
    CAUSES,
    REJECTIONS,
    AuthResult,
    Carriers,
    ValidityCache,
    check_token,
    find_token,
)
from harness.target.server import (
    FD_RESERVE,
    MEMORY_RESERVE_MB,
    FdGauge,
    ResourceSampler,
    TargetConfig,
    health_document,
    memory_left_mb,
    metrics_page,
    tls_context,
)

log = logging.getLogger("harness.target")
#: python-socketio's and python-engineio's own lines (their errors only: at INFO they log a
#: line per packet). Given as a logger, they add no stderr handler of their own.
library_log = logging.getLogger("harness.target.socketio")
library_log.setLevel(logging.ERROR)

# --- Tables ---------------------------------------------------------------------------

#: Engine.IO transports the target can allow (python-socketio's names).
TRANSPORTS: tuple[str, ...] = ("websocket", "polling")

#: Prefix of every CONNECT_ERROR message refusing a token (the cause's reason follows).
AUTH_MESSAGE_PREFIX = "unauthorized"

#: Capacity cause -> CONNECT_ERROR message (``{limit}`` is the configured threshold). Each
#: starts with the browser's wording, which clients match.
CAPACITY_MESSAGES: Mapping[str, str] = {
    "connection_limit": "insufficient resources: connection limit {limit} reached",
    "memory": "insufficient resources: memory above {limit} MB",
    "cpu": "insufficient resources: cpu above {limit} percent",
    "file_descriptors": "insufficient resources: {limit} file descriptors left",
    "memory_limit": "insufficient resources: {limit} MB of memory left",
}

#: The event that makes the server disconnect the client that emits it.
DISCONNECT_EVENT = "disconnect_me"

# Timeouts
# A graceful stop: at most about 2.5 s in all (TargetProcess.stop kills after 5 s)
SHUTDOWN_TIMEOUT_S = 1.0  # seconds for disconnecting every client, and their transports closing
ABORT_TIMEOUT_S = 0.5  # seconds for closing the Engine.IO sessions still left after that
#: seconds aiohttp waits for its handlers, then again for the cancelled ones (twice this)
HTTP_SHUTDOWN_TIMEOUT_S = 0.5
POLL_S = 0.02  # seconds between looks for the last transports on a graceful stop
SWEEP_INTERVAL_S = 0.25  # seconds between looks for sessions past the handshake timeout


@dataclass(frozen=True)
class SocketIOConfig:
    """What the Socket.IO mode adds to :class:`~harness.target.server.TargetConfig`.

    Attributes:
        namespace: the only namespace served.
        event: the event acknowledged with its argument.
        auth_field: field of the CONNECT auth object holding the token.
        transports: Engine.IO transports allowed (from :data:`TRANSPORTS`).
        disconnect_after: seconds after a CONNECT the server disconnects the client; 0: never.
    """

    namespace: str = "/"
    event: str = "echo"
    auth_field: str = "token"
    transports: tuple[str, ...] = TRANSPORTS
    disconnect_after: float = 0.0


def engineio_heartbeat(ping_interval: float, ping_timeout: float) -> dict[str, float]:
    """python-socketio's ``ping_interval``/``ping_timeout`` for the target's options.

    0 keeps python-socketio's default (25 s / 20 s): Engine.IO heartbeats cannot be turned
    off. The interval goes out as whole seconds (Engine.IO's server truncates it in the OPEN
    packet), so it is rounded up, never to 0.
    """
    kwargs: dict[str, float] = {}
    if ping_interval > 0:
        kwargs["ping_interval"] = max(1, math.ceil(ping_interval))
    if ping_timeout > 0:
        kwargs["ping_timeout"] = ping_timeout
    return kwargs


def connect_token(auth: Any, field: str) -> str | None:
    """The token of the CONNECT auth object (``{field: token}``), or None when it has none.

    A value that is not a string cannot be a JWT: it is returned as ``"?"``, which
    :func:`~harness.target.auth.validate_token` refuses as ``malformed``.
    """
    if not isinstance(auth, dict) or auth.get(field) is None:
        return None
    value = auth[field]
    return value if isinstance(value, str) else "?"


def environ_carriers(environ: Mapping[str, Any], header: str) -> Carriers:
    """The handshake placements of an Engine.IO request's WSGI-style environ (query, the
    token header, cookie; a subprotocol is never picked by the Engine.IO server)."""
    key = "HTTP_" + header.upper().replace("-", "_")
    return Carriers(
        query=str(environ.get("QUERY_STRING", "")),
        authorization=environ.get(key),
        cookie=environ.get("HTTP_COOKIE"),
    )


class SocketIOTarget:
    """The reference Socket.IO server; see the module docstring for the request pipeline."""

    def __init__(
        self,
        config: TargetConfig,
        sio_config: SocketIOConfig | None = None,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.sio_config = sio_config or SocketIOConfig()
        self.options = config.options
        self.defects = frozenset(config.options.defects)
        self.rng = rng or random.Random()
        self.cache = (
            ValidityCache(config.options.cache_ttl) if "cache-past-expiry" in self.defects else None
        )
        self.sampler = ResourceSampler()
        self.fds = FdGauge()
        self.slots: set[str] = set()  # Socket.IO sids connected to the namespace
        # Counters
        self.accepted_total = 0
        self.messages_total = 0
        self.drops_total = 0
        self.cache_hits_total = 0
        self.server_disconnects_total = 0
        self.rejections: Counter[str] = Counter({c: 0 for c in (*CAUSES, *CAPACITY_MESSAGES)})
        self.started_wall = time.time()
        self.started_mono = time.monotonic()
        self._sampler_task: asyncio.Task[None] | None = None
        self._sweep_task: asyncio.Task[None] | None = None
        self._unconnected: dict[str, float] = {}  # Engine.IO sid -> first seen without CONNECT
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._runner: web.AppRunner | None = None
        self._socket: socket.socket | None = None
        self.sio = self._make_sio()

    def _make_sio(self) -> Any:
        opts = self.options
        ns = self.sio_config.namespace
        sio = socketio.AsyncServer(
            async_mode="aiohttp",
            namespaces=[ns],  # nothing else is served, not even "/" without auth
            transports=list(self.sio_config.transports),
            cors_allowed_origins="*",  # a load generator is no browser; no Origin to check
            logger=library_log,
            engineio_logger=library_log,
            **engineio_heartbeat(opts.ping_interval, opts.ping_timeout),
        )
        sio.on("connect", self._on_connect, namespace=ns)
        sio.on("disconnect", self._on_disconnect, namespace=ns)
        sio.on(self.sio_config.event, self._on_event, namespace=ns)
        if self.sio_config.event != DISCONNECT_EVENT:
            sio.on(DISCONNECT_EVENT, self._on_disconnect_me, namespace=ns)
        return sio

    # --- Lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening (on an OS-chosen port when ``config.port`` is 0)."""
        cfg = self.config
        tls = tls_context(cfg.certfile, cfg.keyfile) if cfg.certfile and cfg.keyfile else None
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_route("*", cfg.path, self._engineio)
        # No access log: a query string may carry a token.
        runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=HTTP_SHUTDOWN_TIMEOUT_S
        )
        await runner.setup()
        family = socket.AF_INET6 if ":" in cfg.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart, same port
            if self.options.processes > 1:  # others listen here too (harness.target.pool)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((cfg.host, cfg.port))
            site = web.SockSite(runner, sock, ssl_context=tls)
            await site.start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        self._socket = sock
        self._sampler_task = asyncio.create_task(self.sampler.run())
        if self.options.handshake_timeout > 0:
            self._sweep_task = asyncio.create_task(self._sweep_unconnected())

    async def stop(self) -> None:
        """Shut down as a Socket.IO server does (Node's ``io.close()``): close every Engine.IO
        session (the clients see "transport close" and reconnect; a deliberate DISCONNECT,
        "io server disconnect", would tell them not to), stop listening, stop the tasks."""
        for task in (self._sampler_task, self._sweep_task):
            if task is not None:
                task.cancel()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(SHUTDOWN_TIMEOUT_S):
                if self.sio.eio.sockets:
                    await self.sio.eio.disconnect()  # the Engine.IO close packet to each
                while self.sio.eio.sockets:  # the clients close their transports
                    await asyncio.sleep(POLL_S)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ABORT_TIMEOUT_S):
                if self.sio.eio.sockets:  # what is left, e.g. sessions without CONNECT
                    await self.sio.eio.disconnect()  # (asyncio.wait() of nothing raises)
                await self.sio.shutdown()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        """The port actually bound."""
        assert self._socket is not None, "not started"
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """``ws://host:port/socket.io/`` (``wss://`` with a certificate): the Engine.IO
        endpoint, as the plain target's URL (clients use http(s):// for polling)."""
        host = self.config.host
        host = f"[{host}]" if ":" in host else host
        scheme = "wss" if self.config.certfile else "ws"
        return f"{scheme}://{host}:{self.port}{self.config.path}"

    # --- HTTP ---------------------------------------------------------------------------

    async def _engineio(self, request: web.Request) -> web.StreamResponse:
        if (
            "drop-before-handshake" in self.defects
            and "sid" not in request.query
            and self.rng.random() < self.options.drop_probability
        ):
            self.drops_total += 1
            log.info("dropped %s before the Engine.IO handshake (defect)", _peer(request))
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=503)  # never sent: the transport is gone
        response: web.StreamResponse = await self.sio.handle_request(request)
        return response

    async def _health(self, request: web.Request) -> web.Response:
        return _respond(json.dumps(self.health()), "application/json")

    async def _metrics(self, request: web.Request) -> web.Response:
        return _respond(self.metrics(), "text/plain; version=0.0.4")

    async def _sweep_unconnected(self) -> None:
        # The plain target's handshake timeout, for Socket.IO: an Engine.IO session that is not
        # connected to the namespace (no CONNECT, or a refused one) after handshake_timeout
        # seconds is closed. python-socketio itself keeps such a session as long as it pings.
        limit = self.options.handshake_timeout
        ns = self.sio_config.namespace
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            now = time.monotonic()
            sessions = list(self.sio.eio.sockets)
            for eio_sid in sessions:
                if self.sio.manager.sid_from_eio_sid(eio_sid, ns) in self.slots:
                    self._unconnected.pop(eio_sid, None)
                elif now - self._unconnected.setdefault(eio_sid, now) >= limit:
                    self._unconnected.pop(eio_sid, None)
                    log.info("closing Engine.IO session %s: no CONNECT in %g s", eio_sid, limit)
                    try:
                        await self.sio.eio.disconnect(eio_sid)
                    except Exception as exc:  # the sweep must outlive one odd session
                        log.warning("closing Engine.IO session %s failed: %r", eio_sid, exc)
            for gone in self._unconnected.keys() - set(sessions):
                del self._unconnected[gone]

    # --- Socket.IO ----------------------------------------------------------------------

    async def _on_connect(self, sid: str, environ: Mapping[str, Any], auth: Any) -> None:
        token = connect_token(auth, self.sio_config.auth_field)
        if token is None:
            c = self.config
            carriers = environ_carriers(environ, c.header)
            token = find_token(
                carriers, query_param=c.query_param, scheme=c.scheme, cookie=c.cookie
            )
        result = self.authenticate(token)
        peer = _environ_peer(environ)
        if result.cause is not None:
            self.rejections[result.cause] += 1
            log.info("refused %s (%s) at CONNECT", peer, result.cause)
            raise socketio.exceptions.ConnectionRefusedError(auth_message(result.cause))
        capacity = self.capacity_refusal()
        if capacity is not None:
            self.rejections[capacity[0]] += 1
            log.info("refused %s (%s) at CONNECT", peer, capacity[0])
            raise socketio.exceptions.ConnectionRefusedError(capacity[1])
        self.slots.add(sid)
        self.accepted_total += 1
        log.info("accepted %s (%s)", peer, sid)
        after = self.sio_config.disconnect_after
        if after > 0:
            loop = asyncio.get_running_loop()
            self._timers[sid] = loop.call_later(
                after, lambda: asyncio.ensure_future(self._server_disconnect(sid))
            )

    async def _on_disconnect(self, sid: str, reason: Any = None) -> None:
        self.slots.discard(sid)
        timer = self._timers.pop(sid, None)
        if timer is not None:
            timer.cancel()

    async def _on_event(self, sid: str, *args: Any) -> Any:
        self.messages_total += 1
        if self.sio_config.event == DISCONNECT_EVENT:
            await self._server_disconnect(sid)
            return None
        # The handler's return value is the acknowledgement's arguments.
        return args[0] if len(args) == 1 else args

    async def _on_disconnect_me(self, sid: str, *args: Any) -> None:
        await self._server_disconnect(sid)

    async def _server_disconnect(self, sid: str) -> None:
        self._timers.pop(sid, None)
        if sid not in self.slots:
            return
        self.server_disconnects_total += 1
        log.info("disconnecting %s (server disconnect)", sid)
        await self.sio.disconnect(sid, namespace=self.sio_config.namespace)

    # --- Decisions ----------------------------------------------------------------------

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

    def capacity_refusal(self) -> tuple[str, str] | None:
        """``(cause, CONNECT_ERROR message)`` when a new client cannot be taken now, else
        None (always None with the ``no-capacity-check`` defect)."""
        if "no-capacity-check" in self.defects:
            return None
        opts = self.options
        if len(self.slots) >= opts.max_connections:
            return _capacity("connection_limit", opts.max_connections)
        if opts.max_rss_mb > 0 and self.sampler.rss_mb > opts.max_rss_mb:
            return _capacity("memory", opts.max_rss_mb)
        if opts.max_cpu_percent > 0 and self.sampler.cpu_percent > opts.max_cpu_percent:
            return _capacity("cpu", opts.max_cpu_percent)
        left = self.fds.left()
        if left is not None and left < FD_RESERVE:
            return _capacity("file_descriptors", left)
        mem = memory_left_mb()
        if mem is not None and mem < MEMORY_RESERVE_MB:
            return _capacity("memory_limit", round(max(mem, 0.0), 1))
        return None

    # --- Endpoints ----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The ``/health`` document: the plain target's, plus the protocol, the transports and
        the clients the server disconnected (``disconnect_me``, ``--disconnect-after``)."""
        return {
            **health_document(self),
            "protocol": "socketio",
            "transports": list(self.sio_config.transports),
            "server_disconnects": self.server_disconnects_total,
        }

    def metrics(self) -> str:
        """The ``/metrics`` page: the plain target's metrics, counting Socket.IO clients."""
        return metrics_page(self)


def auth_message(cause: str) -> str:
    """The CONNECT_ERROR message refusing a token for ``cause`` (never the token itself)."""
    return f"{AUTH_MESSAGE_PREFIX}: {REJECTIONS[cause].reason}"


def _capacity(cause: str, limit: float) -> tuple[str, str]:
    return cause, CAPACITY_MESSAGES[cause].format(limit=f"{limit:g}")


def _respond(body: str, content_type: str) -> web.Response:
    return web.Response(
        body=body.encode("utf-8"),
        headers={"Content-Type": f"{content_type}; charset=utf-8", "Cache-Control": "no-store"},
    )


def _peer(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    if not peer:
        return "?"
    return f"{peer[0]}:{peer[1]}"


def _environ_peer(environ: Mapping[str, Any]) -> str:
    request = environ.get("aiohttp.request")
    return _peer(request) if isinstance(request, web.Request) else "?"
