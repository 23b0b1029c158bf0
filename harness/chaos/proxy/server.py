"""A TCP chaos proxy in front of the target: forwards bytes, disturbed by named toxics.

Plain asyncio with two paths per connection. The **fast path**
(:mod:`harness.chaos.proxy.relay`) takes every connection that arrives while no
per-chunk toxic is active: reader callbacks on two non-blocking sockets, one ``recv``
and one ``send`` per chunk, no transport, stream or task. The **toxic path**
(:mod:`harness.chaos.proxy.streams`) runs a connection on asyncio streams, one task per
direction, and applies the toxics. A relayed connection moves to it at its next chunk
once a per-chunk toxic (latency, bandwidth, blackhole, cut-handshake) is set.

Toxics (:mod:`harness.chaos.proxy.toxics`) follow Toxiproxy's model: small frozen dataclasses
set and cleared by a key, several active at once, read per chunk (latency, bandwidth,
blackhole, cut-handshake) or per new connection (reset, connection cap). Clearing a
toxic takes effect at once: delayed data is released, paced data goes out unpaced, and
held connections *proceed* (admitted and forwarded in arrival order). Setters are
synchronous and only swap state; they are meant for the proxy's loop thread and are
also safe from another one (the wake-up goes via ``call_soon_threadsafe``).
:class:`ProxyThread` runs a proxy on a loop of its own.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import random
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from harness.chaos.proxy.core import Connection
from harness.chaos.proxy.relay import Relay
from harness.chaos.proxy.streams import (
    StreamConn,
    rst_socket,
)
from harness.chaos.proxy.toxics import (
    CLEAN,
    ActiveToxics,
    Toxic,
)

# --- Tunables -------------------------------------------------------------------------

BACKLOG = 100  # listen(2) backlog, as asyncio's servers
ACCEPT_BATCH = 100  # connections accepted per readiness event at most
ACCEPT_RETRY_S = 1.0  # seconds accepting pauses when out of descriptors or memory
STOP_TIMEOUT_S = 5.0  # seconds stop() waits for connection tasks to end
CALL_TIMEOUT_S = 10.0  # seconds ProxyThread waits for the loop thread
_RESOURCE_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)

T = TypeVar("T")


def _numeric(host: str, port: int) -> tuple[int, tuple[str, int]] | None:
    """``(family, address)`` when ``host`` is an IP address (no lookup needed), else None."""
    try:
        ip = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    return (socket.AF_INET6 if ip.version == 6 else socket.AF_INET), (host, port)


# --- The proxy ------------------------------------------------------------------------


class ChaosProxy:
    """A TCP proxy from ``listen_host:listen_port`` to the upstream, with toxics.

    Args:
        upstream_host: where connections are forwarded.
        upstream_port: port there.
        listen_host: address to listen on (loopback by default).
        listen_port: port to listen on; 0 lets the OS pick (see :attr:`port`).
        seed: seed of the random source for Reset probabilities and jitter.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
        seed: int | None = None,
    ) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._up_addr = _numeric(upstream_host, upstream_port)
        self._listen = (listen_host, listen_port)
        self.rng = random.Random(seed)
        self._toxics: dict[str, Toxic] = {}
        #: the active toxics, folded; read by the connections per chunk
        self.state: ActiveToxics = CLEAN
        #: set (and replaced) whenever the toxics change or a slot frees
        self.changed = asyncio.Event()
        #: connections holding a slot under the connection cap
        self.admitted = 0
        self._listeners: list[socket.socket] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._conns: set[Connection] = set()
        self._total = 0
        self._port = 0

    # --- Lifecycle ----------------------------------------------------------------------

    async def start(self) -> int:
        """Start listening; returns the bound port."""
        self._loop = loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        host, port = self._listen
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                self._listeners.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.listen(BACKLOG)
                sock.setblocking(False)
        except OSError:
            self._close_listeners()
            raise
        for sock in self._listeners:
            loop.add_reader(sock.fileno(), self._on_accept, sock)
        self._port = int(self._listeners[0].getsockname()[1])
        return self._port

    async def stop(self) -> None:
        """Stop listening and close every connection (clients see their connection end)."""
        self._close_listeners()
        tasks = [c.task for c in self._conns if c.task is not None]
        for conn in list(self._conns):
            conn.close(reset=False)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)

    def _close_listeners(self) -> None:
        for sock in self._listeners:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._listeners.clear()

    @property
    def port(self) -> int:
        """The port actually bound (kept after :meth:`stop`)."""
        assert self._port, "not started"
        return self._port

    @property
    def active_connections(self) -> int:
        """Client connections open now (held ones included)."""
        return len(self._conns)

    @property
    def total_connections(self) -> int:
        """Client connections accepted since start."""
        return self._total

    @property
    def upstream(self) -> tuple[str, int]:
        return self._upstream

    def set_upstream(self, host: str, port: int) -> None:
        """Forward new connections to ``host:port`` (e.g. after a target restart)."""
        self._upstream = (host, port)
        self._up_addr = _numeric(host, port)

    # --- Toxics -------------------------------------------------------------------------

    @property
    def toxics(self) -> dict[str, Toxic]:
        """The active toxics by key (a copy)."""
        return dict(self._toxics)

    def set_toxic(self, key: str, toxic: Toxic) -> None:
        """Activate ``toxic`` under ``key`` (replacing any toxic under that key)."""
        if not isinstance(toxic, Toxic):
            raise TypeError(f"not a toxic: {toxic!r}")
        self._swap({**self._toxics, key: toxic})

    def clear_toxic(self, key: str) -> None:
        """Remove the toxic under ``key``; a no-op when there is none."""
        if key in self._toxics:
            self._swap({k: v for k, v in self._toxics.items() if k != key})

    def clear_all(self) -> None:
        """Remove every toxic."""
        self._swap({})

    def _swap(self, toxics: dict[str, Toxic]) -> None:
        self._toxics = toxics
        self.state = ActiveToxics.of(toxics) if toxics else CLEAN
        if self._loop is None or self._loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            self._notify()
        else:
            self._loop.call_soon_threadsafe(self._notify)

    def _notify(self) -> None:
        """Wake everything waiting on a change of toxics or a freed slot."""
        event, self.changed = self.changed, asyncio.Event()
        event.set()

    async def wait_change(self, timeout: float | None) -> bool:
        """Sleep up to ``timeout`` s (None: no limit); True when woken by a change."""
        event = self.changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- Connections --------------------------------------------------------------------

    def _on_accept(self, listener: socket.socket) -> None:
        loop = self._loop
        assert loop is not None
        for _ in range(ACCEPT_BATCH):
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRNOS:
                    raise  # the loop logs it
                # Linux keeps reporting the listener ready: pause instead of spinning
                loop.call_exception_handler(
                    {"message": "chaos proxy: accept() out of resources", "exception": exc}
                )
                loop.remove_reader(listener.fileno())
                loop.call_later(ACCEPT_RETRY_S, self._resume_accept, listener)
                return
            sock.setblocking(False)
            self._total += 1
            self._new_connection(loop, sock)

    def _resume_accept(self, listener: socket.socket) -> None:
        if self._loop is not None and listener in self._listeners:  # not stopped meanwhile
            self._loop.add_reader(listener.fileno(), self._on_accept, listener)

    def _new_connection(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        """Apply the per-connection toxics, then put ``sock`` on the fast or the toxic path."""
        state = self.state
        reset_after: float | None = None
        for toxic in state.resets:
            if self.rng.random() < toxic.probability:
                if toxic.after_ms <= 0:
                    rst_socket(sock)
                    return
                reset_after = min(reset_after or toxic.after_ms, toxic.after_ms)
        cap = state.cap
        if cap is None or self.admitted < cap.max_connections:
            if self._up_addr is not None and not state.touches(responded=False):
                self.admitted += 1
                relay = Relay(self, loop, sock, reset_after)
                self._conns.add(relay)
                relay.connect(*self._up_addr)
                return
        elif cap.mode == "reset":
            rst_socket(sock)
            return
        conn = StreamConn(self, [sock])  # admission (hold, refuse) and toxics on streams
        self._conns.add(conn)
        conn.start(functools.partial(conn.serve, sock, reset_after))

    def hand_over(self, old: Connection, new: Connection) -> None:
        """``new`` carries on ``old`` (with its slot, if it held one)."""
        self._conns.discard(old)
        self._conns.add(new)

    def release(self, conn: Connection) -> None:
        """``conn`` has ended: forget it and free its slot."""
        self._conns.discard(conn)
        if conn.admitted:
            conn.admitted = False
            self.admitted -= 1
            self._notify()


# --- A proxy on its own thread --------------------------------------------------------


class ProxyThread:
    """Runs a :class:`ChaosProxy` on its own event loop in a daemon thread.

    For tests and synchronous callers: ``start()`` returns the port, ``call(fn, *args)``
    runs ``fn`` (e.g. ``proxy.set_toxic``) in the loop thread and returns its result.
    """

    def __init__(self, proxy: ChaosProxy) -> None:
        self.proxy = proxy
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="chaos-proxy", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> int:
        """Start the loop thread and the proxy; returns the bound port."""
        self._thread.start()
        fut = asyncio.run_coroutine_threadsafe(self.proxy.start(), self.loop)
        return fut.result(CALL_TIMEOUT_S)

    def stop(self) -> None:
        """Stop the proxy, its loop and its thread (idempotent)."""
        if not self._thread.is_alive():
            if self._thread.ident is None and not self.loop.is_closed():
                self.loop.close()  # never started
            return
        fut = asyncio.run_coroutine_threadsafe(self.proxy.stop(), self.loop)
        try:
            fut.result(STOP_TIMEOUT_S + CALL_TIMEOUT_S)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(CALL_TIMEOUT_S)
            if not self._thread.is_alive():
                self.loop.close()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the loop thread and wait (up to CALL_TIMEOUT_S s) for it."""

        async def run() -> T:
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(CALL_TIMEOUT_S)
