"""Engine.IO v4 and Socket.IO v5 packets as text (pure): the server's strings in, packets out.

Socket.IO services speak two nested protocols. Engine.IO v4 carries the session: one digit
per packet (open ``0`` with a JSON of sid, upgrades, pingInterval, pingTimeout, maxPayload;
close ``1``; ping ``2``; pong ``3``; message ``4``; upgrade ``5``; noop ``6``), over a
WebSocket (one packet per text frame, binary messages as binary frames) or over HTTP
long-polling (packets joined by the record separator ``"\\x1e"``, binary as ``b`` and
base64). Socket.IO v5 rides in Engine.IO messages:
``<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`` with CONNECT ``0`` (the auth
object), DISCONNECT ``1``, EVENT ``2``, ACK ``3``, CONNECT_ERROR ``4``, BINARY_EVENT ``5``
and BINARY_ACK ``6``.

Nothing here touches a socket, so the load edge (:mod:`harness.load.socketio`) and the
tests share one reading of the wire. Anything a server sends that this module cannot read
raises :class:`CodecError` with a :class:`CodecViolation`: a protocol violation of the
server, classified like the RFC 6455 ones.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import TypeGuard

#: The Engine.IO protocol revision this client speaks (the ``EIO`` query parameter).
EIO_VERSION = 4

#: What joins packets in one HTTP long-polling payload (Engine.IO v4).
RECORD_SEPARATOR = "\x1e"

#: The probe a client sends over a new WebSocket before it upgrades a polling session.
PROBE = "probe"

DEFAULT_NAMESPACE = "/"

#: Digits an ack id or attachment count may have (python-socketio refuses ids past 100
#: digits; 18 keeps every id a 64-bit integer and never parses a huge number).
MAX_ID_DIGITS = 18


class CodecViolation(StrEnum):
    """A rule of Engine.IO v4 or Socket.IO v5 the server broke (closed set)."""

    EIO_EMPTY = "eio_empty"  # an empty packet: no type digit
    EIO_TYPE = "eio_type"  # a type that is not 0-6
    EIO_BASE64 = "eio_base64"  # a ``b`` polling packet that is not base64
    EIO_OPEN = "eio_open"  # an OPEN packet whose JSON lacks or mistypes a field
    SIO_TYPE = "sio_type"  # a Socket.IO type that is not 0-6
    SIO_ATTACHMENTS = "sio_attachments"  # a binary packet without a valid attachment count
    SIO_NAMESPACE = "sio_namespace"  # a namespace not closed by a comma
    SIO_ACK_ID = "sio_ack_id"  # an ack id of more digits than MAX_ID_DIGITS
    SIO_JSON = "sio_json"  # a payload that is not JSON
    SIO_PAYLOAD = "sio_payload"  # JSON of the wrong shape for the packet type


class CodecError(ValueError):
    """The server sent something this codec cannot read; :attr:`violation` says which rule."""

    def __init__(self, violation: CodecViolation, detail: str) -> None:
        super().__init__(f"{violation.value}: {detail}")
        self.violation = violation
        self.detail = detail


# --- Engine.IO v4 ---------------------------------------------------------------------


class EioType(IntEnum):
    """Engine.IO v4 packet types (the first character of a text packet)."""

    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


@dataclass(frozen=True)
class EioPacket:
    """One Engine.IO packet: its type and its data (text, or bytes for a binary message)."""

    type: EioType
    data: str | bytes = ""


@dataclass(frozen=True)
class OpenInfo:
    """The session the server opened (the JSON of the OPEN packet); times in milliseconds."""

    sid: str
    upgrades: tuple[str, ...]
    ping_interval_ms: int
    ping_timeout_ms: int
    max_payload: int | None = None

    @property
    def heartbeat_deadline_s(self) -> float:
        """How long the client waits for a server ping before it gives the session up."""
        return (self.ping_interval_ms + self.ping_timeout_ms) / 1000.0


def encode_eio(packet: EioPacket) -> str | bytes:
    """One packet as a WebSocket frame's payload: text for text, the raw bytes for binary."""
    if isinstance(packet.data, bytes):
        return packet.data
    return f"{int(packet.type)}{packet.data}"


