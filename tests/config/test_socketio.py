"""``target.protocol`` and ``target.socketio``: what a Socket.IO scenario may say, and the
errors (file, line, key) for what it may not."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from harness.config.overrides import apply_overrides
from harness.config.scenario import SocketIO
from harness.errors import HarnessError
from tests.config.helpers import error, load

SIO = """\
name: x
target:
  url: {url}
  protocol: socketio
auth: {{placement: socketio_auth, secret: {{env: HARNESS_TEST_SECRET}}}}
"""


def test_defaults_are_socket_io_clients() -> None:
    s = load("name: x\ntarget:\n  protocol: socketio\n  embedded: {}\n")
    assert s.target.protocol == "socketio"
    assert s.target.socketio == SocketIO()
    assert s.target.socketio.transports == ("websocket", "polling")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "https://127.0.0.1/socket.io/", "ws://127.0.0.1:1/"]
)
def test_socket_io_takes_http_and_ws_urls(url: str) -> None:
    assert load(SIO.format(url=url)).target.url == url


def test_every_key() -> None:
    text = """\
name: x
target:
  protocol: socketio
  embedded: {socketio_transports: [polling]}
  socketio:
    path: /io/
    namespace: /chat
    transports: [polling]
    upgrade: false
    event: ping-me
    auth_field: access_token
    auth_errors: [denied]
    capacity_errors: [full]
    events: {auth_error: auth, kicked: other}
auth: {placement: socketio_auth}
"""
    s = load(text)
    sio = s.target.socketio
    assert (sio.path, sio.namespace, sio.transports, sio.upgrade) == (
        "/io/",
        "/chat",
        ("polling",),
        False,
    )
    assert (sio.event, sio.auth_field) == ("ping-me", "access_token")
    assert (sio.auth_errors, sio.capacity_errors) == (("denied",), ("full",))
    assert sio.events == MappingProxyType({"auth_error": "auth", "kicked": "other"})
    assert s.target.embedded is not None
    assert s.target.embedded.socketio_transports == ("polling",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "name: x\ntarget:\n  url: http://127.0.0.1/ws\n",
            "x.yaml:3: target.url: expected a ws:// or wss:// URL with a host, got "
            "'http://127.0.0.1/ws' (http:// and https:// need target.protocol: socketio)",
        ),
        (
            SIO.format(url="http://127.0.0.1/chat"),
            "x.yaml:3: target.url: the path of a Socket.IO URL is the Engine.IO path, "
            "'/socket.io/' (target.socketio.path), got '/chat'; the namespace is "
            "target.socketio.namespace",
        ),
        (
            "name: x\ntarget:\n  embedded: {}\n  socketio: {}\n",
            "x.yaml:4: target.socketio: only used with target.protocol: socketio",
        ),
        (
            "name: x\ntarget:\n  protocol: mqtt\n  embedded: {}\n",
            "x.yaml:3: target.protocol: expected one of websocket, socketio, got 'mqtt'",
        ),
        (
            "name: x\nauth: {placement: socketio_auth}\n",
            "x.yaml:2: auth.placement: socketio_auth needs target.protocol: socketio",
        ),
        (
            "name: x\ntarget: {protocol: socketio, embedded: {}}\n"
            "auth: {placement: first_message}\n",
            "x.yaml:3: auth.placement: first_message cannot carry a token to a Socket.IO service; "
            "use socketio_auth, query, header or cookie",
        ),
        (
            "name: x\ntarget:\n  protocol: socketio\n  embedded: {}\n"
            "  socketio: {transports: [websocket, websocket]}\n",
            "x.yaml:5: target.socketio.transports[1]: 'websocket' is listed twice",
        ),
        (
            "name: x\ntarget:\n  protocol: socketio\n  embedded: {}\n"
            "  socketio: {transports: []}\n",
            "x.yaml:5: target.socketio.transports: expected 1 to 64 entries, got 0",
        ),
        (
            "name: x\ntarget:\n  protocol: socketio\n  embedded: {}\n"
            "  socketio: {events: {auth_error: login}}\n",
            "x.yaml:5: target.socketio.events.auth_error: expected one of auth, capacity, "
            "other, got 'login'",
        ),
    ],
)
def test_errors_name_the_key(text: str, message: str) -> None:
    assert error(text) == message


def test_target_url_flag_keeps_the_protocol() -> None:
    s = load("name: x\ntarget:\n  protocol: socketio\n  embedded: {}\n")
    out = apply_overrides(s, target_url="http://127.0.0.1:9000")
    assert out.target.protocol == "socketio" and out.target.url == "http://127.0.0.1:9000"
    plain = load("name: x\n")
    with pytest.raises(HarnessError, match="--target-url"):
        apply_overrides(plain, target_url="http://127.0.0.1:9000")
