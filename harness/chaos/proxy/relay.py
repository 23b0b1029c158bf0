"""The chaos proxy's fast path: a connection with no toxic, relayed by reader callbacks.

No transport, stream or task: the client and upstream sockets are non-blocking and
the event loop calls :meth:`_Pipe.on_readable` when one has bytes. It receives a chunk
and sends it straight on with ``send``. Only when the destination's kernel buffer is
full does it keep the rest, stop reading the source and wait for the destination to
become writable (backpressure). The upstream connect is a non-blocking ``connect`` that
on loopback has completed by the time it returns, so it usually costs no extra loop
iteration.

Before each read the pipe looks at the proxy's active toxics: one identity test when
there are none. When a per-chunk toxic is active, the connection is handed over to the
toxic path (:class:`harness.chaos.proxy.streams.StreamConn`) with its sockets, the
bytes let through but not yet sent, and which directions are over.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import socket

from harness.chaos.proxy.core import ProxyCore
from harness.chaos.proxy.streams import (
    CHUNK_BYTES,
    CONNECT_TIMEOUT_S,
    HALF_CLOSE_GRACE_S,
    StreamConn,
    rst_socket,
)
from harness.chaos.proxy.toxics import CLEAN


class Relay:
    """One admitted client connection on the fast path, and its upstream.

    Args:
        proxy: the proxy that accepted it; it holds one of its slots (``admitted``).
        loop: the proxy's event loop (the running one).
        client: the accepted client socket, non-blocking.
        reset_after_ms: a ``Reset(after_ms)`` drawn for it: ms from the upstream connect
            to the RST, or None.
    """

    __slots__ = (
        "admitted",
        "client",
        "closed",
        "down",
        "grace",
        "loop",
        "proxy",
        "reset_after_ms",
        "reset_at",
        "responded",
        "task",
        "timer",
        "up",
        "upstream",
    )

    def __init__(
        self,
        proxy: ProxyCore,
        loop: asyncio.AbstractEventLoop,
        client: socket.socket,
        reset_after_ms: float | None,
    ) -> None:
        self.proxy = proxy
        self.loop = loop
        self.client = client
        self.reset_after_ms = reset_after_ms
        self.upstream: socket.socket | None = None
        self.up: _Pipe | None = None  # client -> upstream
        self.down: _Pipe | None = None  # upstream -> client
        self.task: asyncio.Task[None] | None = None  # none: the loop's callbacks drive it
        self.admitted = True
        self.responded = False  # the upstream's first bytes have been forwarded
        self.closed = False
        self.timer: asyncio.TimerHandle | None = None  # the connect timeout, then the Reset
        self.reset_at: float | None = None  # loop time of the Reset(after_ms)
        self.grace: asyncio.TimerHandle | None = None  # the half-close grace

    def connect(self, family: int, address: tuple[str, int]) -> None:
        """Connect upstream (``family``, ``address``: a numeric address) and start relaying."""
        try:
            self.upstream = up = socket.socket(family, socket.SOCK_STREAM)
            up.setblocking(False)
            up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = up.connect_ex(address)
            if err == errno.EINPROGRESS:
                if not _connected(up):  # still connecting, or refused: SO_ERROR will tell
                    self.loop.add_writer(up.fileno(), self._on_connect)
                    self.timer = self.loop.call_later(CONNECT_TIMEOUT_S, self.close, True)
                    return
                err = 0
        except OSError:  # out of descriptors, or the client is gone already
            err = -1
        if err:
            self.close(reset=True)  # the client sees an abrupt end, as with no server
        else:
            self._start()

    def _on_connect(self) -> None:
        assert self.upstream is not None and self.timer is not None
        self.loop.remove_writer(self.upstream.fileno())
        self.timer.cancel()
        self.timer = None
        if self.upstream.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            self.close(reset=True)
        else:
            self._start()

    def _start(self) -> None:
        assert self.upstream is not None
        loop = self.loop
        if self.reset_after_ms is not None:
            self.reset_at = loop.time() + self.reset_after_ms / 1000.0
            self.timer = loop.call_at(self.reset_at, self.close, True)
        self.up = up = _Pipe(self, self.client, self.upstream, downstream=False)
        self.down = down = _Pipe(self, self.upstream, self.client, downstream=True)
        loop.add_reader(up.src_fd, up.on_readable)
        loop.add_reader(down.src_fd, down.on_readable)

    def _unregister(self) -> None:
        """Drop every callback and timer; the sockets stay open."""
        loop = self.loop
        for sock in (self.client, self.upstream):
            if sock is not None:
                fd = sock.fileno()
                loop.remove_reader(fd)
                loop.remove_writer(fd)
        for timer in (self.timer, self.grace):
            if timer is not None:
                timer.cancel()

    def hand_over(self) -> None:
        """A per-chunk toxic is active: move this connection to the toxic path."""
        up, down, upstream = self.up, self.down, self.upstream
        assert up is not None and down is not None and upstream is not None
        self._unregister()
        self.closed = True
        conn = StreamConn(
            self.proxy,
            [self.client, upstream],
            admitted=self.admitted,
            responded=self.responded,
        )
        self.admitted = False
        self.proxy.hand_over(self, conn)
        resume = functools.partial(
            conn.resume,
            self.client,
            upstream,
            to_up=(up.pending, up.ended),
            to_client=(down.pending, down.ended),
            reset_at=self.reset_at,
            grace_at=self.grace.when() if self.grace is not None else None,
        )
        conn.start(resume)

    def close(self, reset: bool = False) -> None:
        """End both sides (idempotent); ``reset`` sends RSTs instead of FINs."""
        if self.closed:
            return
        self.closed = True
        self._unregister()
        for sock in (self.client, self.upstream):
            if sock is None:
                continue
            if reset:
                rst_socket(sock)
                continue
            if sock is self.client and self.down is not None and self.down.pending:
                with contextlib.suppress(OSError):  # what fits goes out, as a close would
                    sock.send(self.down.pending)
            sock.close()
        self.proxy.release(self)


def _connected(sock: socket.socket) -> bool:
    """True when a non-blocking connect has completed (successfully)."""
    try:
        sock.getpeername()
    except OSError:  # ENOTCONN: in progress, or failed (SO_ERROR says which)
        return False
    return True


class _Pipe:
    """One direction of a relayed connection: receive a chunk, send it on."""

    __slots__ = (
        "downstream",
        "dst",
        "dst_fd",
        "ended",
        "loop",
        "pending",
        "relay",
        "src",
        "src_fd",
    )

    def __init__(
        self, relay: Relay, src: socket.socket, dst: socket.socket, *, downstream: bool
    ) -> None:
        self.relay = relay
        self.loop = relay.loop
        self.src = src
        self.dst = dst
        self.src_fd = src.fileno()
        self.dst_fd = dst.fileno()
        self.downstream = downstream  # upstream -> client
        self.pending = b""  # received and let through, not yet accepted by dst
        self.ended = False  # the source sent EOF and dst was shut for writing

    def on_readable(self) -> None:
        relay = self.relay
        state = relay.proxy.state
        if state is not CLEAN and state.touches(relay.responded):
            relay.hand_over()
            return
        try:
            data = self.src.recv(CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # a peer reset: pass the reset on
            relay.close(reset=True)
            return
        if not data:
            self._end()
            return
        if self.downstream:
            relay.responded = True
        try:
            sent = self.dst.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            relay.close(reset=True)
            return
        if sent < len(data):  # dst is full: keep the rest, stop reading until it drains
            self.pending = data[sent:]
            self.loop.remove_reader(self.src_fd)
            self.loop.add_writer(self.dst_fd, self.on_writable)

    def on_writable(self) -> None:
        try:
            sent = self.dst.send(self.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.relay.close(reset=True)
            return
        self.pending = self.pending[sent:]
        if not self.pending:
            self.loop.remove_writer(self.dst_fd)
            self.loop.add_reader(self.src_fd, self.on_readable)

    def _end(self) -> None:
        """The source sent EOF: pass it on (nothing is pending here).

        When the other direction is over too, closing both sockets sends the FIN;
        otherwise the destination is shut for writing and the other direction gets
        HALF_CLOSE_GRACE_S s, as on the toxic path.
        """
        self.ended = True
        relay = self.relay
        other = relay.down if self is relay.up else relay.up
        if other is not None and other.ended:
            relay.close()
            return
        self.loop.remove_reader(self.src_fd)
        with contextlib.suppress(OSError):
            self.dst.shutdown(socket.SHUT_WR)
        if relay.grace is None:
            relay.grace = self.loop.call_later(HALF_CLOSE_GRACE_S, relay.close)
