"""Engine.IO v4 and Socket.IO v5 packets, on strings alone (no network)."""

from __future__ import annotations

import pytest
from engineio import packet as eio_packet
from engineio import payload as eio_payload
from hypothesis import given
from hypothesis import strategies as st
from socketio import packet as sio_packet

from harness.protocol.engineio import (
    RECORD_SEPARATOR,
    CodecError,
    CodecViolation,
    EioPacket,
    EioType,
    SioPacket,
    SioType,
    connect_error_message,
    connect_packet,
    decode_eio,
    decode_payload,
    decode_sio,
    encode_eio,
    encode_payload,
    encode_sio,
    parse_open,
)

OPEN = '{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}'  # noqa: E501


def test_open_packet_as_python_engineio_sends_it() -> None:
    packet = decode_eio("0" + OPEN)
    assert packet.type is EioType.OPEN
    info = parse_open(str(packet.data))
    assert info.sid == "abc"
    assert info.upgrades == ("websocket",)
    assert (info.ping_interval_ms, info.ping_timeout_ms, info.max_payload) == (25000, 20000, 10**6)
    assert info.heartbeat_deadline_s == 45.0


@pytest.mark.parametrize(
    "data",
    [
        "not json",
        "[]",
        '{"upgrades":[],"pingInterval":1,"pingTimeout":1}',
        '{"sid":"a","upgrades":"websocket","pingInterval":1,"pingTimeout":1}',
        '{"sid":"a","upgrades":[],"pingInterval":"1","pingTimeout":1}',
        '{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":-1}',
        '{"sid":"a","upgrades":[],"pingInterval":true,"pingTimeout":1}',
        '{"sid":"a","upgrades":[],"pingInterval":1,"pingTimeout":1,"maxPayload":1.5}',
    ],
)
def test_bad_open_is_a_violation(data: str) -> None:
    with pytest.raises(CodecError) as info:
        parse_open(data)
    assert info.value.violation is CodecViolation.EIO_OPEN


@pytest.mark.parametrize(
    ("frame", "violation"),
    [
        ("", CodecViolation.EIO_EMPTY),
        ("7", CodecViolation.EIO_TYPE),
        ("x", CodecViolation.EIO_TYPE),
    ],
)
def test_bad_eio_packet_is_a_violation(frame: str, violation: CodecViolation) -> None:
    with pytest.raises(CodecError) as info:
        decode_eio(frame)
    assert info.value.violation is violation


def test_ping_pong_and_probe() -> None:
    assert decode_eio("2") == EioPacket(EioType.PING, "")
    assert encode_eio(EioPacket(EioType.PONG)) == "3"
    assert encode_eio(EioPacket(EioType.PING, "probe")) == "2probe"
    assert decode_eio("3probe") == EioPacket(EioType.PONG, "probe")
    assert encode_eio(EioPacket(EioType.UPGRADE)) == "5"


def test_binary_frame_is_a_binary_message() -> None:
    assert decode_eio(b"\x00\xff") == EioPacket(EioType.MESSAGE, b"\x00\xff")
    assert encode_eio(EioPacket(EioType.MESSAGE, b"\x01")) == b"\x01"


def test_polling_payload_joins_with_record_separator() -> None:
    packets = [
        EioPacket(EioType.MESSAGE, "hello"),
        EioPacket(EioType.PING),
        EioPacket(EioType.MESSAGE, b"\x01\x02"),
    ]
    body = encode_payload(packets)
    assert body == "4hello" + RECORD_SEPARATOR + "2" + RECORD_SEPARATOR + "bAQI="
    assert decode_payload(body) == packets


def test_polling_bad_base64_is_a_violation() -> None:
    with pytest.raises(CodecError) as info:
        decode_payload("b!!!")
    assert info.value.violation is CodecViolation.EIO_BASE64


@given(st.lists(st.one_of(st.text(), st.binary()), min_size=1, max_size=5))
def test_payload_round_trip(datas: list[str | bytes]) -> None:
    packets = [
        EioPacket(EioType.MESSAGE, d.replace(RECORD_SEPARATOR, "") if isinstance(d, str) else d)
        for d in datas
    ]
    assert decode_payload(encode_payload(packets)) == packets


def test_connect_with_auth_and_namespace() -> None:
    assert connect_packet({"token": "t"}) == '40{"token":"t"}'
    assert connect_packet(None, "/chat") == "40/chat,"
    assert decode_sio('0{"sid":"xyz"}') == SioPacket(SioType.CONNECT, "/", {"sid": "xyz"})
    assert decode_sio('0/chat,{"sid":"x"}').namespace == "/chat"


def test_connect_error_message_kept() -> None:
    packet = decode_sio('4{"message":"insufficient resources"}')
    assert packet.type is SioType.CONNECT_ERROR
    assert connect_error_message(packet) == "insufficient resources"
    assert connect_error_message(decode_sio('4"Not authorized"')) == "Not authorized"
    assert connect_error_message(decode_sio('4{"data":1}')) == ""


