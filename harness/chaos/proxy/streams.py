"""The chaos proxy's toxic path: one connection on asyncio streams, one task per direction.

A connection lands here when a toxic needs it: when it is held or refused under a
connection cap, when a per-chunk toxic (latency, bandwidth, blackhole, cut-handshake)
is active as it arrives, or when such a toxic appears while it runs on the fast path
(:mod:`harness.chaos.proxy.relay` hands its sockets over). It stays here until it ends.
Clearing a toxic takes effect at once: delayed data is released, paced data goes out
unpaced, and held connections *proceed* (admitted and forwarded in arrival order).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

from harness.chaos.proxy.core import ProxyCore

# --- Tunables -------------------------------------------------------------------------

CHUNK_BYTES = 65536  # largest read per chunk
CONNECT_TIMEOUT_S = 5.0  # seconds to connect upstream before resetting the client
HALF_CLOSE_GRACE_S = 10.0  # seconds one direction may stay open after the other ended
LINE_LIMIT_BYTES = 4 * 1024 * 1024  # delayed bytes queued per direction before reads pause
SLICE_S = 0.05  # seconds of traffic per paced write under a bandwidth cap
REFUSE_READ_S = 1.0  # seconds to read the request head before answering 503
_BODY = b"chaos proxy: connection cap reached, retry later\n"
REFUSE_RESPONSE = (  # HTTP/1.1 (RFC 9110 section 15.6.4, 10.2.3)
    b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)
)
_LINGER_0 = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends an RST


def rst_socket(sock: socket.socket) -> None:
    """Close ``sock`` with SO_LINGER 0, so the peer gets a TCP RST rather than a FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
    sock.close()


def _rst(writer: asyncio.StreamWriter | None) -> None:
    """Abort with SO_LINGER 0, so the peer gets a TCP RST rather than a FIN."""
    if writer is None:
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_0)
    writer.transport.abort()


