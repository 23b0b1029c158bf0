"""WebSocket framing as RFC 6455 has it (pure): the server's bytes in, messages or a violation out.

Nothing here touches a socket (Sans-I/O, as in ``websockets``' ``frames.py``): the load edge
(:mod:`harness.load.connection`) reads bytes, feeds them to a :class:`FrameParser` and
asks it for the next event. The parser checks each frame header the moment it is complete,
so a frame that declares 10 GB is refused before a byte of its payload is read.

What the client enforces, in the order :meth:`FrameParser.next_event` checks it:

1. Reserved bits without a negotiated extension (section 5.2), reserved opcodes
   (5.2), a masked frame from the server (5.1): ``1002``.
2. A control frame fragmented or over 125 bytes (5.5), a continuation without a
   message to continue, or a new message inside one (5.4): ``1002``.
3. Our limits: a frame over :attr:`Limits.max_frame_bytes`, a message over
   :attr:`Limits.max_message_bytes`, more than :attr:`Limits.max_fragments` frames
   in one message: ``1009`` (message too big, section 7.4.1).
4. Payloads: text that is not UTF-8 (8.1): ``1007``; a close payload of one byte
   (5.5.1), a close code that must not be on the wire (7.4.1, 7.4.2): ``1002``; a close
   reason that is not UTF-8 (5.5.1): ``1007``.

The close code a client sends when it fails the connection for each rule is the table
:data:`VIOLATION_CLOSE_CODES`; how an attempt that broke one is classified is in
:mod:`harness.protocol.outcomes`.
"""

from __future__ import annotations

import codecs
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

# --- Opcodes (RFC 6455 section 5.2) ---------------------------------------------------

OP_CONTINUATION = 0x0
OP_TEXT = 0x1
OP_BINARY = 0x2
OP_CLOSE = 0x8
OP_PING = 0x9
OP_PONG = 0xA

DATA_OPCODES: frozenset[int] = frozenset({OP_CONTINUATION, OP_TEXT, OP_BINARY})
CONTROL_OPCODES: frozenset[int] = frozenset({OP_CLOSE, OP_PING, OP_PONG})

MAX_CONTROL_PAYLOAD = 125  # bytes (section 5.5); so a close reason has at most 123

# --- Limits -----------------------------------------------------------------------------

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """What the client accepts from the server before it fails the connection with 1009.

    Attributes:
        max_frame_bytes: payload bytes of one frame.
        max_message_bytes: payload bytes of one message, all its fragments together.
        max_fragments: frames of one message (the first one included).
    """

    max_frame_bytes: int = 1 * MIB
    max_message_bytes: int = 4 * MIB
    max_fragments: int = 256


# --- Violations ---------------------------------------------------------------------------


class Violation(StrEnum):
    """A rule of RFC 6455 the server broke, or a limit of ours it exceeded (closed set)."""

    RESERVED_BITS = "reserved_bits"  # RSV1-3 set, no extension negotiated (5.2)
    RESERVED_OPCODE = "reserved_opcode"  # opcodes 0x3-0x7, 0xB-0xF (5.2)
    MASKED_FRAME = "masked_frame"  # a server must not mask (5.1)
    CONTROL_FRAME = "control_frame"  # a control frame fragmented or over 125 bytes (5.5)
    CONTINUATION = "continuation"  # continuation with no message, new message inside one (5.4)
    FRAME_SIZE = "frame_size"  # a frame over Limits.max_frame_bytes
    MESSAGE_SIZE = "message_size"  # a message over Limits.max_message_bytes
    FRAGMENTS = "fragments"  # a message of more than Limits.max_fragments frames
    TEXT_UTF8 = "text_utf8"  # a text message that is not UTF-8 (8.1)
    CLOSE_PAYLOAD = "close_payload"  # a close payload of one byte (5.5.1)
    CLOSE_CODE = "close_code"  # a close code that must not be sent (7.4.1, 7.4.2)
    CLOSE_REASON_UTF8 = "close_reason_utf8"  # a close reason that is not UTF-8 (5.5.1)
    UPGRADE_SIZE = "upgrade_size"  # the HTTP upgrade response over our limit (no WebSocket yet)


