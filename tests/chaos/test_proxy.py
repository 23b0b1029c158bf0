"""The chaos proxy in front of the real reference target, each toxic seen by a real client."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosedError
from websockets.sync.client import ClientConnection, connect

from harness.chaos.proxy.relay import Relay
from harness.chaos.proxy.server import ChaosProxy, ProxyThread
from harness.chaos.proxy.streams import StreamConn
from harness.chaos.proxy.toxics import (
    Bandwidth,
    Blackhole,
    ConnectionCap,
    CutHandshake,
    Latency,
    Reset,
    Toxic,
)
from harness.config.scenario import Auth, EmbeddedTarget
from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request
from harness.load.result import Result
from harness.protocol.outcomes import Manner, Outcome, classify, manner
from harness.protocol.tokens import mint, new_secret
from harness.target.process import TargetProcess, start_target
from tests.conftest import scaled

SECRET = new_secret()
AUTH = Auth()
QUICK = SessionPlan(hold=0.2, messages=1, message_bytes=64, reply_timeout=5)
NO_SESSION = SessionPlan(hold=0.0, messages=0)


def start(tmp: Path, secret: str = SECRET) -> TargetProcess:
    return start_target(EmbeddedTarget(ping_interval=0), secret=secret, log_path=tmp / "target.log")


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetProcess]:
    with start(tmp_path_factory.mktemp("target")) as t:
        yield t


@pytest.fixture
def pt(target: TargetProcess) -> Iterator[ProxyThread]:
    thread = ProxyThread(ChaosProxy(target.host, target.port, seed=7))
    thread.start()
    yield thread
    thread.stop()


def url(pt: ProxyThread) -> str:
    return f"ws://127.0.0.1:{pt.proxy.port}/ws"


def attempt(
    pt: ProxyThread,
    plan: SessionPlan = QUICK,
    *,
    handshake_timeout: float = 5.0,
    secret: str = SECRET,
) -> tuple[Outcome, Result]:
    """One real client attempt through the proxy with a valid token; its outcome and result."""
    req = Request(
        url=url(pt),
        token=mint("valid", AUTH, secret),
        handshake_timeout=scaled(handshake_timeout),
    )
    res = open_attempt(req, plan)
    return classify(res.observation), res


def toxic(pt: ProxyThread, key: str, t: Toxic) -> None:
    pt.call(pt.proxy.set_toxic, key, t)


def clear(pt: ProxyThread, key: str | None = None) -> None:
    if key is None:
        pt.call(pt.proxy.clear_all)
    else:
        pt.call(pt.proxy.clear_toxic, key)


def occupant(pt: ProxyThread) -> ClientConnection:
    """An open WebSocket through the proxy: it holds one slot of a connection cap."""
    return connect(
        f"{url(pt)}?token={mint('valid', AUTH, SECRET)}", open_timeout=scaled(5), legacy=True
    )


def wait_for(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + scaled(timeout)
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def in_thread(fn: Callable[[], tuple[Outcome, Result]]) -> tuple[threading.Thread, list[Outcome]]:
    out: list[Outcome] = []
    th = threading.Thread(target=lambda: out.append(fn()[0]), daemon=True)
    th.start()
    return th, out


def assert_restored(pt: ProxyThread) -> None:
    outcome, res = attempt(pt)
    assert outcome is Outcome.ACCEPTED, res.error
    assert res.msgs_recv == res.msgs_sent == 1


def assert_reset_at_accept(outcome: Outcome, res: Result) -> None:
    """What a client sees of an RST sent right at accept: an abrupt end, two ways.

    The kernel completes the TCP handshake before the proxy accepts, so the client's
    connect usually succeeds and the RST hits its upgrade request or the wait for the
    answer: ``abnormal_handshake`` ("closed before the connection is established"),
    about 94 % of attempts on loopback. When the RST lands before the client's
    ``connect()`` has read the socket's status, connect itself fails with ECONNRESET:
    ``connect_error`` (about 6 %). Both are abrupt; the errno is ECONNRESET (or EPIPE
    when the upgrade is written after the RST).
    """
    assert outcome in (Outcome.ABNORMAL_HANDSHAKE, Outcome.CONNECT_ERROR), res.error
    assert manner(outcome) is Manner.ABRUPT
    assert res.observation.errno in (errno.ECONNRESET, errno.EPIPE), res.error


# --- No toxic ---------------------------------------------------------------------------


def test_no_toxic_accepts_and_echoes(pt: ProxyThread) -> None:
    outcome, res = attempt(pt, SessionPlan(hold=0.3, messages=2, message_bytes=256))
    assert outcome is Outcome.ACCEPTED, res.error
    assert res.msgs_recv == res.msgs_sent == 2
    payload = os.urandom(1000)
    with occupant(pt) as ws:
        ws.send(payload)
        assert ws.recv(timeout=scaled(5)) == payload
    assert pt.proxy.total_connections == 2
    wait_for(lambda: pt.proxy.active_connections == 0)


# --- Connection cap ---------------------------------------------------------------------


def test_cap_reset_resets_the_excess(pt: ProxyThread) -> None:
    toxic(pt, "cap", ConnectionCap(1, "reset"))
    with occupant(pt):
        assert_reset_at_accept(*attempt(pt))
        clear(pt, "cap")
        assert_restored(pt)


def test_cap_refuse_answers_503(pt: ProxyThread) -> None:
    toxic(pt, "cap", ConnectionCap(1, "refuse"))
    with occupant(pt):
        outcome, res = attempt(pt)
        assert outcome is Outcome.REJECTED_CAPACITY, res.error
        assert res.observation.http_status == 503
        with socket.create_connection(("127.0.0.1", pt.proxy.port), timeout=scaled(5)) as s:
            s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
            raw = b""
            while chunk := s.recv(4096):
                raw += chunk
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        assert lines[0] == "HTTP/1.1 503 Service Unavailable"
        assert "Retry-After: 1" in lines and "Connection: close" in lines
        assert f"Content-Length: {len(body)}" in lines and body
        clear(pt)
        assert_restored(pt)


def test_cap_hold_times_out_then_proceeds_when_a_slot_frees(pt: ProxyThread) -> None:
    toxic(pt, "cap", ConnectionCap(1, "hold"))
    ws = occupant(pt)
    outcome, res = attempt(pt, handshake_timeout=1.0)
    assert outcome is Outcome.TIMEOUT_HANDSHAKE, res.error
    wait_for(lambda: pt.proxy.active_connections == 1)  # a held client that gave up is dropped
    th, out = in_thread(lambda: attempt(pt, handshake_timeout=10.0))
    wait_for(lambda: pt.proxy.active_connections == 2)
    time.sleep(0.3)
    assert not out, "a held connection must not be forwarded"
    ws.close()  # the slot frees: the held one is admitted and its upgrade forwarded
    th.join(scaled(10))
    assert out == [Outcome.ACCEPTED]


def test_cap_hold_proceeds_when_cleared_even_from_another_thread(pt: ProxyThread) -> None:
    pt.proxy.set_toxic("cap", ConnectionCap(0, "hold"))  # not via call(): a foreign thread
    th, out = in_thread(lambda: attempt(pt, handshake_timeout=10.0))
    wait_for(lambda: pt.proxy.active_connections == 1)
    time.sleep(0.3)
    assert not out
    pt.proxy.clear_toxic("cap")
    th.join(scaled(10))
    assert out == [Outcome.ACCEPTED]


# --- Blackhole, cut, reset --------------------------------------------------------------


def test_blackhole_silences_new_and_existing_connections(pt: ProxyThread) -> None:
    with occupant(pt) as ws:
        toxic(pt, "bh", Blackhole())
        outcome, res = attempt(pt, handshake_timeout=1.0)
        assert outcome is Outcome.TIMEOUT_HANDSHAKE, res.error
        ws.send(b"lost")
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)
        clear(pt, "bh")
        ws.send(b"after")
        assert ws.recv(timeout=scaled(5)) == b"after"
    assert_restored(pt)


def test_cut_handshake_closes_before_the_101(pt: ProxyThread) -> None:
    toxic(pt, "cut", CutHandshake())
    outcome, res = attempt(pt)
    assert outcome is Outcome.ABNORMAL_HANDSHAKE, res.error
    assert res.observation.http_status is None
    clear(pt, "cut")
    assert_restored(pt)


def test_reset_at_accept_and_after_a_delay(pt: ProxyThread) -> None:
    toxic(pt, "r", Reset())
    assert_reset_at_accept(*attempt(pt))
    toxic(pt, "r", Reset(probability=0.0))
    assert attempt(pt)[0] is Outcome.ACCEPTED
    toxic(pt, "r", Reset(after_ms=300))
    outcome, res = attempt(pt, SessionPlan(hold=1.0, messages=1))
    assert outcome is Outcome.ABNORMAL_CLOSURE, res.error
    assert res.observation.errno == errno.ECONNRESET
    assert res.open_s is not None and 0.1 < res.open_s < 0.95
    clear(pt, "r")
    assert_restored(pt)


# --- Latency, bandwidth -----------------------------------------------------------------


def test_latency_delays_both_directions_and_keeps_order(pt: ProxyThread) -> None:
    toxic(pt, "lat", Latency(200))
    outcome, res = attempt(pt)
    assert outcome is Outcome.ACCEPTED, res.error
    # request and response each wait 200 ms: about 400 ms
    assert res.handshake_ms is not None and res.handshake_ms >= 360
    assert res.rtts_ms and res.rtts_ms[0] >= 360
    toxic(pt, "lat", Latency(50, jitter_ms=50))
    with occupant(pt) as ws:
        sent = [os.urandom(100 + i) for i in range(20)]
        for m in sent:
            ws.send(m)
        assert [ws.recv(timeout=scaled(5)) for _ in sent] == sent
    clear(pt, "lat")
    outcome, res = attempt(pt)
    assert outcome is Outcome.ACCEPTED and res.handshake_ms is not None
    assert res.handshake_ms < 200


def test_bandwidth_caps_each_direction(pt: ProxyThread) -> None:
    toxic(pt, "bw", Bandwidth(8))
    plan = SessionPlan(hold=0.1, messages=1, message_bytes=32 * 1024, reply_timeout=scaled(30))
    outcome, res = attempt(pt, plan)
    assert outcome is Outcome.ACCEPTED, res.error
    # 32 KiB up at 8 KiB/s, then 32 KiB back: about 8 s
    assert res.rtts_ms and 6000 <= res.rtts_ms[0] <= scaled(25_000)
    clear(pt, "bw")
    outcome, res = attempt(pt, plan)
    assert outcome is Outcome.ACCEPTED and res.rtts_ms and res.rtts_ms[0] < 2000


def test_several_toxics_at_once(pt: ProxyThread) -> None:
    toxic(pt, "lat", Latency(150))
    toxic(pt, "cap", ConnectionCap(0, "refuse"))
    assert attempt(pt)[0] is Outcome.REJECTED_CAPACITY
    clear(pt, "cap")
    clear(pt, "cap")  # idempotent
    outcome, res = attempt(pt)
    assert outcome is Outcome.ACCEPTED and res.handshake_ms is not None
    assert res.handshake_ms >= 270
    assert set(pt.proxy.toxics) == {"lat"}
    clear(pt)
    assert pt.proxy.toxics == {}


# --- Upstream and lifecycle -------------------------------------------------------------


def test_set_upstream_sends_new_connections_to_another_target(
    pt: ProxyThread, tmp_path: Path
) -> None:
    other_secret = new_secret()
    with start(tmp_path, other_secret) as other:
        assert attempt(pt, secret=other_secret)[0] is Outcome.REJECTED_AUTH
        pt.call(pt.proxy.set_upstream, other.host, other.port)
        assert attempt(pt, secret=other_secret)[0] is Outcome.ACCEPTED
        assert attempt(pt)[0] is Outcome.REJECTED_AUTH


def test_upstream_down_resets_the_client(pt: ProxyThread) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]  # bound, never listening: connections are refused
        pt.call(pt.proxy.set_upstream, "127.0.0.1", free_port)
        assert_reset_at_accept(*attempt(pt))


def test_stop_closes_live_and_held_connections(pt: ProxyThread) -> None:
    live, live_out = in_thread(lambda: attempt(pt, SessionPlan(hold=10.0, messages=0)))
    wait_for(lambda: pt.proxy.active_connections == 1)
    toxic(pt, "cap", ConnectionCap(0, "hold"))
    held, held_out = in_thread(lambda: attempt(pt, handshake_timeout=10.0))
    wait_for(lambda: pt.proxy.active_connections == 2)
    time.sleep(scaled(0.3))  # let the live one finish its handshake
    endpoint = url(pt)
    t0 = time.monotonic()
    pt.stop()
    live.join(scaled(5))
    held.join(scaled(5))
    assert time.monotonic() - t0 < scaled(4)
    assert live_out == [Outcome.ABNORMAL_CLOSURE]
    assert held_out == [Outcome.ABNORMAL_HANDSHAKE]
    assert pt.proxy.active_connections == 0
    req = Request(url=endpoint, token="t", connect_timeout=scaled(2))
    assert classify(open_attempt(req, NO_SESSION).observation) is Outcome.REFUSED


# --- Fast path and the move to the toxic path -------------------------------------------


def test_toxics_reach_live_connections_and_cut_spares_answered_ones(pt: ProxyThread) -> None:
    with occupant(pt) as ws:  # on the fast path
        toxic(pt, "cut", CutHandshake())
        ws.send(b"a")
        assert ws.recv(timeout=scaled(5)) == b"a"  # answered before the cut: kept
        toxic(pt, "lat", Latency(150))
        t0 = time.monotonic()
        ws.send(b"b")
        assert ws.recv(timeout=scaled(5)) == b"b"
        assert time.monotonic() - t0 >= 0.27  # moved to the toxic path: 150 ms each way
        clear(pt)
        t0 = time.monotonic()
        ws.send(b"c")
        assert ws.recv(timeout=scaled(5)) == b"c"
        assert time.monotonic() - t0 < 0.2


def test_reset_after_ms_holds_across_the_move_to_the_toxic_path(pt: ProxyThread) -> None:
    toxic(pt, "r", Reset(after_ms=600))
    t0 = time.monotonic()
    with occupant(pt) as ws:
        toxic(pt, "lat", Latency(10))
        ws.send(b"x")
        assert ws.recv(timeout=scaled(5)) == b"x"
        with pytest.raises(ConnectionClosedError) as info:
            ws.recv(timeout=scaled(5))
    assert 0.5 < time.monotonic() - t0 < scaled(3)
    assert info.value.rcvd is None  # abrupt: no close frame


@contextlib.contextmanager
def tcp_proxy(handle: Callable[[socket.socket], None]) -> Iterator[ProxyThread]:
    """A proxy in front of a plain TCP server that runs ``handle`` per connection."""
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = srv.accept()
                with conn:
                    handle(conn)

    threading.Thread(target=serve, daemon=True).start()
    thread = ProxyThread(ChaosProxy("127.0.0.1", srv.getsockname()[1]))
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()
        srv.shutdown(socket.SHUT_RDWR)  # wakes accept()
        srv.close()


def digest_after(go: threading.Event, hello: bytes = b"") -> Callable[[socket.socket], None]:
    """Upstream: wait for ``go`` (reading nothing), send ``hello``, read to EOF, answer
    with the byte count and SHA-256 of what arrived, close."""

    def handle(conn: socket.socket) -> None:
        go.wait(scaled(10))
        conn.sendall(hello)
        h, n = hashlib.sha256(), 0
        while chunk := conn.recv(1 << 16):
            h.update(chunk)
            n += len(chunk)
        conn.sendall(f"{n} {h.hexdigest()}".encode())

    return handle


def pending_on_fast_path(pt: ProxyThread) -> bool:
    conns = list(pt.proxy._conns)
    return any(isinstance(c, Relay) and c.up is not None and c.up.pending for c in conns)


def upload(pt: ProxyThread, payload: bytes, meanwhile: Callable[[], None]) -> bytes:
    """Send ``payload`` then EOF through the proxy while ``meanwhile`` runs; all it reads."""
    with socket.create_connection(("127.0.0.1", pt.proxy.port), timeout=scaled(20)) as s:

        def send() -> None:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        meanwhile()
        out = b""
        while chunk := s.recv(1 << 16):
            out += chunk
        sender.join(scaled(10))
    return out


PAYLOAD = os.urandom(32 << 20)  # more than the loopback buffers hold: the proxy must wait
ANSWER = f"{len(PAYLOAD)} {hashlib.sha256(PAYLOAD).hexdigest()}".encode()


def test_fast_path_holds_back_when_upstream_is_full_and_passes_half_close() -> None:
    go = threading.Event()
    with tcp_proxy(digest_after(go)) as pt:

        def full_then_go() -> None:
            wait_for(lambda: pending_on_fast_path(pt), timeout=10)
            go.set()

        assert upload(pt, PAYLOAD, full_then_go) == ANSWER
        wait_for(lambda: pt.proxy.active_connections == 0)


def test_move_to_toxic_path_sends_held_back_bytes_first() -> None:
    go = threading.Event()
    with tcp_proxy(digest_after(go, hello=b"hi ")) as pt:

        def full_then_latency() -> None:
            wait_for(lambda: pending_on_fast_path(pt), timeout=10)
            toxic(pt, "lat", Latency(200))  # acts when the upstream's "hi" arrives
            go.set()
            wait_for(lambda: any(isinstance(c, StreamConn) for c in list(pt.proxy._conns)))

        assert upload(pt, PAYLOAD, full_then_latency) == b"hi " + ANSWER


def test_move_to_toxic_path_after_the_client_half_closed() -> None:
    go, got_eof = threading.Event(), threading.Event()

    def shout(conn: socket.socket) -> None:
        data = b""
        while chunk := conn.recv(1024):
            data += chunk
        got_eof.set()
        go.wait(scaled(10))
        conn.sendall(data.upper())

    with tcp_proxy(shout) as pt, socket.create_connection(("127.0.0.1", pt.proxy.port)) as s:
        s.settimeout(scaled(5))
        s.sendall(b"ping")
        s.shutdown(socket.SHUT_WR)  # relayed on the fast path
        assert got_eof.wait(scaled(5))
        toxic(pt, "lat", Latency(150))
        t0 = time.monotonic()
        go.set()
        assert s.recv(1024) == b"PING"
        assert time.monotonic() - t0 >= 0.13
        assert s.recv(1024) == b""  # the upstream's close follows
