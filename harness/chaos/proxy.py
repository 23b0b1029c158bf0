"""A TCP chaos proxy in front of the target: forwards bytes, disturbed by named toxics.

Plain asyncio (``asyncio.start_server``), one task per direction per connection. With
no toxic active a chunk costs one read, one write and one drain, nothing more.
Toxics follow Toxiproxy's model: small frozen dataclasses set and cleared by a key,
several active at once, read per chunk (latency, bandwidth, blackhole, cut-handshake)
or per new connection (reset, connection cap).

Clearing a toxic takes effect at once: delayed data is released, paced data goes out
unpaced, and held connections *proceed* (admitted and forwarded in arrival order).
Setters are synchronous and only swap state; they are meant for the proxy's loop
thread and are also safe from another one (the wake-up goes via
``call_soon_threadsafe``). :class:`ProxyThread` runs a proxy on a loop of its own.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import random
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

# --- Tunables -------------------------------------------------------------------------

CHUNK_BYTES = 65536  # largest read per chunk
CONNECT_TIMEOUT_S = 5.0  # seconds to connect upstream before resetting the client
HALF_CLOSE_GRACE_S = 10.0  # seconds one direction may stay open after the other ended
LINE_LIMIT_BYTES = 4 * 1024 * 1024  # delayed bytes queued per direction before reads pause
SLICE_S = 0.05  # seconds of traffic per paced write under a bandwidth cap
REFUSE_READ_S = 1.0  # seconds to read the request head before answering 503
STOP_TIMEOUT_S = 5.0  # seconds stop() waits for connection tasks to end
CALL_TIMEOUT_S = 10.0  # seconds ProxyThread waits for the loop thread
CAP_MODES = ("reset", "hold", "refuse")
_BODY = b"chaos proxy: connection cap reached, retry later\n"
REFUSE_RESPONSE = (  # HTTP/1.1 (RFC 9110 section 15.6.4, 10.2.3)
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)

T = TypeVar("T")

# --- Toxics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Latency:
    """Delay every chunk in both directions; order per direction is kept."""

    ms: float  # milliseconds added to every chunk
    jitter_ms: float = 0.0  # milliseconds, uniform +- around ms (a delay never goes below 0)

    def __post_init__(self) -> None:
        if self.ms < 0 or self.jitter_ms < 0:
            raise ValueError(f"latency and jitter must be >= 0 ms, got {self.ms}, {self.jitter_ms}")


@dataclass(frozen=True)
class Bandwidth:
    """Cap each direction of each connection to a rate."""

    kib_per_s: float  # KiB/s (1 KiB = 1024 bytes), > 0

    def __post_init__(self) -> None:
        if not self.kib_per_s > 0:
            raise ValueError(f"bandwidth must be > 0 KiB/s, got {self.kib_per_s}")


@dataclass(frozen=True)
class Reset:
    """Reset new connections (RST: SO_LINGER 0, then close)."""

    probability: float = 1.0  # share of new connections reset, 0..1
    after_ms: float = 0.0  # milliseconds of forwarding before the RST; 0 = at accept

    def __post_init__(self) -> None:
        if not 0 <= self.probability <= 1 or self.after_ms < 0:
            raise ValueError(f"need 0 <= probability <= 1 and after_ms >= 0, got {self}")


@dataclass(frozen=True)
class Blackhole:
    """Read and discard everything, both directions, new and existing connections."""


@dataclass(frozen=True)
class CutHandshake:
    """Forward the client's request, then close the client as the response begins."""


@dataclass(frozen=True)
class ConnectionCap:
    """At most ``max_connections`` admitted client connections; the excess per ``mode``."""

    max_connections: int  # concurrent client connections, >= 0
    mode: str = "reset"  # reset (RST) | hold (wait for a slot) | refuse (HTTP 503)

    def __post_init__(self) -> None:
        if self.max_connections < 0 or self.mode not in CAP_MODES:
            raise ValueError(f"need max_connections >= 0 and mode in {CAP_MODES}, got {self}")


Toxic = Latency | Bandwidth | Reset | Blackhole | CutHandshake | ConnectionCap


@dataclass(frozen=True)
class _State:
    """The active toxics folded into what the copy loops read (replaced, never mutated)."""

    latency_ms: float = 0.0  # sum of active latencies
    jitter_ms: float = 0.0  # sum of active jitters
    bytes_per_s: float | None = None  # tightest bandwidth cap
    blackhole: bool = False
    cut: bool = False
    cap: ConnectionCap | None = None  # tightest connection cap
    resets: tuple[Reset, ...] = ()

    @property
    def delays(self) -> bool:
        return self.latency_ms > 0 or self.jitter_ms > 0

    @property
    def per_chunk(self) -> bool:
        return self.delays or self.bytes_per_s is not None or self.blackhole

    @classmethod
    def of(cls, toxics: dict[str, Toxic]) -> _State:
        lat = [t for t in toxics.values() if isinstance(t, Latency)]
        rates = [t.kib_per_s * 1024.0 for t in toxics.values() if isinstance(t, Bandwidth)]
        caps = [t for t in toxics.values() if isinstance(t, ConnectionCap)]
        return cls(
            latency_ms=sum(t.ms for t in lat),
            jitter_ms=sum(t.jitter_ms for t in lat),
            bytes_per_s=min(rates) if rates else None,
            blackhole=any(isinstance(t, Blackhole) for t in toxics.values()),
            cut=any(isinstance(t, CutHandshake) for t in toxics.values()),
            cap=min(caps, key=lambda c: c.max_connections) if caps else None,
            resets=tuple(t for t in toxics.values() if isinstance(t, Reset)),
        )


