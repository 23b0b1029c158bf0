"""The opening handshake's bytes (harness.protocol.upgrade): the request we send, the
response heads a server may answer with, and the checks of a 101."""

from __future__ import annotations

import pytest

from harness.protocol.upgrade import (
    ResponseHead,
    UpgradeError,
    accept_for,
    check_switch,
    host_header,
    parse_head,
    upgrade_request,
)

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 section 1.3


def test_the_accept_hash_is_the_rfcs() -> None:
    assert accept_for(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_the_request_asks_for_a_websocket_with_our_headers() -> None:
    data = upgrade_request("/ws?token=t", "h:81", KEY, ["Cookie: token=t"], ["a", "b"])
    lines = data.decode().split("\r\n")
    assert lines[0] == "GET /ws?token=t HTTP/1.1"
    assert {"Host: h:81", "Upgrade: websocket", "Connection: Upgrade"} <= set(lines)
    assert f"Sec-WebSocket-Key: {KEY}" in lines and "Sec-WebSocket-Version: 13" in lines
    assert "Sec-WebSocket-Protocol: a,b" in lines and "Cookie: token=t" in lines
    assert data.endswith(b"\r\n\r\n")
    assert b"Sec-WebSocket-Protocol" not in upgrade_request("/", "h", KEY)


@pytest.mark.parametrize(
    ("host", "port", "secure", "expected"),
    [("h", 80, False, "h"), ("h", 443, True, "h"), ("h", 8080, False, "h:8080"),
     ("::1", 9000, False, "[::1]:9000"), ("h", 80, True, "h:80")],
)  # fmt: skip
def test_host_header(host: str, port: int, secure: bool, expected: str) -> None:
    assert host_header(host, port, secure) == expected


def test_a_head_is_read_once_it_is_whole() -> None:
    assert parse_head(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n") is None
    head = parse_head(b"HTTP/1.1 401 No\r\nContent-Length: 3\r\nX-A:  b \r\n\r\nno!")
    assert head == ResponseHead(401, {"content-length": "3", "x-a": "b"}, 48)
    assert head.content_length == 3
    assert parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").content_length is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "data",
    [b"SSH-2.0-OpenSSH_9.0\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n", b"HTTP/1.1 101\r\nno colon\r\n\r\n"],
)
def test_a_malformed_head_is_a_protocol_error(data: bytes) -> None:
    with pytest.raises(UpgradeError):
        parse_head(data)


def head_101(**headers: str) -> ResponseHead:
    base = {
        "upgrade": "websocket",
        "connection": "Upgrade",
        "sec-websocket-accept": accept_for(KEY),
    }
    return ResponseHead(101, {**base, **headers}, 0)


def test_a_correct_switch_passes() -> None:
    check_switch(head_101(), KEY, None)
    check_switch(head_101(connection="keep-alive, Upgrade", upgrade="WebSocket"), KEY, None)
    check_switch(head_101(**{"sec-websocket-protocol": "B"}), KEY, ["a", "b"])


@pytest.mark.parametrize(
    ("headers", "offered", "why"),
    [
        ({"upgrade": "h2c"}, None, "Upgrade"),
        ({"connection": "close"}, None, "Connection"),
        ({"sec-websocket-accept": "x"}, None, "Sec-WebSocket-Accept"),
        ({"sec-websocket-accept": accept_for(KEY).lower()}, None, "Sec-WebSocket-Accept"),
        ({}, ["a"], "subprotocols"),  # none picked of those offered
        ({"sec-websocket-protocol": "c"}, ["a", "b"], "subprotocols"),
    ],
)
def test_a_wrong_switch_says_which_check_failed(
    headers: dict[str, str], offered: list[str] | None, why: str
) -> None:
    with pytest.raises(UpgradeError, match=why):
        check_switch(head_101(**headers), KEY, offered)