def decode_eio(frame: str | bytes) -> EioPacket:
    """One WebSocket frame's payload as a packet (a binary frame is a binary message)."""
    if isinstance(frame, bytes):
        return EioPacket(EioType.MESSAGE, frame)
    if not frame:
        raise CodecError(CodecViolation.EIO_EMPTY, "empty Engine.IO packet")
    head = frame[0]
    if head not in "0123456":
        raise CodecError(CodecViolation.EIO_TYPE, f"type {head!r}")
    return EioPacket(EioType(int(head)), frame[1:])


def encode_payload(packets: Sequence[EioPacket]) -> str:
    """Packets as one HTTP long-polling body (binary messages as ``b`` + base64)."""
    parts: list[str] = []
    for packet in packets:
        if isinstance(packet.data, bytes):
            parts.append("b" + base64.b64encode(packet.data).decode("ascii"))
        else:
            parts.append(f"{int(packet.type)}{packet.data}")
    return RECORD_SEPARATOR.join(parts)


def decode_payload(body: str) -> list[EioPacket]:
    """One HTTP long-polling body as its packets, in order."""
    packets: list[EioPacket] = []
    for part in body.split(RECORD_SEPARATOR):
        if part.startswith("b"):
            try:
                data = base64.b64decode(part[1:], validate=True)
            except (binascii.Error, ValueError) as exc:
                raise CodecError(CodecViolation.EIO_BASE64, "binary packet not base64") from exc
            packets.append(EioPacket(EioType.MESSAGE, data))
        else:
            packets.append(decode_eio(part))
    return packets


