"""The embedded target's Socket.IO mode, spoken to by python-socketio's own client: a real
target process on a loopback, OS-chosen port, never the harness's load code."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
import socketio

from harness.config.scenario import EmbeddedTarget, SocketIO
from harness.errors import TargetStartError
from harness.target.certs import make_run_certs
from harness.target.options import args_to_options, build_parser, options_to_argv, path_of
from harness.target.process import TargetProcess, start_target
from harness.target.socketio_server import (
    CAPACITY_MESSAGES,
    connect_token,
    engineio_heartbeat,
)

#: Multiplies every timeout here, for slow CI machines.
SCALE = float(os.environ.get("HARNESS_TEST_TIMEOUT_SCALE", "1"))
SECRET = "socketio-secret-" + "0123456789abcdef" * 3
#: Short heartbeats: python-socketio's polling client waits for its pending GET, which the
#: server holds up to ping interval + ping timeout, before a disconnect returns.
QUICK: dict[str, Any] = {"ping_interval": 1.0, "ping_timeout": 1.0}


def timeout(seconds: float) -> float:
    return seconds * SCALE


def token(*, exp_in: float = 300, key: str = SECRET) -> str:
    return jwt.encode({"sub": "u", "exp": int(time.time() + exp_in)}, key, algorithm="HS256")


@dataclass
class Seen:
    """What one python-socketio client saw: CONNECT_ERROR data, disconnect reasons."""

    errors: list[Any] = field(default_factory=list)
    disconnects: list[str] = field(default_factory=list)
    gone: threading.Event = field(default_factory=threading.Event)


def client(*, session: requests.Session | None = None) -> tuple[socketio.Client, Seen]:
    seen = Seen()
    c = socketio.Client(reconnection=False, handle_sigint=False, http_session=session)

    def on_error(data: Any = None) -> None:
        seen.errors.append(data)

    def on_disconnect(reason: str = "") -> None:
        seen.disconnects.append(reason)
        seen.gone.set()

    c.on("connect_error", on_error)
    c.on("disconnect", on_disconnect)
    return c, seen


def connect(
    target: TargetProcess,
    tok: str | None = None,
    *,
    transports: list[str] | None = None,
    url: str | None = None,
    headers: dict[str, str] | None = None,
    namespace: str = "/",
    session: requests.Session | None = None,
) -> tuple[socketio.Client, Seen]:
    """A connected client (raises socketio.exceptions.ConnectionError when refused)."""
    c, seen = client(session=session)
    c.connect(
        url or target.base_http_url,
        auth=None if tok is None else {"token": tok},
        headers=headers or {},
        transports=transports or ["websocket"],
        namespaces=[namespace],
        wait_timeout=timeout(5),
    )
    return c, seen


def refusal(
    target: TargetProcess,
    tok: str | None,
    *,
    url: str | None = None,
    headers: dict[str, str] | None = None,
    transports: list[str] | None = None,
) -> Any:
    """The data of the CONNECT_ERROR refusing ``tok`` (a dict with ``message``)."""
    c, seen = client()
    with pytest.raises(socketio.exceptions.ConnectionError):
        c.connect(
            url or target.base_http_url,
            auth=None if tok is None else {"token": tok},
            headers=headers or {},
            transports=transports or ["websocket"],
            wait_timeout=timeout(5),
        )
    assert len(seen.errors) == 1
    return seen.errors[0]


def health(target: TargetProcess) -> dict[str, Any]:
    with urllib.request.urlopen(target.base_http_url + "/health", timeout=timeout(5)) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("application/json")
        doc: dict[str, Any] = json.loads(resp.read())
    return doc


def metric(target: TargetProcess, name: str) -> float:
    with urllib.request.urlopen(target.base_http_url + "/metrics", timeout=timeout(5)) as resp:
        body = resp.read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


def wait_connections(target: TargetProcess, n: int) -> None:
    deadline = time.monotonic() + timeout(5)
    while health(target)["connections"] != n:
        assert time.monotonic() < deadline, f"target never got to {n} connected clients"
        time.sleep(0.02)


def raw_get(target: TargetProcess, path: str, *, method: str = "GET", body: str = "") -> bytes:
    """Every byte the target answers to a bare HTTP request (b"" when it drops the connection)."""
    with socket.create_connection((target.host, target.port), timeout=timeout(5)) as s:
        head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        data = body.encode()
        if method == "POST":
            head += f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(data)}\r\n"
        s.sendall(head.encode() + b"\r\n" + data)
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    return data


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("socketio-logs")


def _start(logs: Path, name: str, *, sio: SocketIO | None = None, **opts: Any) -> TargetProcess:
    extra = {"disconnect_after": opts.pop("disconnect_after")} if "disconnect_after" in opts else {}
    return start_target(
        EmbeddedTarget(**{**QUICK, **opts}),
        secret=SECRET,
        log_path=logs / f"{name}.log",
        ready_timeout=30,
        protocol="socketio",
        socketio=sio,
        **extra,
    )


@pytest.fixture(scope="module")
def target(logs: Path) -> Iterator[TargetProcess]:
    with _start(logs, "main", max_connections=1, handshake_timeout=1.0) as t:
        yield t


# --- Accepted tokens, echo ------------------------------------------------------------


@pytest.mark.parametrize("transports", [["websocket"], ["polling"]])
def test_valid_token_connects_and_echo_acks_with_its_argument(
    target: TargetProcess, transports: list[str]
) -> None:
    c, seen = connect(target, token(), transports=transports)
    try:
        assert c.transport() == transports[0]
        payload = {"n": 7, "text": "héllo", "list": [1, 2]}
        assert c.call("echo", payload, timeout=timeout(5)) == payload
        assert c.call("echo", "plain", timeout=timeout(5)) == "plain"
        wait_connections(target, 1)
    finally:
        c.disconnect()
    assert seen.errors == []
    wait_connections(target, 0)


def test_polling_session_upgrades_to_websocket(target: TargetProcess) -> None:
    c, _ = connect(target, token(), transports=["polling", "websocket"])
    try:
        deadline = time.monotonic() + timeout(5)
        while c.transport() != "websocket":
            assert time.monotonic() < deadline, "the polling session never upgraded"
            time.sleep(0.02)
        assert c.call("echo", 1, timeout=timeout(5)) == 1
    finally:
        c.disconnect()
    wait_connections(target, 0)


def test_url_is_the_engineio_endpoint(target: TargetProcess) -> None:
    assert target.url == f"ws://127.0.0.1:{target.port}/socket.io/"
    doc = health(target)
    assert doc["protocol"] == "socketio"
    assert doc["transports"] == ["websocket", "polling"]
    assert doc["max_connections"] == 1
    # The OPEN packet carries the heartbeat asked for, in milliseconds.
    body = raw_get(target, "/socket.io/?EIO=4&transport=polling").partition(b"\r\n\r\n")[2]
    assert body.startswith(b"0{")
    opened = json.loads(body[1:])
    assert (opened["pingInterval"], opened["pingTimeout"]) == (1000, 1000)
    assert opened["upgrades"] == ["websocket"]
    assert raw_get(target, "/elsewhere").startswith(b"HTTP/1.1 404")


@pytest.mark.parametrize("where", ["query", "header", "cookie"])
def test_token_in_the_handshake_placements_is_read(target: TargetProcess, where: str) -> None:
    tok = token()
    url = target.base_http_url + (f"?token={tok}" if where == "query" else "")
    headers = {
        "query": {},
        "header": {"Authorization": f"Bearer {tok}"},
        "cookie": {"Cookie": f"token={tok}"},
    }[where]
    c, _ = connect(target, None, url=url, headers=headers)
    try:
        assert c.call("echo", where, timeout=timeout(5)) == where
    finally:
        c.disconnect()
    wait_connections(target, 0)
    # the same placement with an expired token is refused
    bad = token(exp_in=-60)
    url = target.base_http_url + (f"?token={bad}" if where == "query" else "")
    headers = {k: v.replace(tok, bad) for k, v in headers.items()}
    data = refusal(target, None, url=url, headers=headers)
    assert data == {"message": "unauthorized: token expired"}


def test_session_without_connect_is_closed_after_the_handshake_timeout(
    target: TargetProcess,
) -> None:
    opened = raw_get(target, "/socket.io/?EIO=4&transport=polling").partition(b"\r\n\r\n")[2]
    sid = json.loads(opened[1:])["sid"]
    deadline = time.monotonic() + timeout(10)
    while True:  # long-polls: pings ("2") until the session is closed
        answer = raw_get(target, f"/socket.io/?EIO=4&transport=polling&sid={sid}")
        status, _, body = answer.partition(b"\r\n\r\n")
        if not status.startswith(b"HTTP/1.1 200") or b"1" in body.split(b"\x1e"):
            break
        assert time.monotonic() < deadline, "the session without CONNECT was never closed"
    assert "no CONNECT in 1 s" in target.log_path.read_text()


def next_packets(target: TargetProcess, session: str) -> list[bytes]:
    """The next Engine.IO packets of a polling session other than pings (each answered)."""
    while True:
        body = raw_get(target, session).partition(b"\r\n\r\n")[2]
        packets = [p for p in body.split(b"\x1e") if p != b"2"]
        if len(packets) < len(body.split(b"\x1e")):
            raw_get(target, session, method="POST", body="3")
        if packets:
            return packets


def test_connect_error_on_the_wire(target: TargetProcess) -> None:
    """The packets a hand-made client sees: OPEN, CONNECT with auth, CONNECT_ERROR ``44``."""
    opened = raw_get(target, "/socket.io/?EIO=4&transport=polling").partition(b"\r\n\r\n")[2]
    sid = json.loads(opened[1:])["sid"]
    session = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
    posted = raw_get(target, session, method="POST", body='40{"token":""}')
    assert posted.startswith(b"HTTP/1.1 200") and posted.endswith(b"OK")
    assert next_packets(target, session) == [b'44{"message":"unauthorized: token empty"}']
    # the same session may try again; a valid token connects, and an event with id 0 is acked
    raw_get(target, session, method="POST", body="40" + json.dumps({"token": token()}))
    (connected,) = next_packets(target, session)
    assert connected.startswith(b'40{"sid":"')
    raw_get(target, session, method="POST", body='420["echo",{"n":1}]')
    assert next_packets(target, session) == [b'430[{"n":1}]']
    raw_get(target, session, method="POST", body="1")  # Engine.IO CLOSE
    wait_connections(target, 0)


# --- Refusals -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tok", "message"),
    [
        ("", "unauthorized: token empty"),
        (None, "unauthorized: token missing"),
        ("this-is.not-a.jwt", "unauthorized: token malformed"),
    ],
)
def test_bad_tokens_get_connect_error_naming_the_cause(
    target: TargetProcess, tok: str | None, message: str
) -> None:
    assert refusal(target, tok) == {"message": message}


def test_expired_and_bad_signature_get_connect_error(target: TargetProcess) -> None:
    expired = token(exp_in=-60)
    forged = token(key="x" * 64)
    for tok, message in ((expired, "token expired"), (forged, "token bad signature")):
        data = refusal(target, tok, transports=["polling"])
        assert data == {"message": f"unauthorized: {message}"}
        assert tok not in json.dumps(data)
    assert metric(target, 'ws_rejections_total{cause="expired"}') >= 1
    assert health(target)["connections"] == 0
    log = target.log_path.read_text()
    assert expired not in log and forged not in log and SECRET not in log


def test_capacity_refuses_with_insufficient_resources(target: TargetProcess) -> None:
    first, _ = connect(target, token())
    try:
        wait_connections(target, 1)
        assert health(target)["accepting"] is False
        data = refusal(target, token())
        assert data == {"message": CAPACITY_MESSAGES["connection_limit"].format(limit=1)}
        assert data["message"].startswith("insufficient resources")
        # a refused token never reaches the capacity check
        assert refusal(target, "") == {"message": "unauthorized: token empty"}
    finally:
        first.disconnect()
    wait_connections(target, 0)  # the slot is free again
    again, _ = connect(target, token())
    again.disconnect()


def test_server_disconnect_on_request(target: TargetProcess) -> None:
    c, seen = connect(target, token())
    try:
        c.emit("disconnect_me")
        assert seen.gone.wait(timeout(5))
    finally:
        c.disconnect()
    assert seen.disconnects == [c.reason.SERVER_DISCONNECT]
    wait_connections(target, 0)
    assert health(target)["server_disconnects"] >= 1


# --- Transports, namespace, TLS -------------------------------------------------------


def test_polling_only_target_refuses_websocket_and_serves_polling(logs: Path) -> None:
    with _start(logs, "polling-only", socketio_transports=("polling",)) as t:
        c, seen = client()
        with pytest.raises(socketio.exceptions.ConnectionError):
            c.connect(t.base_http_url, auth={"token": token()}, transports=["websocket"])
        assert seen.errors and not isinstance(seen.errors[0], dict)  # no CONNECT_ERROR
        assert raw_get(t, "/socket.io/?EIO=4&transport=websocket").startswith(b"HTTP/1.1 400")
        c, _ = connect(t, token(), transports=["polling", "websocket"])
        try:
            assert c.call("echo", "p", timeout=timeout(5)) == "p"
            assert c.transport() == "polling"  # no upgrade offered
        finally:
            c.disconnect()
        assert health(t)["transports"] == ["polling"]


def test_namespace_event_and_tls(logs: Path, tmp_path: Path) -> None:
    sio = SocketIO(path="/rt/", namespace="/chat", event="say", auth_field="access_token")
    certs = make_run_certs(tmp_path)
    t = start_target(
        EmbeddedTarget(**QUICK),
        secret=SECRET,
        log_path=logs / "tls.log",
        ready_timeout=30,
        protocol="socketio",
        socketio=sio,
        certs=certs,
        path="/ignored",
    )
    with t:
        assert t.url == f"wss://127.0.0.1:{t.port}/rt/"
        session = requests.Session()
        session.verify = str(certs.ca_file)
        session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the run's CA
        c, seen = client(session=session)
        c.connect(
            t.base_http_url,
            auth={"access_token": token()},
            transports=["websocket"],
            namespaces=["/chat"],
            socketio_path="rt",
            wait_timeout=timeout(5),
        )
        try:
            assert c.call("say", [1, "a"], namespace="/chat", timeout=timeout(5)) == [1, "a"]
        finally:
            c.disconnect()
        # the default namespace is not served
        c, seen = client(session=session)
        with pytest.raises(socketio.exceptions.ConnectionError):
            c.connect(
                t.base_http_url,
                auth={"token": token()},
                transports=["polling"],
                socketio_path="rt",
                wait_timeout=timeout(5),
            )
        assert seen.errors == ["Unable to connect"]  # python-socketio's CONNECT_ERROR


# --- Defects, disconnect-after, shutdown ----------------------------------------------


def test_defects_accept_empty_cache_past_expiry_and_no_capacity_check(logs: Path) -> None:
    defects = ("accept-empty-token", "cache-past-expiry", "no-capacity-check")
    with _start(logs, "defects", max_connections=1, defects=defects) as t:
        short = token(exp_in=1.5)
        held = [connect(t, short)]  # validated, so cached
        held.append(connect(t, ""))  # empty accepted, and over the limit of 1
        wait_connections(t, 2)
        assert refusal(t, None) == {"message": "unauthorized: token missing"}
        assert refusal(t, "x.y.z") == {"message": "unauthorized: token malformed"}
        while time.time() < jwt.decode(short, options={"verify_signature": False})["exp"] + 1:
            time.sleep(0.1)
        held.append(connect(t, short))  # expired, accepted from the cache
        assert metric(t, "ws_cache_hits_total") == 1
        assert health(t)["defects"] == sorted(defects)
        # a graceful stop closes every Engine.IO session (transport close), then exits 0
        assert t.stop() == 0
        for c, seen in held:
            assert seen.gone.wait(timeout(5))
            assert seen.disconnects == [c.reason.SERVER_DISCONNECT]
            c.disconnect()


def test_drop_before_handshake_drops_every_new_session(logs: Path) -> None:
    with _start(logs, "drop", defects=("drop-before-handshake",), drop_probability=1.0) as t:
        for transports in (["websocket"], ["polling"]):
            c, seen = client()
            with pytest.raises(socketio.exceptions.ConnectionError):
                c.connect(t.base_http_url, auth={"token": token()}, transports=transports)
            assert seen.errors and not isinstance(seen.errors[0], dict)
        assert raw_get(t, "/socket.io/?EIO=4&transport=polling") == b""  # not one byte
        assert metric(t, "ws_drops_total") == 3
        assert health(t)["status"] == "ok"  # only the Engine.IO endpoint drops


UPGRADE = (
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n"
)


def test_disconnect_after_and_a_stop_despite_silent_clients(logs: Path) -> None:
    with _start(logs, "disconnect-after", disconnect_after=0.3) as t:
        c, seen = connect(t, token())
        assert seen.gone.wait(timeout(5))
        assert seen.disconnects == [c.reason.SERVER_DISCONNECT]
        c.disconnect()
        wait_connections(t, 0)
        # a WebSocket that never answers and a long-poll pending: the stop still ends, with 0
        with (
            socket.create_connection((t.host, t.port)) as ws,
            socket.create_connection((t.host, t.port)) as poll,
        ):
            ws.sendall(UPGRADE.encode())
            assert ws.recv(4096).startswith(b"HTTP/1.1 101")
            opened = raw_get(t, "/socket.io/?EIO=4&transport=polling").partition(b"\r\n\r\n")
            sid = json.loads(opened[2][1:])["sid"]
            poll.sendall(
                f"GET /socket.io/?EIO=4&transport=polling&sid={sid} HTTP/1.1\r\n"
                "Host: x\r\n\r\n".encode()
            )
            assert t.stop() == 0
    log = t.log_path.read_text()
    assert "Traceback" not in log
    assert "disconnecting" in log


# --- Options, pure helpers ------------------------------------------------------------


def test_first_message_placement_is_refused_in_socketio_mode(tmp_path: Path) -> None:
    with pytest.raises(TargetStartError, match="first_message is not served"):
        start_target(
            EmbeddedTarget(placement="first_message"),
            secret=SECRET,
            log_path=tmp_path / "t.log",
            protocol="socketio",
        )


def test_options_round_trip_through_the_command_line() -> None:
    opts = EmbeddedTarget(socketio_transports=("polling",), ping_interval=0)
    sio = SocketIO(path="/x/", namespace="/ns", event="ping2", auth_field="jwt")
    argv = options_to_argv(
        opts, path=sio.path, protocol="socketio", socketio=sio, disconnect_after=2.5
    )
    args = build_parser().parse_args(argv)
    assert args_to_options(args) == opts
    assert (args.protocol, args.namespace, args.event, args.auth_field) == (
        "socketio",
        "/ns",
        "ping2",
        "jwt",
    )
    assert (path_of(args), args.disconnect_after) == ("/x/", 2.5)
    plain = build_parser().parse_args([])
    assert (plain.protocol, path_of(plain)) == ("websocket", "/ws")
    assert "--protocol" not in options_to_argv(EmbeddedTarget())
    assert path_of(build_parser().parse_args(["--protocol", "socketio"])) == "/socket.io/"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--transports", "carrier-pigeon"])


def test_heartbeat_and_auth_object_rules() -> None:
    assert engineio_heartbeat(0, 0) == {}  # python-socketio's defaults
    assert engineio_heartbeat(0.2, 1.5) == {"ping_interval": 1, "ping_timeout": 1.5}
    assert engineio_heartbeat(5, 0) == {"ping_interval": 5}
    assert connect_token({"token": "abc"}, "token") == "abc"
    assert connect_token({"token": ""}, "token") == ""
    assert connect_token({"jwt": "abc"}, "token") is None
    assert connect_token({"token": None}, "token") is None
    assert connect_token(None, "token") is None
    assert connect_token({"token": 12}, "token") == "?"