class StreamConn:
    """One client connection and its upstream, on streams.

    Args:
        proxy: the proxy it belongs to (and is counted by).
        socks: its sockets (client, then upstream if connected); it owns them from here
            on, and closes them if it is closed before its task puts them under streams.
        admitted: it already holds a slot under the connection cap.
        responded: the upstream's first bytes have already been forwarded.
    """

    def __init__(
        self,
        proxy: ProxyCore,
        socks: list[socket.socket],
        *,
        admitted: bool = False,
        responded: bool = False,
    ) -> None:
        self.proxy = proxy
        self.raw = socks  # sockets not yet under a transport
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.up_writer: asyncio.StreamWriter | None = None
        self.task: asyncio.Task[None] | None = None
        self.admitted = admitted
        self.responded = responded
        self.closed = False
        self.reset = False  # how it was closed
        self.timer: asyncio.TimerHandle | None = None
        self.early = b""  # bytes the client sent while held, forwarded once admitted

    # --- Entry points -------------------------------------------------------------------

    def start(self, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``body`` (``self.serve`` or ``self.resume`` with arguments) in a task."""
        self.task = asyncio.get_running_loop().create_task(self._run(body))

    async def _run(self, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        try:
            await body()
        except OSError:  # the client reset while held or refused
            self.close(reset=True)
        except asyncio.CancelledError:
            pass  # by stop(); end quietly
        finally:
            self.close(reset=False)

    async def serve(self, client: socket.socket, reset_after_ms: float | None) -> None:
        """A new client: take a slot under the cap, connect upstream, forward."""
        if self.closed:
            return
        self.reader, self.writer = await self._take(client)
        if self.closed or not await self._admit():
            return
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                up_reader, self.up_writer = await asyncio.open_connection(*self.proxy.upstream)
        except (OSError, TimeoutError):
            self.close(reset=True)  # the client sees an abrupt end, as with no server
            return
        if self.closed:
            self._shut()
            return
        loop = asyncio.get_running_loop()
        if reset_after_ms is not None:
            self.timer = loop.call_later(reset_after_ms / 1000.0, self.close, True)
        flows = [
            _Flow(self, self.reader, self.up_writer, first=self.early),
            _Flow(self, up_reader, self.writer),
        ]
        await _forward(flows, loop.time() + HALF_CLOSE_GRACE_S)

    async def resume(
        self,
        client: socket.socket,
        upstream: socket.socket,
        *,
        to_up: tuple[bytes, bool],
        to_client: tuple[bytes, bool],
        reset_at: float | None,
        grace_at: float | None,
    ) -> None:
        """Take over a connection from the fast path.

        Args:
            client: its client socket.
            upstream: its upstream socket.
            to_up: bytes already let through but not yet sent upstream, and whether that
                direction is over (the client sent EOF, the upstream was shut for writing).
            to_client: the same for the other direction.
            reset_at: loop time of a pending Reset(after_ms), if any.
            grace_at: loop time the half-close grace ends, when one side has ended.
        """
        if self.closed:
            return
        self.reader, self.writer = await self._take(client)
        if self.closed:
            return
        up_reader, self.up_writer = await self._take(upstream)
        if self.closed:
            return
        loop = asyncio.get_running_loop()
        if reset_at is not None:
            self.timer = loop.call_at(reset_at, self.close, True)
        flows = []
        for (pending, ended), src, dst in (
            (to_up, self.reader, self.up_writer),
            (to_client, up_reader, self.writer),
        ):
            dst.write(pending)  # already past the toxics: out first, as is
            if not ended:
                flows.append(_Flow(self, src, dst))
        if grace_at is None:
            grace_at = loop.time() + HALF_CLOSE_GRACE_S
        await _forward(flows, grace_at)

    async def _take(self, sock: socket.socket) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Put ``sock`` under a transport, which owns it from here on."""
        self.raw.remove(sock)
        reader, writer = await asyncio.open_connection(sock=sock)
        if self.closed:  # closed meanwhile: close the new transport as well
            (_rst if self.reset else _close)(writer)
        return reader, writer

    # --- Admission ----------------------------------------------------------------------

    async def _admit(self) -> bool:
        """Take a slot under the connection cap; False when the connection was turned away."""
        assert self.reader is not None
        proxy = self.proxy
        read: asyncio.Task[bytes] | None = None
        try:
            while True:
                cap = proxy.state.cap
                if cap is None or proxy.admitted < cap.max_connections:
                    proxy.admitted += 1
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
                change = asyncio.create_task(proxy.changed.wait())
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
        assert self.reader is not None and self.writer is not None
        with contextlib.suppress(
            TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError
        ):
            async with asyncio.timeout(REFUSE_READ_S):
                await self.reader.readuntil(b"\r\n\r\n")
        self.writer.write(REFUSE_RESPONSE)
        await self.writer.drain()
        self.close(reset=False)

    # --- Closing ------------------------------------------------------------------------

    def close(self, reset: bool = False) -> None:
        """End both sides (idempotent); ``reset`` sends RSTs instead of FINs."""
        if self.closed:
            return
        self.closed = True
        self.reset = reset
        if self.timer is not None:
            self.timer.cancel()
        self._shut()
        self.proxy.release(self)

    def _shut(self) -> None:
        """Close what the connection holds now, per :attr:`reset`."""
        for sock in self.raw:
            if self.reset:
                rst_socket(sock)
            else:
                sock.close()
        self.raw.clear()
        if self.reset:
            _rst(self.writer)
            _rst(self.up_writer)
        else:
            _close(self.writer)
            if self.up_writer is not None:
                self.up_writer.transport.abort()


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.close()


async def _forward(flows: list[_Flow], grace_at: float) -> None:
    """Run the flows; once one has ended, the other gets until ``grace_at`` (loop time)."""
    loop = asyncio.get_running_loop()
    tasks = [asyncio.create_task(f.run()) for f in flows]
    try:
        if len(tasks) > 1:
            _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if pending:
                await asyncio.wait(pending, timeout=HALF_CLOSE_GRACE_S)
        elif tasks:
            await asyncio.wait(tasks, timeout=max(0.0, grace_at - loop.time()))
    finally:
        for task in tasks:
            task.cancel()


class _Flow:
    """One direction of a connection: read, apply toxics, write."""

    def __init__(
        self,
        conn: StreamConn,
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
                    if proxy.state.cut:
                        self.conn.close(reset=False)  # the response is never forwarded
                        return
                if not proxy.state.per_chunk and not self.line:
                    dst.write(data)  # no toxic on this chunk
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
        while self.downstream and self.proxy.state.blackhole and not self.conn.closed:
            await self.proxy.wait_change(None)  # a blackhole hides the upstream's close too
        if not self.conn.closed and self.dst.can_write_eof():
            self.dst.write_eof()

    async def _slow(self, data: bytes) -> None:
        state = self.proxy.state
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
                while self.proxy.state.delays and (left := due - loop.time()) > 0:
                    await self.proxy.wait_change(left)
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
            state = self.proxy.state
            if state.blackhole or self.conn.closed:
                return
            rate = state.bytes_per_s
            if rate is None:
                piece = data[pos:]
            else:
                piece = data[pos : pos + max(1, int(rate * SLICE_S))]
                due = max(loop.time(), self.next_free) + len(piece) / rate
                if (left := due - loop.time()) > 0 and await self.proxy.wait_change(left):
                    continue  # the toxics changed while waiting: look again
                self.next_free = due
            self.dst.write(piece)
            pos += len(piece)
            await self.dst.drain()