_CLEAN = _State()


def _rst(writer: asyncio.StreamWriter | None) -> None:
    """Abort with SO_LINGER 0, so the peer gets a TCP RST rather than a FIN."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


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
        self._listen = (listen_host, listen_port)
        self.rng = random.Random(seed)
        self._toxics: dict[str, Toxic] = {}
        self._state = _CLEAN
        self._changed = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._conns: set[_Conn] = set()
        self._admitted = 0
        self._total = 0
        self._port = 0

    # --- Lifecycle ----------------------------------------------------------------------

    async def start(self) -> int:
        """Start listening; returns the bound port."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._server = await asyncio.start_server(self._handle, *self._listen)
        self._port = int(self._server.sockets[0].getsockname()[1])
        return self._port

    async def stop(self) -> None:
        """Stop listening and close every connection (clients see their connection end)."""
        if self._server is not None:
            self._server.close()
        tasks = [c.task for c in self._conns if c.task is not None]
        for conn in list(self._conns):
            conn.close(reset=False)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    await self._server.wait_closed()

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
        self._state = _State.of(toxics) if toxics else _CLEAN
        if self._loop is None or self._loop.is_closed():
            return
        if threading.get_ident() == self._loop_thread:
            self._notify()
        else:
            self._loop.call_soon_threadsafe(self._notify)

    def _notify(self) -> None:
        """Wake everything waiting on a change of toxics or a freed slot."""
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    async def _wait_change(self, timeout: float | None) -> bool:
        """Sleep up to ``timeout`` s (None: no limit); True when woken by a change."""
        event = self._changed
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    # --- Connections --------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(self, reader, writer)
        self._conns.add(conn)
        self._total += 1
        try:
            await conn.run()
        except OSError:  # the client reset while held or refused
            conn.close(reset=True)
        except asyncio.CancelledError:
            pass  # by stop(); end quietly (3.11's start_server logs a cancelled handler)
        finally:
            conn.close(reset=False)
            self._conns.discard(conn)
            if conn.admitted:
                conn.admitted = False
                self._admitted -= 1
                self._notify()


