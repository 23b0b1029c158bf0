"""The Socket.IO client (harness.load.socketio) against real servers on loopback ports.

Most tests use the embedded target in Socket.IO mode (python-socketio under aiohttp, a real
process): every token kind that matters over WebSocket, long-polling and an upgraded polling
session; the fallback when the WebSocket is refused; CONNECT_ERROR for auth and capacity; a
server disconnect; heartbeats honoured over a session longer than the ping interval; TLS.
What a correct server never does (stop pinging, send a refusal event, send garbage, put the
token in its error) is played by a scripted Engine.IO server (tests/eioserver.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import socketio

from harness.config.scenario import Auth, EmbeddedTarget, SocketIO
from harness.load.attempt import AttemptInfo, build_record
from harness.load.client import SessionPlan
from harness.load.request import Request
from harness.load.result import Result
from harness.load.socketio import engine_url, open_socketio_attempt
from harness.protocol.outcomes import (
    DEFAULT_APP_CLOSE_CODES,
    DEFAULT_HTTP_STATUSES,
    Outcome,
    SocketIOMeaning,
    classify,
)
from harness.protocol.tokens import mint
from harness.rundir.records import AttemptRecord
from harness.target.certs import make_run_certs
from harness.target.process import TargetProcess, start_target
from tests.eioserver import eio_server

SECRET = "socketio-test-secret-" + "0123456789abcdef" * 2
AUTH = Auth(placement="socketio_auth")
PLAN = SessionPlan(hold=0.6, messages=2, message_bytes=32, reply_timeout=3, close_timeout=1)
WS, POLL, UPGRADE = ("websocket",), ("polling",), ("polling", "websocket")


def target(tmp: Path, opts: EmbeddedTarget, **kwargs: object) -> TargetProcess:
    return start_target(
        opts,
        secret=SECRET,
        log_path=tmp / "target.log",
        protocol="socketio",
        auth=AUTH,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetProcess]:
    # pingInterval 0.5 s, pingTimeout 0.5 s: a client that does not answer pings is dropped
    opts = EmbeddedTarget(ping_interval=0.5, ping_timeout=0.5)
    with target(tmp_path_factory.mktemp("sio"), opts) as t:
        yield t


def attempt(
    url: str,
    kind: str,
    transports: tuple[str, ...],
    plan: SessionPlan = PLAN,
    sio: SocketIO | None = None,
    **req: object,
) -> tuple[Result, AttemptRecord, Outcome]:
    token = mint(kind, AUTH, SECRET, user=1, attempt=1)
    options = sio or SocketIO(transports=transports)
    request = Request(url=url, token=token, placement="socketio_auth", **req)  # type: ignore[arg-type]
    res = open_socketio_attempt(request, plan, options)
    info = AttemptInfo("r", "local", 1, 1, kind, "socketio_auth", token is not None, time.time())
    meaning = SocketIOMeaning.of(options)
    rec, outcome = build_record(info, res, DEFAULT_APP_CLOSE_CODES, DEFAULT_HTTP_STATUSES, meaning)
    return res, rec, outcome


@pytest.mark.parametrize("transports", [WS, POLL, UPGRADE], ids=["websocket", "polling", "upgrade"])
def test_a_valid_token_gets_a_session_with_acknowledged_round_trips(
    embedded: TargetProcess, transports: tuple[str, ...]
) -> None:
    res, rec, outcome = attempt(embedded.url, "valid", transports)
    assert outcome is Outcome.ACCEPTED, res
    assert rec.verdict == "ok"
    assert len(res.rtts_ms) == 2 and res.msgs_unmatched == 0  # each emit acknowledged
    assert rec.transport == ("polling" if transports == POLL else "websocket")
    assert rec.upgraded is (True if transports == UPGRADE else None)
    assert rec.fallback is False
    assert rec.connect_ms is not None and rec.handshake_ms is not None


@pytest.mark.parametrize("transports", [WS, POLL, UPGRADE], ids=["websocket", "polling", "upgrade"])
@pytest.mark.parametrize("kind", ["empty", "expired", "missing"])
def test_a_broken_token_is_a_connect_error_auth(
    embedded: TargetProcess, transports: tuple[str, ...], kind: str
) -> None:
    res, rec, outcome = attempt(embedded.url, kind, transports)
    assert outcome is Outcome.CONNECT_ERROR_AUTH, res
    assert rec.verdict == "ok" and rec.stage == "handshake"
    assert rec.connect_error is not None and "unauthorized" in rec.connect_error
    assert res.upgraded is None  # no session, so no upgrade


def test_the_engine_io_heartbeat_is_answered_through_a_long_session(
    embedded: TargetProcess,
) -> None:
    # 2.5 s held against pingInterval 1 (the target's 0.5 rounded up to python-engineio's
    # whole seconds) + pingTimeout 0.5: a client that did not answer would be dropped at 1.5 s
    long = SessionPlan(hold=2.5, messages=1, message_bytes=16, reply_timeout=3)
    for transports in (WS, POLL):
        res, _, outcome = attempt(embedded.url, "valid", transports, long)
        assert outcome is Outcome.ACCEPTED, res
        assert res.pings >= 2, res


def test_an_http_url_and_a_ws_url_reach_the_same_service(embedded: TargetProcess) -> None:
    http = embedded.url.replace("ws://", "http://")
    assert engine_url(Request(url=http, token=None), SocketIO(), "websocket").startswith("ws://")
    res, _, outcome = attempt(http, "valid", POLL)
    assert outcome is Outcome.ACCEPTED, res


def test_fallback_to_polling_when_the_websocket_is_refused(tmp_path: Path) -> None:
    opts = EmbeddedTarget(socketio_transports=("polling",))  # as a proxy blocking the upgrade
    with target(tmp_path, opts) as t:
        res, rec, outcome = attempt(t.url, "valid", ("websocket", "polling"))
        assert outcome is Outcome.ACCEPTED, res
        assert rec.transport == "polling" and rec.fallback is True
        assert len(res.rtts_ms) == 2
        res, rec, outcome = attempt(t.url, "expired", ("websocket", "polling"))
        assert outcome is Outcome.CONNECT_ERROR_AUTH and rec.fallback is True
        res, rec, outcome = attempt(t.url, "valid", WS)  # no fallback allowed
        assert outcome is Outcome.REJECTED_STATUS and rec.http_status == 400, res
        assert rec.fallback is False


def test_over_capacity_is_a_connect_error_capacity(tmp_path: Path) -> None:
    with target(tmp_path, EmbeddedTarget(max_connections=1)) as t:
        holder = socketio.SimpleClient()
        token = mint("valid", AUTH, SECRET, user=9, attempt=1)
        holder.connect(
            t.url.replace("ws://", "http://").removesuffix("/socket.io/"),
            auth={"token": token},
            transports=["websocket"],
        )
        try:
            res, rec, outcome = attempt(t.url, "valid", WS)
        finally:
            holder.disconnect()
    assert outcome is Outcome.CONNECT_ERROR_CAPACITY, res
    assert rec.verdict == "valid_refused" and rec.manner == "graceful"
    assert rec.connect_error is not None and "insufficient resources" in rec.connect_error


def test_a_server_disconnect_is_its_own_outcome(tmp_path: Path) -> None:
    hold = SessionPlan(hold=5, messages=0, reply_timeout=2)
    with target(tmp_path, EmbeddedTarget(), disconnect_after=0.3) as t:
        for transports in (WS, POLL):
            res, rec, outcome = attempt(t.url, "valid", transports, hold)
            assert outcome is Outcome.SERVER_DISCONNECT, res
            assert rec.closed_by == "server" and rec.verdict == "valid_refused"
            assert res.open_s is not None and res.open_s < 4  # ended by the server, not the hold


def test_tls_over_both_transports(tmp_path: Path) -> None:
    certs = make_run_certs(tmp_path)
    with target(tmp_path, EmbeddedTarget(), certs=certs) as t:
        assert t.url.startswith("wss://")
        for transports in (WS, POLL, UPGRADE):
            res, rec, outcome = attempt(t.url, "valid", transports, ca_file=str(certs.ca_file))
            assert outcome is Outcome.ACCEPTED, res
            assert rec.tls_ms is not None and rec.tls_ms > 0
        res, _, outcome = attempt(t.url, "valid", POLL)  # the run's CA not trusted
        assert outcome is Outcome.TLS_UNTRUSTED, res


# --- What a correct server never does -------------------------------------------------


def test_a_server_that_stops_pinging_is_a_dead_connection() -> None:
    # pingInterval 300 + pingTimeout 200 ms announced, no ping ever sent
    with eio_server(["40{}"], ping_interval_ms=300, ping_timeout_ms=200) as url:
        res, rec, outcome = attempt(url, "valid", POLL, SessionPlan(hold=5, messages=0))
    assert outcome is Outcome.TIMEOUT_HEARTBEAT, res
    assert rec.gave_up == "heartbeat" and rec.closed_by == "client"
    assert rec.verdict == "abrupt"


def test_a_mapped_server_event_ends_the_attempt_as_a_refusal() -> None:
    script = ["40{}", '42["auth_error",{"message":"session expired"}]']
    plan = SessionPlan(hold=3, messages=0)
    mapped = SocketIO(transports=POLL, events={"auth_error": "auth"})
    with eio_server(script, ping_interval_ms=25000) as url:
        res, rec, outcome = attempt(url, "valid", POLL, plan, mapped)
    assert outcome is Outcome.EVENT_AUTH, res
    assert rec.verdict == "valid_refused" and "auth_error" in (rec.error or "")
    with eio_server(script, ping_interval_ms=25000) as url:  # not mapped: just a message
        res, _, outcome = attempt(url, "valid", POLL, SessionPlan(hold=0.5, messages=0))
    assert outcome is Outcome.ACCEPTED and res.msgs_unmatched == 1, res


def test_an_unreadable_packet_is_a_protocol_error() -> None:
    with eio_server(["40{}", "9garbage"], ping_interval_ms=25000) as url:
        res, _, outcome = attempt(url, "valid", POLL, SessionPlan(hold=3, messages=0))
    assert outcome is Outcome.PROTOCOL_ERROR, res
    assert "eio_type" in (res.error or "")


def test_the_token_never_reaches_the_record() -> None:
    token = mint("expired", AUTH, SECRET, user=1, attempt=1)
    assert token
    with eio_server([f'44{{"message":"invalid token {token}"}}']) as url:
        res = open_socketio_attempt(
            Request(url=url, token=token, placement="socketio_auth"),
            PLAN,
            SocketIO(transports=POLL),
        )
    assert classify(res.observation) is Outcome.CONNECT_ERROR_AUTH
    assert token not in (res.error or "") and token not in (res.connect_error or "")
    assert "invalid token" in (res.connect_error or "")


def test_connect_error_messages_are_classified_by_the_scenarios_patterns() -> None:
    script = ['44{"message":"quota reached"}']
    with eio_server(script) as url:
        res, _, outcome = attempt(url, "valid", POLL)
    assert outcome is Outcome.CONNECT_ERROR_OTHER, res
    custom = SocketIO(transports=POLL, capacity_errors=("quota",))
    with eio_server(script) as url:
        res, rec, outcome = attempt(url, "valid", POLL, sio=custom)
    assert outcome is Outcome.CONNECT_ERROR_CAPACITY, res
    assert rec.verdict == "valid_refused"


def test_a_plain_websocket_scenario_at_a_socketio_service_is_a_mismatch(
    embedded: TargetProcess,
) -> None:
    from harness.load.client import open_attempt

    url = engine_url(Request(url=embedded.url, token=None), SocketIO(), "websocket")
    token = mint("bad_signature", AUTH, SECRET, user=1, attempt=1)
    res = open_attempt(Request(url=url, token=token), PLAN)
    info = AttemptInfo("r", "local", 1, 1, "bad_signature", "query", True, time.time())
    rec, outcome = build_record(info, res, DEFAULT_APP_CLOSE_CODES)
    assert outcome is Outcome.PROTOCOL_MISMATCH, res  # never "invalid token accepted"
    assert rec.verdict == "excluded"


def test_client_sockets_send_small_frames_at_once(embedded: TargetProcess) -> None:
    # without TCP_NODELAY a frame after a small one (a pong, then an event) waits ~40 ms for
    # the delayed ACK, and the round trip measured is the kernel's, not the server's
    import socket as sockets

    from harness.load.dial import endpoint, tcp_connect
    from harness.protocol.outcomes import Observation, Stage

    host, port, _ = endpoint(embedded.url)
    sock = tcp_connect(host, port, 2.0, Result(Observation(Stage.CONNECT)), [])
    assert isinstance(sock, sockets.socket)
    with sock:
        assert sock.getsockopt(sockets.IPPROTO_TCP, sockets.TCP_NODELAY)