def parse_open(data: str) -> OpenInfo:
    """The OPEN packet's JSON (``0`` already stripped) as an :class:`OpenInfo`."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise CodecError(CodecViolation.EIO_OPEN, "OPEN data is not JSON") from exc
    if not isinstance(doc, dict):
        raise CodecError(CodecViolation.EIO_OPEN, "OPEN data is not an object")
    sid = doc.get("sid")
    upgrades = doc.get("upgrades", [])
    interval = doc.get("pingInterval")
    timeout = doc.get("pingTimeout")
    max_payload = doc.get("maxPayload")
    if not isinstance(sid, str) or not sid:
        raise CodecError(CodecViolation.EIO_OPEN, "OPEN without a sid")
    if not isinstance(upgrades, list) or not all(isinstance(u, str) for u in upgrades):
        raise CodecError(CodecViolation.EIO_OPEN, "OPEN upgrades is not a list of names")
    if not (_non_negative_int(interval) and _non_negative_int(timeout)):
        raise CodecError(CodecViolation.EIO_OPEN, "OPEN ping times are not non-negative ints")
    if max_payload is not None and not _non_negative_int(max_payload):
        raise CodecError(CodecViolation.EIO_OPEN, "OPEN maxPayload is not a non-negative int")
    return OpenInfo(
        sid=sid,
        upgrades=tuple(upgrades),
        ping_interval_ms=interval,
        ping_timeout_ms=timeout,
        max_payload=max_payload,
    )


def _non_negative_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# --- Socket.IO v5 -----------------------------------------------------------------------

JsonValue = object  # what json.loads returns; shapes are checked per packet type


class SioType(IntEnum):
    """Socket.IO v5 packet types (the first character of an Engine.IO message)."""

    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


_BINARY_TYPES = frozenset({SioType.BINARY_EVENT, SioType.BINARY_ACK})


@dataclass(frozen=True)
class SioPacket:
    """One Socket.IO packet.

    Attributes:
        type: the packet type.
        namespace: ``/`` unless the packet names another (``/chat,`` on the wire).
        data: the decoded JSON, ``None`` when the packet has none.
        ack_id: the acknowledgement id, for an EVENT that asks for one and its ACK.
        attachments: binary attachments that follow a BINARY_EVENT/BINARY_ACK.
    """

    type: SioType
    namespace: str = DEFAULT_NAMESPACE
    data: JsonValue = None
    ack_id: int | None = None
    attachments: int = 0


def encode_sio(packet: SioPacket) -> str:
    """A packet as the text of an Engine.IO message (without the Engine.IO ``4``)."""
    out = [str(int(packet.type))]
    if packet.type in _BINARY_TYPES:
        out.append(f"{packet.attachments}-")
    if packet.namespace != DEFAULT_NAMESPACE:
        out.append(packet.namespace + ",")
    if packet.ack_id is not None:
        out.append(str(packet.ack_id))
    if packet.data is not None:
        out.append(json.dumps(packet.data, separators=(",", ":")))
    return "".join(out)


def decode_sio(text: str) -> SioPacket:
    """The text of an Engine.IO message as a Socket.IO packet, its shape checked by type."""
    if not text or text[0] not in "0123456":
        raise CodecError(CodecViolation.SIO_TYPE, f"type {text[:1]!r}")
    kind = SioType(int(text[0]))
    pos = 1
    attachments = 0
    if kind in _BINARY_TYPES:
        dash = text.find("-", pos)
        count = text[pos:dash] if dash >= 0 else ""
        if not count.isdigit() or len(count) > MAX_ID_DIGITS:
            raise CodecError(CodecViolation.SIO_ATTACHMENTS, "no attachment count")
        attachments = int(count)
        pos = dash + 1
    namespace = DEFAULT_NAMESPACE
    if text.startswith("/", pos):
        comma = text.find(",", pos)
        if comma < 0:
            # A namespace alone ends the packet ("1/chat" disconnects /chat).
            if any(c in text[pos:] for c in '[{"'):
                raise CodecError(CodecViolation.SIO_NAMESPACE, "namespace without a comma")
            namespace, pos = text[pos:], len(text)
        else:
            namespace, pos = text[pos:comma], comma + 1
    start = pos
    while pos < len(text) and text[pos].isdigit():
        pos += 1
    if pos - start > MAX_ID_DIGITS:
        raise CodecError(CodecViolation.SIO_ACK_ID, f"ack id of {pos - start} digits")
    ack_id = int(text[start:pos]) if pos > start else None
    data: JsonValue = None
    if pos < len(text):
        try:
            data = json.loads(text[pos:])
        except ValueError as exc:
            raise CodecError(CodecViolation.SIO_JSON, f"{kind.name} payload is not JSON") from exc
    packet = SioPacket(kind, namespace, data, ack_id, attachments)
    _check_shape(packet)
    return packet


def _check_shape(packet: SioPacket) -> None:
    """Each type's payload as Socket.IO v5 has it; anything else is the server's violation."""
    kind, data = packet.type, packet.data
    if kind == SioType.CONNECT:
        ok = data is None or isinstance(data, dict)
    elif kind == SioType.DISCONNECT:
        ok = data is None
    elif kind in (SioType.EVENT, SioType.BINARY_EVENT):
        ok = isinstance(data, list) and bool(data) and isinstance(data[0], str)
    elif kind in (SioType.ACK, SioType.BINARY_ACK):
        ok = isinstance(data, list) and packet.ack_id is not None
    else:  # CONNECT_ERROR: an object with a message in v5, a bare string from v4 servers
        ok = isinstance(data, (dict, str))
    if not ok:
        raise CodecError(CodecViolation.SIO_PAYLOAD, f"{kind.name} with a payload of wrong shape")


def connect_error_message(packet: SioPacket) -> str:
    """The human message of a CONNECT_ERROR (``""`` when the server gave none)."""
    data = packet.data
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        message = data.get("message")
        return message if isinstance(message, str) else ""
    return ""


def connect_packet(auth: dict[str, object] | None, namespace: str = DEFAULT_NAMESPACE) -> str:
    """The Engine.IO message text of a client CONNECT carrying ``auth`` (``40{...}``)."""
    return f"{int(EioType.MESSAGE)}{encode_sio(SioPacket(SioType.CONNECT, namespace, auth))}"