def test_event_with_ack_id_and_ack() -> None:
    event = SioPacket(SioType.EVENT, "/", ["echo", {"n": 1}], ack_id=12)
    assert encode_sio(event) == '212["echo",{"n":1}]'
    assert decode_sio('212["echo",{"n":1}]') == event
    ack = decode_sio('3/chat,12["hi"]')
    assert (ack.type, ack.namespace, ack.ack_id, ack.data) == (SioType.ACK, "/chat", 12, ["hi"])


def test_disconnect_and_binary_header() -> None:
    assert decode_sio("1") == SioPacket(SioType.DISCONNECT)
    assert decode_sio("1/chat") == SioPacket(SioType.DISCONNECT, "/chat")
    packet = decode_sio('51-["up",{"_placeholder":true,"num":0}]')
    assert (packet.type, packet.attachments) == (SioType.BINARY_EVENT, 1)
    assert encode_sio(packet) == '51-["up",{"_placeholder":true,"num":0}]'


@pytest.mark.parametrize(
    ("text", "violation"),
    [
        ("", CodecViolation.SIO_TYPE),
        ("9", CodecViolation.SIO_TYPE),
        ('5["x"]', CodecViolation.SIO_ATTACHMENTS),
        ('0/chat{"a":1}', CodecViolation.SIO_NAMESPACE),
        ("2[oops", CodecViolation.SIO_JSON),
        ('2{"a":1}', CodecViolation.SIO_PAYLOAD),
        ("2[]", CodecViolation.SIO_PAYLOAD),
        ("2[1]", CodecViolation.SIO_PAYLOAD),
        ('3["no ack id"]', CodecViolation.SIO_PAYLOAD),
        ("0[1]", CodecViolation.SIO_PAYLOAD),
        ('1{"a":1}', CodecViolation.SIO_PAYLOAD),
        ("4[1]", CodecViolation.SIO_PAYLOAD),
    ],
)
def test_bad_sio_packet_is_a_violation(text: str, violation: CodecViolation) -> None:
    with pytest.raises(CodecError) as info:
        decode_sio(text)
    assert info.value.violation is violation


@given(
    st.sampled_from(["/", "/chat", "/a/b"]),
    st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)),
    st.lists(st.one_of(st.integers(), st.text(), st.booleans()), max_size=3),
)
def test_event_round_trip(namespace: str, ack_id: int | None, args: list[object]) -> None:
    packet = SioPacket(SioType.EVENT, namespace, ["ev", *args], ack_id)
    assert decode_sio(encode_sio(packet)) == packet


def test_huge_ack_id_is_a_violation() -> None:
    with pytest.raises(CodecError) as info:
        decode_sio("3" + "9" * 5000 + '["x"]')
    assert info.value.violation is CodecViolation.SIO_ACK_ID


@pytest.mark.parametrize(
    "packet",
    [
        SioPacket(SioType.CONNECT, "/", {"token": "t"}),
        SioPacket(SioType.CONNECT, "/chat", {"sid": "s"}),
        SioPacket(SioType.DISCONNECT, "/chat"),
        SioPacket(SioType.EVENT, "/", ["echo", "hi", 3], ack_id=7),
        SioPacket(SioType.ACK, "/chat", ["hi"], ack_id=7),
        SioPacket(SioType.CONNECT_ERROR, "/", {"message": "busy"}),
    ],
)
def test_agrees_with_python_socketio(packet: SioPacket) -> None:
    """Our reading of the wire is python-socketio's, in both directions."""
    theirs = sio_packet.Packet(
        packet_type=int(packet.type),
        data=packet.data,
        namespace=packet.namespace,
        id=packet.ack_id,
    )
    assert decode_sio(theirs.encode()) == packet
    assert sio_packet.Packet(encoded_packet=encode_sio(packet)).encode() == theirs.encode()


def test_agrees_with_python_engineio() -> None:
    """python-engineio's OPEN packet and polling payload read as it wrote them."""
    doc = {"sid": "abc", "upgrades": ["websocket"], "pingTimeout": 20000, "pingInterval": 25000}
    opened = decode_eio(eio_packet.Packet(eio_packet.OPEN, {**doc, "maxPayload": 10**6}).encode())
    assert parse_open(str(opened.data)).ping_interval_ms == 25000
    theirs = [
        eio_packet.Packet(eio_packet.MESSAGE, "hi"),
        eio_packet.Packet(eio_packet.MESSAGE, b"\x01"),
        eio_packet.Packet(eio_packet.PING),
    ]
    ours = [
        EioPacket(EioType.MESSAGE, "hi"),
        EioPacket(EioType.MESSAGE, b"\x01"),
        EioPacket(EioType.PING),
    ]
    assert decode_payload(eio_payload.Payload(packets=theirs).encode()) == ours
    back = eio_payload.Payload(encoded_payload=encode_payload(ours)).packets
    assert [(p.packet_type, p.data) for p in back] == [(4, "hi"), (4, b"\x01"), (2, "")]
