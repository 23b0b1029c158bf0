"""The connection attempt against a raw server that shows each protocol case on its own path."""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator

import pytest

from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request, build_url
from harness.load.result import STOPPED_BY_HARNESS, Result, partial_result
from harness.protocol.outcomes import Outcome, classify
from tests.rawserver import raw_server

QUICK = SessionPlan(hold=0.3, messages=1, message_bytes=32, reply_timeout=2)


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    with raw_server() as s:
        yield s


def attempt(
    base: str, path: str, plan: SessionPlan = QUICK, **kw: object
) -> tuple[Outcome, object]:
    req = Request(url=base + path, token="tok-123456", handshake_timeout=1.0, **kw)  # type: ignore[arg-type]
    res = open_attempt(req, plan)
    return classify(res.observation), res


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/status/401", Outcome.REJECTED_AUTH),
        ("/status/403", Outcome.REJECTED_AUTH),
        ("/status/503", Outcome.REJECTED_CAPACITY),
        ("/status/429", Outcome.REJECTED_CAPACITY),
        ("/status/500", Outcome.REJECTED_STATUS),
        ("/drop", Outcome.ABNORMAL_HANDSHAKE),
        ("/reset", Outcome.ABNORMAL_HANDSHAKE),
        ("/silent", Outcome.TIMEOUT_HANDSHAKE),
        ("/garbage", Outcome.PROTOCOL_ERROR),
        ("/open-drop", Outcome.ABNORMAL_CLOSURE),
        ("/close/1008/policy", Outcome.CLOSED_POLICY),
        ("/close/1013/busy", Outcome.CLOSED_TRY_AGAIN),
        ("/close/4401/expired", Outcome.CLOSED_AUTH),
        ("/close/1011", Outcome.CLOSED_INTERNAL),
        ("/echo", Outcome.ACCEPTED),
    ],
)
def test_each_protocol_case(server: tuple[str, list[object]], path: str, expected: Outcome) -> None:
    outcome, _ = attempt(server[0], path)
    assert outcome is expected


def test_close_code_and_reason_are_read_from_the_frame(server: tuple[str, list[object]]) -> None:
    _, res = attempt(server[0], "/close/4401/token-expired")
    assert res.observation.close_code == 4401  # type: ignore[attr-defined]
    assert res.observation.closed_by == "server"  # type: ignore[attr-defined]
    assert res.close_reason == "token-expired"  # type: ignore[attr-defined]


def test_status_and_timings(server: tuple[str, list[object]]) -> None:
    _, res = attempt(server[0], "/status/503")
    assert res.observation.http_status == 503  # type: ignore[attr-defined]
    assert res.connect_ms is not None and res.connect_ms >= 0  # type: ignore[attr-defined]
    assert res.handshake_ms is not None  # type: ignore[attr-defined]
    assert "HTTP 503" in res.error  # type: ignore[attr-defined]


def test_echo_session_measures_round_trips_and_pings(server: tuple[str, list[object]]) -> None:
    plan = SessionPlan(hold=0.5, messages=3, message_bytes=100, reply_timeout=2)
    outcome, res = attempt(server[0], "/ping-echo", plan)
    assert outcome is Outcome.ACCEPTED
    assert res.msgs_sent == 3 and res.msgs_recv == 3  # type: ignore[attr-defined]
    assert len(res.rtts_ms) == 3  # type: ignore[attr-defined]
    assert res.pings == 1  # type: ignore[attr-defined]
    assert res.observation.closed_by == "client"  # type: ignore[attr-defined]
    assert res.observation.close_code == 1000  # type: ignore[attr-defined]
    assert 0.4 < res.open_s < 3  # type: ignore[attr-defined]


def test_token_placement(server: tuple[str, list[tuple[str, dict[str, str]]]]) -> None:
    base, seen = server
    seen.clear()
    attempt(base, "/status/401", placement="header")
    assert seen[-1][1]["authorization"] == "Bearer tok-123456"
    assert build_url(Request(url=base + "/ws?a=1", token="")) == base + "/ws?a=1&token="
    assert build_url(Request(url=base + "/ws", token=None)) == base + "/ws"


