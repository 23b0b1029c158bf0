"""An established WebSocket, read and written frame by frame: every wait has a deadline.

The opening handshake is :mod:`harness.load.dial`'s; after the 101 the socket is handed to a
:class:`Connection`, which enforces our limits before it reads a payload (a frame that
declares 10 MB is refused, not read into memory) and bounds a fragmented message in time,
as a general-purpose client does not. The rules themselves are pure
(:mod:`harness.protocol.frames`); this module only moves bytes, each move bounded:

- a send has ``send_timeout`` seconds for the whole frame, however the kernel splits it;
- a read waits for the caller's next event (``until``), and once the first byte of a frame
  has arrived, the frame, and a fragmented message to its last frame, has
  ``message_timeout`` seconds.

Each expiry raises :class:`GaveUp` naming the deadline; a broken rule raises
:class:`harness.protocol.frames.FrameViolation`; EOF raises :class:`PeerClosed`; socket
errors are left as they are (``OSError`` with its errno). It works in threads and under
gevent (only ``settimeout``/``recv``/``send`` on the socket).
"""

from __future__ import annotations

import os
import socket
import time

from harness.protocol.frames import (
    OP_CLOSE,
    Event,
    FrameParser,
    Limits,
    close_payload,
    encode_frame,
)
from harness.protocol.outcomes import Deadline

RECV_BYTES = 65536  # bytes asked of the socket per read
SEND_BYTES = 262144  # bytes handed to the socket per write (so a deadline is checked between)

#: The error text of each expired deadline (``{s}``: its length in seconds).
DEADLINE_TEXT: dict[Deadline, str] = {
    Deadline.CONNECT: "TCP connect not done within {s} s",
    Deadline.HANDSHAKE: "TLS and upgrade response not done within {s} s",
    Deadline.SEND: "frame not sent within {s} s (the server is not reading it)",
    Deadline.REPLY: "no echo of our message within {s} s",
    Deadline.MESSAGE: "frame or message not complete within {s} s of its first byte",
    Deadline.CLOSE: "no answer to our close frame within {s} s",
    Deadline.AUTH: "no auth ack to our first message within {s} s",
    Deadline.PONG: "no pong to our ping within {s} s (dead connection detected)",
    Deadline.HEARTBEAT: "no Engine.IO ping within {s} s (pingInterval + pingTimeout: dead)",
}


class GaveUp(Exception):
    """The client's ``deadline`` of ``seconds`` expired: it gave up waiting."""

    def __init__(self, deadline: Deadline, seconds: float) -> None:
        super().__init__(deadline, seconds)
        self.deadline = deadline
        self.seconds = seconds

    def __str__(self) -> str:
        return "gave up: " + DEADLINE_TEXT[self.deadline].format(s=f"{self.seconds:g}")


class PeerClosed(Exception):
    """The server ended the TCP connection (EOF) without a close frame."""

    def __str__(self) -> str:
        return "connection ended without a close frame"


class Connection:
    """One open WebSocket on ``sock`` (plain or TLS), as the client side of RFC 6455.

    Args:
        sock: the socket the 101 came on, positioned at the first frame byte.
        limits: what the client accepts from the server.
        send_timeout: seconds for each frame we send.
        message_timeout: seconds for a frame, or a fragmented message, from its first byte.
        received: bytes already read past the 101 (the handshake reads ahead).
    """

    def __init__(
        self,
        sock: socket.socket,
        limits: Limits,
        *,
        send_timeout: float,
        message_timeout: float,
        received: bytes = b"",
    ) -> None:
        self.sock = sock
        self.parser = FrameParser(limits)
        self.send_timeout = send_timeout
        self.message_timeout = message_timeout
        #: the time (``time.monotonic()``) by which the frame or message begun must end
        self.message_deadline: float | None = None
        #: a send was cut mid-frame: nothing more may be written (not even a close frame)
        self.output_broken = False
        self.close_sent = False
        if received:  # the first frame's first bytes came with the 101: its deadline runs
            self.message_deadline = time.monotonic() + message_timeout
            self.parser.feed(received)

    @property
    def busy(self) -> bool:
        """True while a frame or a fragmented message from the server is under way."""
        return self.parser.busy

    # --- Writing ---------------------------------------------------------------------

    def send(self, opcode: int, payload: bytes, timeout: float | None = None) -> None:
        """Send one masked frame within ``timeout`` s (default ``send_timeout``).

        Raises:
            GaveUp: ``send``: the frame was not written in time (the peer is not reading
                fast enough); after a partial write the output is broken for good.
            OSError: the socket failed (reset, broken pipe).
        """
        seconds = self.send_timeout if timeout is None else timeout
        data = memoryview(encode_frame(opcode, payload, os.urandom(4)))
        deadline = time.monotonic() + seconds
        done = 0
        while done < len(data):
            left = deadline - time.monotonic()
            if left <= 0:
                self.output_broken = done > 0
                raise GaveUp(Deadline.SEND, seconds)
            self.sock.settimeout(left)
            try:
                done += self.sock.send(data[done : done + SEND_BYTES])
            except TimeoutError:
                self.output_broken = done > 0
                raise GaveUp(Deadline.SEND, seconds) from None
        if opcode == OP_CLOSE:
            self.close_sent = True

    def send_close(self, code: int | None, timeout: float) -> bool:
        """Best effort: send a close frame with ``code`` (None: no code) within ``timeout`` s.

        Returns:
            True when the frame was written; False when it could not be (output broken,
            a close already sent, a timeout, a socket error): the caller shuts the socket.
        """
        if self.output_broken or self.close_sent:
            return False
        try:
            self.send(OP_CLOSE, close_payload(code), timeout)
        except (GaveUp, OSError):
            return False
        return True

    # --- Reading ---------------------------------------------------------------------

    def receive(self, until: float) -> Event | None:
        """The next event from the server, or None once ``until`` (``time.monotonic()``) passes.

        A frame or message already begun has its own deadline, ``message_timeout`` from
        its first byte: when ``until`` comes first, None is returned and the next call
        goes on with it; when its deadline comes first, :class:`GaveUp` is raised.

        Raises:
            GaveUp: ``message``: a frame or message begun was not finished in time.
            FrameViolation: the server broke a rule or a limit.
            PeerClosed: EOF without a close frame.
            OSError: the socket failed.
        """
        while True:
            event = self.parser.next_event()
            if event is not None:
                if not self.parser.busy:
                    self.message_deadline = None
                elif not self.parser.in_message:  # the next frame's first bytes came along
                    self.message_deadline = time.monotonic() + self.message_timeout
                return event
            now = time.monotonic()
            if self.message_deadline is not None and now >= self.message_deadline:
                raise GaveUp(Deadline.MESSAGE, self.message_timeout)
            wait_until = until
            if self.message_deadline is not None:
                wait_until = min(wait_until, self.message_deadline)
            if now >= wait_until:
                return None
            self.sock.settimeout(max(0.001, wait_until - now))
            try:
                data = self.sock.recv(RECV_BYTES)
            except TimeoutError:
                continue
            if not data:
                raise PeerClosed
            if not self.parser.busy:  # the first byte of a frame: its deadline starts
                self.message_deadline = time.monotonic() + self.message_timeout
            self.parser.feed(data)
