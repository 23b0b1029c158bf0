"""Foreign protocols: a server that speaks something other than plain WebSocket messages.

A scenario that points a plain WebSocket client at a Socket.IO server still gets a 101 (the
Engine.IO WebSocket transport is a real WebSocket), so without a look at the messages its
sessions would count as accepted, and invalid tokens as accepted ones. The server gives
itself away at once: the first text message after the open is an Engine.IO OPEN packet,
``0`` followed by a JSON handshake with a ``sid`` (Engine.IO protocol v4 "packet types";
v3 the same). Pure: it looks at one message's bytes.
"""

from __future__ import annotations

from harness.protocol.engineio import CodecError, parse_open
from harness.protocol.frames import OP_TEXT

#: The name recorded for an Engine.IO (Socket.IO) server.
ENGINE_IO = "engine.io"


def foreign_protocol(opcode: int, data: bytes) -> str | None:
    """The protocol a server's first message shows (:data:`ENGINE_IO`), None for plain data:
    an Engine.IO OPEN packet is ``0`` and a handshake :func:`~harness.protocol.engineio.parse_open`
    reads (a ``sid`` and the ping times)."""
    if opcode != OP_TEXT or not data.startswith(b"0{"):
        return None
    try:
        parse_open(data[1:].decode("utf-8"))
    except (CodecError, UnicodeDecodeError):
        return None
    return ENGINE_IO