def test_refused_port() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nobody listens there now
    outcome, res = attempt(f"ws://127.0.0.1:{port}", "/ws")
    assert outcome is Outcome.REFUSED
    assert res.connect_ms is None  # type: ignore[attr-defined]


class _Stop(BaseException):
    """What a stopping run raises into a held attempt (as GreenletExit does under Locust)."""


def test_an_interrupted_session_is_recorded_and_the_interruption_goes_on(
    server: tuple[str, list[object]],
) -> None:
    """A held connection blocks in one read (no polling); interrupting it records how far it
    got (open, so accepted) and lets the interruption through."""

    def interrupt(signum: int, frame: object) -> None:
        raise _Stop

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    req = Request(url=server[0] + "/echo", token="t")
    try:
        with pytest.raises(_Stop) as info:
            open_attempt(req, SessionPlan(hold=30, messages=0))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    res = partial_result(info.value)
    assert res is not None and res.observation.interrupted
    assert classify(res.observation) is Outcome.ACCEPTED
    assert res.open_s is not None and 0.3 < res.open_s < 2
    assert res.error is not None and res.error.startswith(STOPPED_BY_HARNESS)


def test_a_server_close_crossing_ours_is_the_servers(server: tuple[str, list[object]]) -> None:
    """The server's 4401 arrives while we are ending the session: classify by its code."""
    req = Request(url=server[0] + "/close/4401/late", token="t")
    res = open_attempt(req, SessionPlan(hold=0, messages=0))  # we close at once
    assert res.observation.closed_by == "server"
    assert classify(res.observation) is Outcome.CLOSED_AUTH


def _interrupted_after(seconds: float, req: Request, plan: SessionPlan) -> tuple[object, float]:
    """Run the attempt, raising _Stop into it after ``seconds``; (partial result, elapsed)."""

    def interrupt(signum: int, frame: object) -> None:
        raise _Stop

    old = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    t0 = time.monotonic()
    try:
        with pytest.raises(_Stop) as info:
            open_attempt(req, plan)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return partial_result(info.value), time.monotonic() - t0


def test_an_interrupted_handshake_is_excluded_and_the_interruption_goes_on(
    server: tuple[str, list[object]],
) -> None:
    """Cut inside the upgrade (a 101 sent one byte a second): interrupted, not a timeout."""
    req = Request(url=server[0] + "/drip-101", token="t", handshake_timeout=30)
    res, elapsed = _interrupted_after(0.5, req, SessionPlan())
    assert isinstance(res, Result) and res.observation.interrupted
    assert classify(res.observation) is Outcome.INTERRUPTED
    assert res.error is not None and res.error.startswith(STOPPED_BY_HARNESS)
    assert elapsed < 2


def test_an_interrupted_send_goes_on_at_once(server: tuple[str, list[object]]) -> None:
    """Cut inside a send the server never reads (long send timeout): recorded as open."""
    req = Request(url=server[0] + "/never-reads", token="t")
    plan = SessionPlan(hold=1, messages=1, message_bytes=8 * 1024 * 1024, send_timeout=30)
    res, elapsed = _interrupted_after(1.0, req, plan)
    assert isinstance(res, Result) and res.observation.interrupted
    assert classify(res.observation) is Outcome.ACCEPTED
    assert elapsed < 3


def test_closed_loop_sends_each_message_once_the_last_reply_came() -> None:
    """Chat-like load: the round trips follow one another as fast as the server echoes,
    far more than a spread pace's messages in the same hold, and each one is a round trip."""
    import dataclasses

    with raw_server() as (base, _):
        request = Request(url=f"{base}/echo", token="t")
        loop = SessionPlan(hold=0.5, messages=1_000_000, message_bytes=16, closed_loop=True)
        res = open_attempt(request, loop)
        assert classify(res.observation) is Outcome.ACCEPTED, res
        assert res.msgs_sent >= 20 and len(res.rtts_ms) == res.msgs_sent - res.msgs_unmatched
        capped = open_attempt(request, dataclasses.replace(loop, messages=5))
        assert capped.msgs_sent == 5 and len(capped.rtts_ms) == 5
