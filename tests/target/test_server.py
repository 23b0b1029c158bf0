"""Integration tests of the embedded target: a real subprocess on a loopback, OS-chosen port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from harness.config.scenario import EmbeddedTarget
from harness.errors import TargetStartError
from harness.target.auth import CAUSES, REJECTIONS
from harness.target.options import args_to_options, build_parser, options_to_argv
from harness.target.process import TargetProcess, start_target

#: Multiplies every timeout here, for slow CI machines.
SCALE = float(os.environ.get("HARNESS_TEST_TIMEOUT_SCALE", "1"))
SECRET = "integration-secret-" + "0123456789abcdef" * 3


def timeout(seconds: float) -> float:
    return seconds * SCALE


def sign(claims: dict[str, Any], *, key: str | None = SECRET, alg: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=alg)


def token_for(cause: str | None) -> str | None:
    """A token that the target refuses for ``cause`` (None: a valid one)."""
    now = int(time.time())
    return {
        None: sign({"sub": "u", "exp": now + 300}),
        "missing": None,
        "empty": "",
        "malformed": "this-is.not-a.jwt",
        "alg_none": sign({"sub": "u", "exp": now + 300}, key=None, alg="none"),
        "algorithm_not_allowed": sign({"sub": "u", "exp": now + 300}, alg="HS512"),
        "bad_signature": sign({"sub": "u", "exp": now + 300}, key="x" * 64),
        "expired": sign({"sub": "u", "exp": now - 60}),
        "not_yet_valid": sign({"sub": "u", "nbf": now + 3600, "exp": now + 7200}),
        "claims_invalid": sign({"sub": "u"}),  # no exp
    }[cause]


def ws_url(target: TargetProcess, token: str | None) -> str:
    return target.url if token is None else f"{target.url}?token={token}"


def open_ws(target: TargetProcess, token: str | None, **kw: Any) -> ClientConnection:
    url = ws_url(target, token)
    return connect(url, open_timeout=timeout(5), close_timeout=1, legacy=True, **kw)


def refused_status(url: str, **kw: Any) -> InvalidStatus:
    with pytest.raises(InvalidStatus) as info:
        connect(url, open_timeout=timeout(5), legacy=True, **kw).close()
    return info.value


def server_close(ws: ClientConnection) -> tuple[int | None, str]:
    """Wait for the server to close ``ws``; its close code and reason."""
    with ws, pytest.raises(ConnectionClosed) as info:
        ws.recv(timeout=timeout(5))
    rcvd = info.value.rcvd
    return (rcvd.code, rcvd.reason) if rcvd is not None else (None, "")


def echo(ws: ClientConnection, message: str | bytes) -> str | bytes:
    ws.send(message)
    return ws.recv(timeout=timeout(5))


def get(target: TargetProcess, path: str) -> tuple[int, str, str]:
    """Status, Content-Type and body of a plain HTTP GET."""
    try:
        with urllib.request.urlopen(target.base_http_url + path, timeout=timeout(5)) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def health(target: TargetProcess) -> dict[str, Any]:
    status, _, body = get(target, "/health")
    assert status == 200
    doc: dict[str, Any] = json.loads(body)
    return doc


def wait_connections(target: TargetProcess, n: int) -> None:
    deadline = time.monotonic() + timeout(5)
    while health(target)["connections"] != n:
        assert time.monotonic() < deadline, f"target never got to {n} open connections"
        time.sleep(0.02)


def metric(target: TargetProcess, line_start: str) -> float:
    _, _, body = get(target, "/metrics")
    for line in body.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{line_start} not in /metrics")


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("target-logs")


def _start(logs: Path, name: str, **opts: Any) -> TargetProcess:
    return start_target(
        EmbeddedTarget(**opts), secret=SECRET, log_path=logs / f"{name}.log", ready_timeout=30
    )


@pytest.fixture(scope="module")
def upgrade_target(logs: Path) -> Iterator[TargetProcess]:
    with _start(logs, "upgrade", max_connections=2, handshake_timeout=1.0) as target:
        yield target


@pytest.fixture(scope="module")
def close_target(logs: Path) -> Iterator[TargetProcess]:
    opts = {"rejection": "close", "capacity_rejection": "close", "max_connections": 2}
    with _start(logs, "close", **opts) as target:
        yield target


# --- Auth -----------------------------------------------------------------------------


@pytest.mark.parametrize("cause", CAUSES)
def test_rejected_at_upgrade(upgrade_target: TargetProcess, cause: str) -> None:
    exc = refused_status(ws_url(upgrade_target, token_for(cause)))
    row = REJECTIONS[cause]
    assert exc.response.status_code == row.status == (403 if cause == "claims_invalid" else 401)
    assert row.reason in exc.response.body.decode()
    assert exc.response.headers["WWW-Authenticate"] == (
        f'Bearer error="invalid_token", error_description="{cause}"'
    )


@pytest.mark.parametrize("cause", CAUSES)
def test_rejected_by_close(close_target: TargetProcess, cause: str) -> None:
    ws = open_ws(close_target, token_for(cause))
    assert ws.response.status_code == 101
    code, reason = server_close(ws)
    assert code == (4403 if cause == "claims_invalid" else 4401)
    assert reason == REJECTIONS[cause].reason


@pytest.mark.parametrize("cause", ["empty", "expired"])
def test_bearer_header_is_read(upgrade_target: TargetProcess, cause: str) -> None:
    headers = {"Authorization": f"Bearer {token_for(cause)}"}
    exc = refused_status(upgrade_target.url, additional_headers=headers)
    assert REJECTIONS[cause].reason in exc.response.body.decode()
    valid = {"Authorization": f"Bearer {token_for(None)}"}
    with connect(upgrade_target.url, additional_headers=valid) as ws:
        assert echo(ws, "via header") == "via header"


@pytest.mark.parametrize("fixture", ["upgrade_target", "close_target"])
def test_valid_token_accepted_and_echoed(fixture: str, request: pytest.FixtureRequest) -> None:
    target: TargetProcess = request.getfixturevalue(fixture)
    with open_ws(target, token_for(None)) as ws:
        assert ws.response.status_code == 101
        # Compression is off, so the sizes on the wire are the real ones.
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert echo(ws, "hello") == "hello"
        payload = os.urandom(4096)
        assert echo(ws, payload) == payload


def test_token_and_secret_never_logged(upgrade_target: TargetProcess) -> None:
    tokens = [token_for(None), token_for("expired")]
    for tok in tokens:
        with contextlib.suppress(InvalidStatus):
            open_ws(upgrade_target, tok).close()
    log = Path(upgrade_target.log_path).read_text()
    assert "refused" in log and "accepted" in log
    cmdline = Path(f"/proc/{upgrade_target.pid}/cmdline").read_bytes().decode()
    assert "--secret-env" in cmdline and SECRET not in cmdline
    assert SECRET not in log
    for tok in tokens:
        assert tok and tok not in log


# --- Capacity -------------------------------------------------------------------------


def test_capacity_limit_at_upgrade(upgrade_target: TargetProcess) -> None:
    wait_connections(upgrade_target, 0)
    with open_ws(upgrade_target, token_for(None)), open_ws(upgrade_target, token_for(None)):
        assert health(upgrade_target)["connections"] == 2
        exc = refused_status(ws_url(upgrade_target, token_for(None)))
        assert exc.response.status_code == 503
        assert exc.response.headers["Retry-After"] == "1"
        assert "connection limit 2 reached" in exc.response.body.decode()
        # A refused token never takes a slot, even when the target is full.
        assert refused_status(ws_url(upgrade_target, "")).response.status_code == 401
    wait_connections(upgrade_target, 0)
    with open_ws(upgrade_target, token_for(None)) as ws:  # recovered
        assert echo(ws, "again") == "again"


def test_capacity_limit_by_close(close_target: TargetProcess) -> None:
    wait_connections(close_target, 0)
    with open_ws(close_target, token_for(None)), open_ws(close_target, token_for(None)):
        third = open_ws(close_target, token_for(None))
        assert third.response.status_code == 101
        assert server_close(third) == (1013, "try again later: connection limit 2 reached")


def test_memory_threshold_refuses_by_close(logs: Path) -> None:
    with _start(logs, "rss", max_rss_mb=1.0, capacity_rejection="close") as target:
        ws = open_ws(target, token_for(None))
        assert server_close(ws) == (1013, "try again later: memory above 1 MB")
        assert health(target)["accepting"] is False
        assert metric(target, 'ws_rejections_total{cause="memory"}') == 1


# --- Endpoints ------------------------------------------------------------------------


def test_health(upgrade_target: TargetProcess) -> None:
    status, ctype, body = get(upgrade_target, "/health")
    assert (status, ctype) == (200, "application/json; charset=utf-8")
    doc = json.loads(body)
    assert doc["status"] == "ok"
    assert doc["max_connections"] == 2
    assert doc["defects"] == []
    assert doc["rss_mb"] > 1 and doc["uptime_s"] > 0
    assert {"connections", "cpu_percent"} <= doc.keys()


def test_metrics_count_rejections_and_messages(upgrade_target: TargetProcess) -> None:
    expired = 'ws_rejections_total{cause="expired"}'
    before = (metric(upgrade_target, expired), metric(upgrade_target, "ws_messages_total"))
    refused_status(ws_url(upgrade_target, token_for("expired")))
    with open_ws(upgrade_target, token_for(None)) as ws:
        echo(ws, "one")
        echo(ws, b"two")
    after = (metric(upgrade_target, expired), metric(upgrade_target, "ws_messages_total"))
    assert (after[0] - before[0], after[1] - before[1]) == (1, 2)
    assert metric(upgrade_target, "ws_connections_total") >= 1
    assert metric(upgrade_target, "process_resident_memory_bytes") > 1_000_000
    _, ctype, body = get(upgrade_target, "/metrics")
    assert ctype.startswith("text/plain; version=0.0.4")
    assert "# TYPE ws_connections_open gauge" in body


def test_unknown_path_is_404(upgrade_target: TargetProcess) -> None:
    assert get(upgrade_target, "/nope")[0] == 404
    other = upgrade_target.url.removesuffix("/ws") + "/other"
    assert refused_status(other).response.status_code == 404


def test_handshake_timeout_closes_silent_clients(upgrade_target: TargetProcess) -> None:
    with socket.create_connection(("127.0.0.1", upgrade_target.port), timeout=timeout(5)) as s:
        started = time.monotonic()
        assert s.recv(1024) == b""  # closed by the server after handshake_timeout (1 s)
        assert time.monotonic() - started < timeout(3)


# --- Defects --------------------------------------------------------------------------


def test_accept_empty_token(logs: Path) -> None:
    with _start(logs, "empty", defects=("accept-empty-token",)) as target:
        with open_ws(target, "") as ws:
            assert echo(ws, "anonymous") == "anonymous"
        assert refused_status(ws_url(target, None)).response.status_code == 401  # missing
        assert refused_status(ws_url(target, token_for("expired"))).response.status_code == 401


def test_cache_past_expiry(logs: Path, upgrade_target: TargetProcess) -> None:
    exp = int(time.time()) + 2
    token = sign({"sub": "short-lived", "exp": exp})
    with _start(logs, "cache", defects=("cache-past-expiry",)) as target:
        for t in (target, upgrade_target):
            with open_ws(t, token) as ws:  # valid now: fills the cache on the defective one
                assert echo(ws, "fresh") == "fresh"
        while time.time() < exp + 0.5:
            time.sleep(0.1)
        with open_ws(target, token) as ws:  # accepted from the cache past exp: the defect
            assert echo(ws, "stale") == "stale"
        assert metric(target, "ws_cache_hits_total") == 1
    exc = refused_status(ws_url(upgrade_target, token))  # the careful target says expired
    assert "token expired" in exc.response.body.decode()


def test_no_capacity_check(logs: Path) -> None:
    with _start(logs, "nocap", defects=("no-capacity-check",), max_connections=2) as target:
        conns = [open_ws(target, token_for(None)) for _ in range(4)]
        try:
            for i, ws in enumerate(conns):
                assert echo(ws, f"n{i}") == f"n{i}"
            assert health(target)["connections"] == 4
        finally:
            for ws in conns:
                ws.close()


def test_drop_before_handshake(logs: Path) -> None:
    opts = {"defects": ("drop-before-handshake",), "drop_probability": 1.0}
    with _start(logs, "drop", **opts) as target:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", target.port), timeout=timeout(5)) as s:
                s.sendall(
                    f"GET /ws?token={token_for(None)} HTTP/1.1\r\nHost: x\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n".encode()
                )
                try:
                    data = s.recv(1024)
                except ConnectionResetError:
                    data = b""
                assert data == b"", f"expected EOF/reset before any status line, got {data!r}"
        assert health(target)["status"] == "ok"  # other endpoints are not dropped
        assert metric(target, "ws_drops_total") == 3
        assert metric(target, "ws_connections_total") == 0
        target.stop()
        log = target.log_path.read_text()
    assert "dropped" in log
    assert "Traceback" not in log


# --- Process lifecycle and CLI --------------------------------------------------------


def test_sigterm_closes_with_1001_and_exits_promptly(logs: Path) -> None:
    target = _start(logs, "sigterm")
    try:
        ws = open_ws(target, token_for(None))
        started = time.monotonic()
        os.kill(target.pid, signal.SIGTERM)
        assert server_close(ws)[0] == 1001
        assert target.popen.wait(timeout=3) == 0
        assert time.monotonic() - started < 3
        assert not target.alive()
    finally:
        target.stop()
    assert target.stop() == 0  # idempotent


def test_start_fails_without_secret(tmp_path: Path) -> None:
    with pytest.raises(TargetStartError, match="no secret") as info:
        start_target(EmbeddedTarget(), secret="", log_path=tmp_path / "t.log")
    assert "exited with status 2" in str(info.value)
    assert "Traceback" not in str(info.value)


def test_start_fails_on_bad_option_and_does_not_leak_the_secret(tmp_path: Path) -> None:
    with pytest.raises(TargetStartError, match="max-connections") as info:
        start_target(EmbeddedTarget(max_connections=0), secret=SECRET, log_path=tmp_path / "t.log")
    assert SECRET not in str(info.value)
    assert SECRET not in (tmp_path / "t.log").read_text()


def test_cli_without_secret_is_one_line_exit_2() -> None:
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_JWT_SECRET"}
    proc = subprocess.run(
        [sys.executable, "-m", "harness.target", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout(30),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "HARNESS_JWT_SECRET" in proc.stderr and "Traceback" not in proc.stderr


def test_options_round_trip_through_argv() -> None:
    opts = EmbeddedTarget(
        rejection="close",
        capacity_rejection="close",
        max_connections=7,
        max_rss_mb=512.5,
        max_cpu_percent=80,
        handshake_timeout=2.5,
        ping_interval=0,
        ping_timeout=3,
        defects=("accept-empty-token", "drop-before-handshake"),
        drop_probability=0.25,
        cache_ttl=9,
    )
    argv = options_to_argv(opts, path="/chat", query_param="jwt", algorithm="HS512")
    assert SECRET not in argv
    args = build_parser().parse_args(argv)
    assert args_to_options(args) == opts
    assert (args.path, args.query_param, args.algorithm) == ("/chat", "jwt", "HS512")
