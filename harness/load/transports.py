"""Engine.IO v4 transports: a WebSocket, or HTTP long-polling, carrying text packets.

A Socket.IO session (:mod:`harness.load.socketio`) sends and receives Engine.IO packets
without caring which transport carries them; the two differ only here:

- :class:`WebSocketTransport`: one packet per text frame on a
  :class:`harness.load.connection.Connection` (our RFC 6455 reader, its limits and
  deadlines); a close frame from the server raises :class:`ServerClosed`.
- :class:`PollingTransport`: one GET kept outstanding to receive (the server holds it until
  it has packets), POSTs on a second connection to send, each body packets joined by the
  record separator (:mod:`harness.protocol.engineio`). A status other than 200 once the
  session is open raises :class:`PollRefused` (python-engineio answers 400 for a session it
  dropped).

Both raise what the attempt turns into an observation: :class:`harness.load.connection.GaveUp`
(``send``), :class:`harness.load.connection.PeerClosed` (the connection ended),
:class:`harness.protocol.frames.FrameViolation`, :class:`harness.protocol.engineio.CodecError`,
:class:`harness.load.http11.BodyTooLarge`, ``OSError``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol

from harness.load.connection import Connection, GaveUp, PeerClosed
from harness.load.http11 import Channel, HttpClosed
from harness.protocol.engineio import (
    EioPacket,
    EioType,
    decode_eio,
    decode_payload,
    encode_eio,
    encode_payload,
)
from harness.protocol.frames import OP_PONG, OP_TEXT, CloseFrame, Message, Ping
from harness.protocol.outcomes import Deadline

POLLING = "polling"
WEBSOCKET = "websocket"
#: The answer to the server's Engine.IO ping.
PONG = EioPacket(EioType.PONG)


class ServerClosed(Exception):
    """The server sent a WebSocket close frame."""

    def __init__(self, frame: CloseFrame) -> None:
        super().__init__(frame.code)
        self.frame = frame


class PollRefused(Exception):
    """A polling request of an open session was answered with a status other than 200."""

    def __init__(self, status: int, method: str) -> None:
        super().__init__(status, method)
        self.status = status
        self.method = method

    def __str__(self) -> str:
        return f"polling {self.method} answered HTTP {self.status} (the session is gone)"


class Transport(Protocol):
    """What a Socket.IO session needs of a transport."""

    name: str

    def send(self, packets: Sequence[EioPacket]) -> None:
        """Send packets, each within the send deadline."""

    def receive(self, until: float) -> list[EioPacket]:
        """The packets that came by ``until`` (``time.monotonic()``); [] when none did."""


class WebSocketTransport:
    """Engine.IO over an open WebSocket; WebSocket pings are answered (``pings`` counts them)."""

    name = WEBSOCKET

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.pings = 0

    def send(self, packets: Sequence[EioPacket]) -> None:
        for packet in packets:
            data = encode_eio(packet)
            if isinstance(data, bytes):
                raise ValueError("binary Engine.IO messages are not sent by this client")
            self.conn.send(OP_TEXT, data.encode())

    def receive(self, until: float) -> list[EioPacket]:
        event = self.conn.receive(until)
        if event is None:
            return []
        if isinstance(event, CloseFrame):
            raise ServerClosed(event)
        if isinstance(event, Ping):
            self.pings += 1
            self.conn.send(OP_PONG, event.data)
            return []
        assert isinstance(event, Message)
        if event.opcode == OP_TEXT:
            return [decode_eio(event.data.decode("utf-8"))]  # valid UTF-8: the parser checked
        return [decode_eio(bytes(event.data))]


class PollingTransport:
    """Engine.IO over HTTP long-polling, on two keep-alive connections (receive, send).

    Args:
        receiving: the connection that holds the outstanding GET.
        sending: the connection for POSTs.
        target: the request target without ``sid`` (path and query, token included).
        headers: the request headers (token header or cookie, the session's cookies).
        send_timeout: seconds for each POST, its response included.
    """

    name = POLLING

    def __init__(
        self,
        receiving: Channel,
        sending: Channel,
        target: str,
        headers: Sequence[tuple[str, str]],
        send_timeout: float,
    ) -> None:
        self.receiving = receiving
        self.sending = sending
        self.target = target
        self.headers = list(headers)
        self.send_timeout = send_timeout

    def with_sid(self, sid: str) -> None:
        """Address the session ``sid`` from now on (after the OPEN packet)."""
        self.target += f"&sid={sid}"

    def send(self, packets: Sequence[EioPacket]) -> None:
        body = encode_payload(packets).encode()
        headers = [*self.headers, ("Content-Type", "text/plain;charset=UTF-8")]
        try:
            got = self.sending.exchange(
                "POST", self.target, headers, body, time.monotonic() + self.send_timeout
            )
        except HttpClosed:
            raise PeerClosed from None
        except TimeoutError:
            raise GaveUp(Deadline.SEND, self.send_timeout) from None
        if got is None:
            raise GaveUp(Deadline.SEND, self.send_timeout)
        if got.status != 200:
            raise PollRefused(got.status, "POST")

    def receive(self, until: float) -> list[EioPacket]:
        try:
            if not self.receiving.owed:
                deadline = time.monotonic() + self.send_timeout
                try:
                    self.receiving.send_request("GET", self.target, self.headers, b"", deadline)
                except TimeoutError:
                    raise GaveUp(Deadline.SEND, self.send_timeout) from None
            got = self.receiving.read_response(until)
        except HttpClosed:
            raise PeerClosed from None
        if got is None:
            return []
        if got.status != 200:
            raise PollRefused(got.status, "GET")
        if not got.body:  # a poll answered with nothing (no packet is not a broken one)
            return []
        return decode_payload(got.body.decode("utf-8", "replace"))

    @property
    def waiting(self) -> bool:
        """A GET is outstanding (the server holds it until it has packets)."""
        return self.receiving.owed

    def close(self) -> None:
        self.receiving.close()
        self.sending.close()