class _Conn:
    """One client connection and its upstream."""

    def __init__(
        self, proxy: ChaosProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proxy = proxy
        self.reader = reader
        self.writer = writer
        self.up_writer: asyncio.StreamWriter | None = None
        self.task = asyncio.current_task()
        self.admitted = False
        self.responded = False  # the upstream's first bytes have arrived
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None
        self.early = b""  # bytes the client sent while held, forwarded once admitted

    async def run(self) -> None:
        proxy = self.proxy
        state = proxy._state
        reset_after: float | None = None
        for toxic in state.resets:
            if proxy.rng.random() < toxic.probability:
                if toxic.after_ms <= 0:
                    self.close(reset=True)
                    return
                reset_after = min(reset_after or toxic.after_ms, toxic.after_ms)
        if not await self._admit():
            return
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                up_reader, self.up_writer = await asyncio.open_connection(*proxy.upstream)
        except (OSError, TimeoutError):
            self.close(reset=True)  # the client sees an abrupt end, as with no server
            return
        if reset_after is not None:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(reset_after / 1000.0, self.close, True)
        flows = [
            _Flow(self, self.reader, self.up_writer, first=self.early),
            _Flow(self, up_reader, self.writer),
        ]
        tasks = [asyncio.create_task(f.run()) for f in flows]
        try:
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                await asyncio.wait(pending, timeout=HALF_CLOSE_GRACE_S)
        finally:
            for task in tasks:
                task.cancel()

    async def _admit(self) -> bool:
        """Take a slot under the connection cap; False when the connection was turned away."""
        proxy = self.proxy
        read: asyncio.Task[bytes] | None = None
        try:
            while True:
                cap = proxy._state.cap
                if cap is None or proxy._admitted < cap.max_connections:
                    proxy._admitted += 1
                    self.admitted = True
                    return True
                if cap.mode == "reset":
                    self.close(reset=True)
                    return False
                if cap.mode == "refuse":
                    await self._refuse()
                    return False
                # hold until a slot frees or the cap changes; a client that gives up
                # meanwhile is dropped rather than admitted later
                if read is None and len(self.early) < LINE_LIMIT_BYTES:
                    read = asyncio.create_task(self.reader.read(CHUNK_BYTES))
                change = asyncio.create_task(proxy._changed.wait())
                await asyncio.wait(
                    {change, *([read] if read else [])}, return_when=asyncio.FIRST_COMPLETED
                )
                change.cancel()
                if read is not None and read.done():
                    data, read = read.result(), None
                    if not data:
                        self.close(reset=False)
                        return False
                    self.early += data
        finally:
            if read is not None:
                read.cancel()  # unread bytes stay in the reader's buffer

    async def _refuse(self) -> None:
        """Answer 503; the request head is read first so closing does not send an RST."""
        with contextlib.suppress(
            TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError
        ):
            async with asyncio.timeout(REFUSE_READ_S):
                await self.reader.readuntil(b"\r\n\r\n")
        self.writer.write(REFUSE_RESPONSE)
        await self.writer.drain()
        self.close(reset=False)

    def close(self, reset: bool = False) -> None:
        """End both sides (idempotent); ``reset`` sends RSTs instead of FINs."""
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
        if reset:
            _rst(self.writer)
            _rst(self.up_writer)
        else:
            self.writer.close()
            if self.up_writer is not None:
                self.up_writer.transport.abort()


class _Flow:
    """One direction of a connection: read, apply toxics, write."""

    def __init__(
        self,
        conn: _Conn,
        src: asyncio.StreamReader,
        dst: asyncio.StreamWriter,
        first: bytes = b"",
    ) -> None:
        self.conn = conn
        self.first = first  # bytes read before the flow started (while held)
        self.proxy = conn.proxy
        self.src = src
        self.dst = dst
        self.downstream = dst is conn.writer  # upstream -> client
        self.line: collections.deque[tuple[float, bytes]] = collections.deque()
        self.line_bytes = 0
        self.line_task: asyncio.Task[None] | None = None
        self.last_due = 0.0  # loop time the last queued chunk is due
        self.next_free = 0.0  # loop time the bandwidth cap allows the next byte

    async def run(self) -> None:
        proxy, src, dst = self.proxy, self.src, self.dst
        try:
            while True:
                data, self.first = self.first or await src.read(CHUNK_BYTES), b""
                if not data:
                    break
                if self.downstream and not self.conn.responded:
                    self.conn.responded = True
                    if proxy._state.cut:
                        self.conn.close(reset=False)  # the response is never forwarded
                        return
                if not proxy._state.per_chunk and not self.line:
                    dst.write(data)  # the fast path: no toxic on this chunk
                    await dst.drain()
                    continue
                await self._slow(data)
            await self._eof()
        except OSError:  # a peer reset: pass the reset on
            self.conn.close(reset=True)
        finally:
            if self.line_task is not None:
                self.line_task.cancel()

    async def _eof(self) -> None:
        """The source ended: flush delayed data, then half-close the destination."""
        if self.line_task is not None:
            await self.line_task
        while self.downstream and self.proxy._state.blackhole and not self.conn.closed:
            await self.proxy._wait_change(None)  # a blackhole hides the upstream's close too
        if not self.conn.closed and self.dst.can_write_eof():
            self.dst.write_eof()

    async def _slow(self, data: bytes) -> None:
        state = self.proxy._state
        if not state.delays and not self.line:
            await self._deliver(data)
            return
        loop = asyncio.get_running_loop()
        delay = state.latency_ms + self.proxy.rng.uniform(-state.jitter_ms, state.jitter_ms)
        self.last_due = max(loop.time() + max(0.0, delay) / 1000.0, self.last_due)
        self.line.append((self.last_due, data))
        self.line_bytes += len(data)
        if self.line_task is None:
            self.line_task = asyncio.create_task(self._run_line())
        while self.line_bytes > LINE_LIMIT_BYTES and self.line_task is not None:
            await asyncio.sleep(SLICE_S)  # backpressure: stop reading while the line is full

    async def _run_line(self) -> None:
        """Deliver queued chunks at their due time (at once when latency is cleared)."""
        loop = asyncio.get_running_loop()
        try:
            while self.line:
                due, data = self.line[0]
                while self.proxy._state.delays and (left := due - loop.time()) > 0:
                    await self.proxy._wait_change(left)
                self.line.popleft()
                self.line_bytes -= len(data)
                await self._deliver(data)
        except OSError:
            self.conn.close(reset=True)
        finally:
            self.line.clear()
            self.line_bytes = 0
            self.line_task = None

    async def _deliver(self, data: bytes) -> None:
        """Write ``data``, discarding it under a blackhole and pacing it under a cap."""
        loop = asyncio.get_running_loop()
        pos = 0
        while pos < len(data):
            state = self.proxy._state
            if state.blackhole or self.conn.closed:
                return
            rate = state.bytes_per_s
            if rate is None:
                piece = data[pos:]
            else:
                piece = data[pos : pos + max(1, int(rate * SLICE_S))]
                due = max(loop.time(), self.next_free) + len(piece) / rate
                if (left := due - loop.time()) > 0 and await self.proxy._wait_change(left):
                    continue  # the toxics changed while waiting: look again
                self.next_free = due
            self.dst.write(piece)
            pos += len(piece)
            await self.dst.drain()


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