#: Violations that are our limits (the server may be right; we refuse the size).
LIMIT_VIOLATIONS: frozenset[Violation] = frozenset(
    {Violation.FRAME_SIZE, Violation.MESSAGE_SIZE, Violation.FRAGMENTS, Violation.UPGRADE_SIZE}
)

#: The close code the client sends when it fails the connection (RFC 6455 section 7.4.1):
#: 1002 protocol error, 1007 invalid payload data, 1009 message too big. Absent: the
#: violation happens before there is a WebSocket to send a close frame on.
VIOLATION_CLOSE_CODES: Mapping[Violation, int] = {
    Violation.RESERVED_BITS: 1002,
    Violation.RESERVED_OPCODE: 1002,
    Violation.MASKED_FRAME: 1002,
    Violation.CONTROL_FRAME: 1002,
    Violation.CONTINUATION: 1002,
    Violation.FRAME_SIZE: 1009,
    Violation.MESSAGE_SIZE: 1009,
    Violation.FRAGMENTS: 1009,
    Violation.TEXT_UTF8: 1007,
    Violation.CLOSE_PAYLOAD: 1002,
    Violation.CLOSE_CODE: 1002,
    Violation.CLOSE_REASON_UTF8: 1007,
}

assert set(VIOLATION_CLOSE_CODES) == set(Violation) - {Violation.UPGRADE_SIZE}

#: Close codes a peer may put on the wire below 3000 (RFC 6455 section 7.4.1 and the IANA
#: registry). 1004 (reserved), 1005 and 1006 (never sent), 1015 (TLS, never sent) and
#: 1016-2999 (reserved) are protocol errors, like anything below 1000 or above 4999;
#: 3000-4999 (registered and private) are allowed.
WIRE_CLOSE_CODES: frozenset[int] = frozenset(
    {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014}
)


def close_code_allowed(code: int) -> bool:
    """True when ``code`` may appear in a close frame (RFC 6455 section 7.4)."""
    return code in WIRE_CLOSE_CODES or 3000 <= code <= 4999


class FrameViolation(Exception):
    """The server broke ``violation``; the client must fail the connection.

    Attributes:
        violation: which rule.
        detail: what was seen, for the error text (no payload bytes).
        close_code: the code of the server's close frame when the violation was in one
            (kept even when the code itself is the violation, e.g. 1005 on the wire).
        close_reason: the close reason seen (undecodable bytes replaced), if any.
        in_close: the violation was in a close frame from the server.
    """

    def __init__(
        self,
        violation: Violation,
        detail: str,
        *,
        close_code: int | None = None,
        close_reason: str | None = None,
        in_close: bool = False,
    ) -> None:
        super().__init__(violation, detail)
        self.violation = violation
        self.detail = detail
        self.close_code = close_code
        self.close_reason = close_reason
        self.in_close = in_close

    @property
    def client_code(self) -> int | None:
        """The close code the client must send (None: no WebSocket to send it on)."""
        return VIOLATION_CLOSE_CODES.get(self.violation)

    def __str__(self) -> str:
        return f"{self.detail} ({self.violation})"


# --- Frames -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FrameHeader:
    """The header of one frame (RFC 6455 section 5.2).

    Attributes:
        fin: the last frame of its message.
        rsv: the three reserved bits (RSV1 is 4).
        opcode: 0x0-0xF.
        masked: the mask bit.
        length: payload bytes declared.
        size: bytes of the header itself, mask key included (2-14).
        mask_key: the 4-byte mask key, or empty.
    """

    fin: bool
    rsv: int
    opcode: int
    masked: bool
    length: int
    size: int
    mask_key: bytes = b""


def header_size(second_byte: int) -> int:
    """Bytes of a whole frame header, from its second byte (length code and mask bit)."""
    code = second_byte & 0x7F
    extended = 2 if code == 126 else 8 if code == 127 else 0
    return 2 + extended + (4 if second_byte & 0x80 else 0)


