"""RFC 6455 framing rules and our limits, on bytes alone (no network)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.protocol.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONTINUATION,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    VIOLATION_CLOSE_CODES,
    CloseFrame,
    FrameParser,
    FrameViolation,
    Limits,
    Message,
    Ping,
    Pong,
    Violation,
    close_code_allowed,
    close_payload,
    encode_frame,
    header_size,
    mask,
    parse_close,
    parse_header,
)

DEFAULTS = Limits()


def server_frame(opcode: int, payload: bytes = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    """A frame as a server sends it (unmasked)."""
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def events(data: bytes, limits: Limits = DEFAULTS) -> list[object]:
    parser = FrameParser(limits)
    parser.feed(data)
    out: list[object] = []
    while (event := parser.next_event()) is not None:
        out.append(event)
    return out


def violation(data: bytes, limits: Limits = DEFAULTS) -> FrameViolation:
    with pytest.raises(FrameViolation) as info:
        events(data, limits)
    return info.value


# --- Encoding -------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 125, 126, 65535, 65536, 70000])
def test_client_frames_are_masked_and_parse_back(n: int) -> None:
    payload = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
    key = b"\x0f\xf0\xaa\x55"
    frame = encode_frame(OP_BINARY, payload, key)
    header = parse_header(frame)
    assert header_size(frame[1]) == header.size
    assert (header.fin, header.opcode, header.masked, header.length) == (True, OP_BINARY, True, n)
    assert header.mask_key == key
    assert mask(frame[header.size :], key) == payload  # masking twice gives the payload back


def test_close_payload() -> None:
    assert close_payload(1000) == b"\x03\xe8"
    assert close_payload(1001, b"bye") == b"\x03\xe9bye"
    assert close_payload(None) == b""


# --- Close frames -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "allowed"),
    [
        (999, False),
        (1000, True),
        (1003, True),
        (1004, False),
        (1005, False),
        (1006, False),
        (1007, True),
        (1011, True),
        (1014, True),
        (1015, False),
        (1016, False),
        (2999, False),
        (3000, True),
        (4401, True),
        (4999, True),
        (5000, False),
        (0, False),
        (65535, False),
    ],
)
def test_close_codes_allowed_on_the_wire(code: int, allowed: bool) -> None:
    assert close_code_allowed(code) is allowed


def test_parse_close_keeps_code_and_reason() -> None:
    assert parse_close(b"") == CloseFrame(None, None)
    assert parse_close(b"\x11\x31expired") == CloseFrame(4401, "expired")
    assert parse_close(b"\x03\xe8") == CloseFrame(1000, None)


def test_invalid_close_payloads_keep_the_code_seen() -> None:
    with pytest.raises(FrameViolation) as one:
        parse_close(b"\x03")
    assert one.value.violation is Violation.CLOSE_PAYLOAD and one.value.close_code is None
    with pytest.raises(FrameViolation) as utf8:
        parse_close(b"\x03\xe8bye \xff")
    assert utf8.value.violation is Violation.CLOSE_REASON_UTF8
    assert utf8.value.close_code == 1000 and utf8.value.client_code == 1007
    assert utf8.value.close_reason == "bye \ufffd"
    with pytest.raises(FrameViolation) as code:
        parse_close(struct.pack("!H", 1005))
    assert code.value.violation is Violation.CLOSE_CODE
    assert code.value.close_code == 1005 and code.value.client_code == 1002
    assert code.value.in_close


def test_close_reason_over_123_bytes_is_refused_with_its_code() -> None:
    ok = events(server_frame(OP_CLOSE, close_payload(1000, b"r" * 123)))
    assert ok == [CloseFrame(1000, "r" * 123)]
    err = violation(server_frame(OP_CLOSE, close_payload(1000, b"r" * 124)))
    assert err.violation is Violation.CONTROL_FRAME
    assert (err.close_code, err.client_code, err.in_close) == (1000, 1002, True)
    assert "126 bytes" in str(err)


# --- Frame rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (server_frame(OP_TEXT, b"x", rsv=0b100), Violation.RESERVED_BITS),
        (server_frame(OP_TEXT, b"x", rsv=0b001), Violation.RESERVED_BITS),
        (server_frame(0x3, b"x"), Violation.RESERVED_OPCODE),
        (server_frame(0xB, b"x"), Violation.RESERVED_OPCODE),
        (encode_frame(OP_TEXT, b"x", b"abcd"), Violation.MASKED_FRAME),
        (server_frame(OP_PING, b"x", fin=False), Violation.CONTROL_FRAME),
        (server_frame(OP_PING, b"p" * 126), Violation.CONTROL_FRAME),
        (server_frame(OP_CONTINUATION, b"x"), Violation.CONTINUATION),
        (
            server_frame(OP_TEXT, b"a", fin=False) + server_frame(OP_TEXT, b"b"),
            Violation.CONTINUATION,
        ),
        (server_frame(OP_TEXT, b"caf\xc3("), Violation.TEXT_UTF8),
        (server_frame(OP_CLOSE, b"\x03"), Violation.CLOSE_PAYLOAD),
    ],
)
def test_rules_of_rfc_6455(data: bytes, expected: Violation) -> None:
    err = violation(data)
    assert err.violation is expected
    assert err.client_code == VIOLATION_CLOSE_CODES[expected]


def test_client_codes_per_rule() -> None:
    """1007 for bad payload data, 1009 for our limits, 1002 for the rest (RFC 6455 7.4.1)."""
    assert {v for v, c in VIOLATION_CLOSE_CODES.items() if c == 1007} == {
        Violation.TEXT_UTF8,
        Violation.CLOSE_REASON_UTF8,
    }
    assert {v for v, c in VIOLATION_CLOSE_CODES.items() if c == 1009} == {
        Violation.FRAME_SIZE,
        Violation.MESSAGE_SIZE,
        Violation.FRAGMENTS,
    }


def test_invalid_utf8_is_caught_before_the_message_ends() -> None:
    parser = FrameParser()
    parser.feed(server_frame(OP_TEXT, b"ok \xff", fin=False))
    with pytest.raises(FrameViolation) as info:
        parser.next_event()
    assert info.value.violation is Violation.TEXT_UTF8


def test_a_character_split_across_fragments_is_valid() -> None:
    euro = "€".encode()  # 3 bytes
    data = server_frame(OP_TEXT, euro[:1], fin=False) + server_frame(OP_CONTINUATION, euro[1:])
    assert events(data) == [Message(OP_TEXT, euro)]


def test_control_frames_between_fragments() -> None:
    data = (
        server_frame(OP_BINARY, b"ab", fin=False)
        + server_frame(OP_PING, b"hb")
        + server_frame(OP_PONG, b"")
        + server_frame(OP_CONTINUATION, b"cd")
    )
    assert events(data) == [Ping(b"hb"), Pong(b""), Message(OP_BINARY, b"abcd")]


# --- Limits -----------------------------------------------------------------------------


def test_a_declared_length_is_refused_before_any_payload() -> None:
    """Only the 10-byte header of a 1 TiB frame is fed: the parser refuses it at once."""
    parser = FrameParser()
    parser.feed(bytes([0x82, 127]) + struct.pack("!Q", 2**40))
    with pytest.raises(FrameViolation) as info:
        parser.next_event()
    assert info.value.violation is Violation.FRAME_SIZE and info.value.client_code == 1009


def test_frame_limit_boundary() -> None:
    limits = Limits(max_frame_bytes=100, max_message_bytes=1000, max_fragments=10)
    assert events(server_frame(OP_BINARY, b"x" * 100), limits) == [Message(OP_BINARY, b"x" * 100)]
    assert violation(server_frame(OP_BINARY, b"x" * 101), limits).violation is Violation.FRAME_SIZE


def test_message_limit_counts_all_fragments() -> None:
    limits = Limits(max_frame_bytes=100, max_message_bytes=250, max_fragments=10)
    fits = b"".join(
        server_frame(OP_BINARY if i == 0 else OP_CONTINUATION, b"x" * 50, fin=i == 4)
        for i in range(5)
    )
    assert events(fits, limits) == [Message(OP_BINARY, b"x" * 250)]
    over = b"".join(
        server_frame(OP_BINARY if i == 0 else OP_CONTINUATION, b"x" * 50, fin=i == 5)
        for i in range(6)
    )
    assert violation(over, limits).violation is Violation.MESSAGE_SIZE


def test_fragment_limit() -> None:
    limits = Limits(max_fragments=3)

    def message(n: int) -> bytes:
        return b"".join(
            server_frame(OP_BINARY if i == 0 else OP_CONTINUATION, b"f", fin=i == n - 1)
            for i in range(n)
        )

    assert events(message(3), limits) == [Message(OP_BINARY, b"fff")]
    assert violation(message(4), limits).violation is Violation.FRAGMENTS
    # the count starts again with each message
    assert len(events(message(3) + message(3), limits)) == 2


def test_busy_while_a_frame_or_message_is_under_way() -> None:
    parser = FrameParser()
    assert not parser.busy
    whole = server_frame(OP_BINARY, b"abc", fin=False)
    parser.feed(whole[:3])
    assert parser.next_event() is None and parser.busy and not parser.in_message
    parser.feed(whole[3:])
    assert parser.next_event() is None and parser.busy and parser.in_message
    parser.feed(server_frame(OP_CONTINUATION, b"d"))
    assert parser.next_event() == Message(OP_BINARY, b"abcd")
    assert not parser.busy


@settings(max_examples=60, deadline=1000)
@given(
    messages=st.lists(st.binary(max_size=300), min_size=1, max_size=5),
    cuts=st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=40),
)
def test_any_split_of_the_stream_gives_the_same_messages(
    messages: list[bytes], cuts: list[int]
) -> None:
    """Bytes arrive however the network splits them; the events do not depend on it."""
    stream = b"".join(
        server_frame(OP_BINARY, m[: len(m) // 2], fin=False)
        + server_frame(OP_PING, b"p")
        + server_frame(OP_CONTINUATION, m[len(m) // 2 :])
        for m in messages
    )
    parser = FrameParser()
    got: list[object] = []
    pos = 0
    i = 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        parser.feed(stream[pos : pos + step])
        pos += step
        i += 1
        while (event := parser.next_event()) is not None:
            got.append(event)
    assert [e for e in got if isinstance(e, Message)] == [Message(OP_BINARY, m) for m in messages]
    assert sum(isinstance(e, Ping) for e in got) == len(messages)
    assert not parser.busy