def parse_header(data: bytes | bytearray) -> FrameHeader:
    """The header at the start of ``data``, which must hold at least :func:`header_size` bytes."""
    b0, b1 = data[0], data[1]
    length = b1 & 0x7F
    offset = 2
    if length == 126:
        (length,) = struct.unpack_from("!H", data, 2)
        offset = 4
    elif length == 127:
        (length,) = struct.unpack_from("!Q", data, 2)
        offset = 10
    masked = bool(b1 & 0x80)
    key = bytes(data[offset : offset + 4]) if masked else b""
    return FrameHeader(
        fin=bool(b0 & 0x80),
        rsv=(b0 >> 4) & 0x7,
        opcode=b0 & 0x0F,
        masked=masked,
        length=length,
        size=offset + len(key),
        mask_key=key,
    )


def mask(data: bytes, key: bytes) -> bytes:
    """``data`` XOR the 4-byte ``key`` repeated (RFC 6455 section 5.3); also unmasks."""
    n = len(data)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def encode_frame(opcode: int, payload: bytes, mask_key: bytes, *, fin: bool = True) -> bytes:
    """One frame as a client sends it: masked with ``mask_key`` (4 bytes, section 5.3)."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    return head + mask_key + mask(payload, mask_key)


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    """The payload of a close frame: the 2-byte big-endian code, then the UTF-8 reason
    (``code`` None: an empty payload, a close without a code)."""
    return b"" if code is None else struct.pack("!H", code) + reason


@dataclass(frozen=True)
class CloseFrame:
    """A valid close frame from the server: code (None: no code given) and reason."""

    code: int | None
    reason: str | None


def parse_close(payload: bytes) -> CloseFrame:
    """Code and reason of a close payload (RFC 6455 section 5.5.1), validated.

    Raises:
        FrameViolation: a one-byte payload, a code that must not be on the wire, or a
            reason that is not UTF-8; the code seen is kept on the exception.
    """
    if not payload:
        return CloseFrame(None, None)
    if len(payload) == 1:
        raise FrameViolation(
            Violation.CLOSE_PAYLOAD, "close frame with a 1-byte payload", in_close=True
        )
    (code,) = struct.unpack("!H", payload[:2])
    raw = payload[2:]
    try:
        reason = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise FrameViolation(
            Violation.CLOSE_REASON_UTF8,
            f"close frame {code} with a reason that is not UTF-8",
            close_code=code,
            close_reason=raw.decode("utf-8", "replace"),
            in_close=True,
        ) from None
    if not close_code_allowed(code):
        raise FrameViolation(
            Violation.CLOSE_CODE,
            f"close frame with code {code}, which must not be sent",
            close_code=code,
            close_reason=reason or None,
            in_close=True,
        )
    return CloseFrame(code, reason or None)


# --- Events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """A whole data message (all its fragments): opcode OP_TEXT or OP_BINARY, and its bytes."""

    opcode: int
    data: bytes


@dataclass(frozen=True)
class Ping:
    """A ping from the server, to be answered with a pong of the same payload."""

    data: bytes


@dataclass(frozen=True)
class Pong:
    """A pong from the server (we send no pings: always unsolicited, and ignored)."""

    data: bytes


Event = Message | Ping | Pong | CloseFrame


class FrameParser:
    """The server's byte stream as events, checked frame by frame (Sans-I/O).

    Feed it whatever the socket returns with :meth:`feed`; take events with
    :meth:`next_event` until it returns None (more bytes needed). Memory is bounded
    by the limits: a header is checked before its payload is kept, and a message
    never grows past :attr:`Limits.max_message_bytes`.
    """

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._buf = bytearray()
        self._header: FrameHeader | None = None
        self._msg_opcode: int | None = None  # opcode of the message in progress
        self._parts: list[bytes] = []
        self._msg_bytes = 0
        self._fragments = 0
        self._utf8: codecs.IncrementalDecoder | None = None

    @property
    def busy(self) -> bool:
        """True while a frame or a fragmented message has begun and not ended."""
        return bool(self._buf) or self._header is not None or self._msg_opcode is not None

    @property
    def in_message(self) -> bool:
        """True between the first and the last frame of a fragmented message."""
        return self._msg_opcode is not None

    def feed(self, data: bytes) -> None:
        """Append bytes read from the socket."""
        self._buf += data

    def next_event(self) -> Event | None:
        """The next complete event, or None when more bytes are needed.

        Raises:
            FrameViolation: the server broke a rule or exceeded a limit (see the module
                docstring); the connection must be failed and not read further.
        """
        while True:
            if self._header is None:
                if len(self._buf) < 2 or len(self._buf) < header_size(self._buf[1]):
                    return None
                header = parse_header(self._buf)
                self._check(header)
                del self._buf[: header.size]
                self._header = header
            header = self._header
            if len(self._buf) < header.length:
                return None
            payload = bytes(self._buf[: header.length])
            del self._buf[: header.length]
            self._header = None
            event = self._complete(header, payload)
            if event is not None:
                return event

    def _check(self, h: FrameHeader) -> None:
        """Refuse a header before its payload is read (rules 1-3 of the module docstring)."""
        if h.rsv:
            raise FrameViolation(Violation.RESERVED_BITS, f"frame with reserved bits {h.rsv:03b}")
        if h.opcode not in DATA_OPCODES and h.opcode not in CONTROL_OPCODES:
            raise FrameViolation(
                Violation.RESERVED_OPCODE, f"frame with reserved opcode 0x{h.opcode:X}"
            )
        if h.masked:
            raise FrameViolation(Violation.MASKED_FRAME, "masked frame from the server")
        lim = self.limits
        if h.opcode in CONTROL_OPCODES:
            if not h.fin:
                raise FrameViolation(Violation.CONTROL_FRAME, "fragmented control frame")
            if h.length > MAX_CONTROL_PAYLOAD and not (
                h.opcode == OP_CLOSE and h.length <= lim.max_frame_bytes
            ):
                raise FrameViolation(
                    Violation.CONTROL_FRAME, f"control frame of {h.length} bytes (max 125)"
                )
            return  # an over-long close frame is read for its code, then refused
        if h.opcode == OP_CONTINUATION and self._msg_opcode is None:
            raise FrameViolation(Violation.CONTINUATION, "continuation frame without a message")
        if h.opcode != OP_CONTINUATION and self._msg_opcode is not None:
            raise FrameViolation(
                Violation.CONTINUATION, "new message before the last one ended (no FIN)"
            )
        if h.length > lim.max_frame_bytes:
            raise FrameViolation(
                Violation.FRAME_SIZE,
                f"frame of {h.length} bytes over the limit of {lim.max_frame_bytes}",
            )
        if self._msg_bytes + h.length > lim.max_message_bytes:
            raise FrameViolation(
                Violation.MESSAGE_SIZE,
                f"message of {self._msg_bytes + h.length}+ bytes over the limit of "
                f"{lim.max_message_bytes}",
            )
        if self._fragments + 1 > lim.max_fragments:
            raise FrameViolation(
                Violation.FRAGMENTS,
                f"message of more than {lim.max_fragments} fragments",
            )

    def _complete(self, h: FrameHeader, payload: bytes) -> Event | None:
        """The event a whole frame makes (None: a fragment of a message still going on)."""
        if h.opcode == OP_CLOSE:
            if h.length > MAX_CONTROL_PAYLOAD:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                raise FrameViolation(
                    Violation.CONTROL_FRAME,
                    f"close frame of {h.length} bytes (max 125: a reason over 123 bytes)",
                    close_code=code,
                    close_reason=payload[2:].decode("utf-8", "replace") or None,
                    in_close=True,
                )
            return parse_close(payload)
        if h.opcode == OP_PING:
            return Ping(payload)
        if h.opcode == OP_PONG:
            return Pong(payload)
        if h.opcode != OP_CONTINUATION:
            self._msg_opcode = h.opcode
            self._utf8 = codecs.getincrementaldecoder("utf-8")() if h.opcode == OP_TEXT else None
        self._fragments += 1
        self._msg_bytes += len(payload)
        if self._utf8 is not None:
            try:
                self._utf8.decode(payload, final=h.fin)
            except UnicodeDecodeError:
                raise FrameViolation(
                    Violation.TEXT_UTF8, "text message that is not UTF-8"
                ) from None
        self._parts.append(payload)
        if not h.fin:
            return None
        opcode = self._msg_opcode
        assert opcode is not None
        data = b"".join(self._parts)
        self._msg_opcode, self._parts, self._msg_bytes, self._fragments = None, [], 0, 0
        self._utf8 = None
        return Message(opcode, data)
