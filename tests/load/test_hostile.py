"""Every behaviour of the hostile server (tests/rawserver.py), one test each: the outcome, the
error text, the recorded fields and codes, the code the client put on the wire, and that
the attempt ended within its deadline (measured, with generous slack)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness.load.attempt import AttemptInfo, build_record
from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request
from harness.load.result import Result
from harness.protocol.outcomes import DEFAULT_APP_CLOSE_CODES, Outcome
from harness.rundir.records import AttemptRecord
from tests.conftest import ROOT, scaled
from tests.rawserver import RawServer, hostile_server, tls_stall_server

MIB = 1024 * 1024
SLACK = scaled(1.5)  # seconds an attempt may run past its deadline (scheduling, teardown)
HANDSHAKE = 1.0  # seconds: the handshake deadline of every case
#: A short session: one 32-byte message at 0.15 s, each deadline 1 s, the close 0.5 s.
QUICK = SessionPlan(
    hold=0.3,
    messages=1,
    message_bytes=32,
    reply_timeout=1.0,
    send_timeout=1.0,
    message_timeout=1.0,
    close_timeout=0.5,
)
QUIET = SessionPlan(hold=0.3, messages=0, message_timeout=1.0, close_timeout=0.5)
#: Client pings every 0.2 s over a 2 s hold, 0.5 s for each pong.
PINGING = SessionPlan(
    hold=2.0, messages=0, ping_interval=0.2, ping_timeout=0.5, message_timeout=1.0
)
ABSENT = object()  # the server saw no close frame from the client (or was not reading)


@dataclass(frozen=True)
class Case:
    """One behaviour: what the attempt must end as, and how fast."""

    path: str
    outcome: Outcome
    error: str | None  # a piece of the error text (None: no error text at all)
    fields: Mapping[str, Any] = field(default_factory=dict)  # AttemptRecord fields
    within: float = QUICK.hold + QUICK.close_timeout  # s: its deadline (slack added)
    at_least: float = 0.0  # s: the deadline that must have ended it, not something sooner
    wire_close: object = ABSENT  # the client's close code as the server read it
    plan: SessionPlan = QUICK


def _close(code: int) -> str:
    return f"/close/{code}"


REASON_123 = "r" * 123
REASON_124 = "r" * 124

CASES = [
    # --- correct servers -------------------------------------------------------------
    Case(
        "/echo",
        Outcome.ACCEPTED,
        None,
        {"client_close_code": 1000, "close_code": 1000, "closed_by": "client", "msgs_recv": 1},
        wire_close=1000,
    ),
    Case("/ping-echo", Outcome.ACCEPTED, None, {"pings": 1, "msgs_unmatched": 0}, wire_close=1000),
    Case(
        "/fragmented-echo",
        Outcome.ACCEPTED,
        None,
        {"msgs_recv": 1, "msgs_unmatched": 0, "pings": 1},
        wire_close=1000,
    ),
    Case(
        "/many-fragments/256",
        Outcome.ACCEPTED,
        None,
        {"msgs_recv": 1, "msgs_unmatched": 1, "violation": None},
        plan=QUIET,
        wire_close=1000,
    ),
    Case(f"/close/1000/{REASON_123}", Outcome.CLOSED_NORMAL, None, {"close_reason": REASON_123}),
    Case("/close/4401/expired", Outcome.CLOSED_AUTH, None, {"close_code": 4401}, wire_close=4401),
    Case(
        "/close-with-101/4401",  # read ahead with the 101, not lost
        Outcome.CLOSED_AUTH,
        None,
        {"close_code": 4401, "close_reason": "at once", "client_close_code": None},
        wire_close=4401,
    ),
    Case(
        "/no-close-reply",
        Outcome.ACCEPTED,
        "gave up: no answer to our close frame within 0.5 s",
        {"gave_up": "close", "client_close_code": 1000},
        at_least=QUICK.hold + QUICK.close_timeout,
        wire_close=1000,
    ),
    Case(
        "/slow-reader/8000000",  # slow but reading: 8 MiB in about a second, well within 5 s
        Outcome.ACCEPTED,
        None,
        {"msgs_sent": 1, "gave_up": None},
        plan=SessionPlan(hold=0.5, messages=1, message_bytes=8 * MIB, expect_reply=False),
        within=0.5 + 5.0 + 1.0,
        wire_close=1000,
    ),
    # --- before the 101 ----------------------------------------------------------------
    Case("/status/401", Outcome.REJECTED_AUTH, "HTTP 401: no", {"http_status": 401}),
    # a refusal's body is read only as far as its reason needs: a 100 MB one is not waited for
    Case("/status-huge", Outcome.REJECTED_AUTH, "HTTP 401: xxx", {"http_status": 401}),
    Case(
        "/headers-huge",
        Outcome.LIMIT_EXCEEDED,
        "upgrade response over 262144 bytes",
        {"violation": "upgrade_size", "stage": "handshake"},
        within=HANDSHAKE,
    ),
    Case("/drop", Outcome.ABNORMAL_HANDSHAKE, "closed before the upgrade response was complete"),
    Case("/reset", Outcome.ABNORMAL_HANDSHAKE, ""),  # EOF or ECONNRESET, as the kernel has it
    Case(
        "/silent",
        Outcome.TIMEOUT_HANDSHAKE,
        "gave up: TLS and upgrade response not done within 1 s",
        {"gave_up": "handshake", "stage": "handshake"},
        within=HANDSHAKE,
        at_least=HANDSHAKE,
    ),
    Case(
        "/drip-101/0.1",  # about 130 bytes, one every 0.1 s: 13 s if each read had its timeout
        Outcome.TIMEOUT_HANDSHAKE,
        "gave up: TLS and upgrade response not done within 1 s",
        {"gave_up": "handshake"},
        within=HANDSHAKE,
        at_least=HANDSHAKE,
    ),
    Case("/garbage", Outcome.PROTOCOL_ERROR, "not an HTTP status line", {"stage": "handshake"}),
    Case("/no-accept", Outcome.PROTOCOL_ERROR, "Sec-WebSocket-Accept", {"stage": "handshake"}),
    Case("/bad-accept", Outcome.PROTOCOL_ERROR, "Sec-WebSocket-Accept", {"stage": "handshake"}),
    # --- the peer vanished -------------------------------------------------------------
    Case("/open-drop", Outcome.ABNORMAL_CLOSURE, "without a close frame", {"gave_up": None}),
    Case("/reset-mid-frame", Outcome.ABNORMAL_CLOSURE, "", {"gave_up": None, "violation": None}),
    # --- close frames that break the rules --------------------------------------------
    *(
        Case(
            _close(code),
            Outcome.PROTOCOL_ERROR,
            f"close frame with code {code}, which must not be sent (close_code); "
            "failed the connection with 1002",
            {"close_code": code, "client_close_code": 1002, "violation": "close_code"},
            wire_close=1002,
        )
        for code in (1005, 1006, 999, 5000, 1004, 1015, 2999)
    ),
    Case(
        f"/close/1000/{REASON_124}",
        Outcome.PROTOCOL_ERROR,
        "close frame of 126 bytes (max 125",
        {"close_code": 1000, "client_close_code": 1002, "violation": "control_frame"},
        wire_close=1002,
    ),
    Case(
        "/close-1-byte",
        Outcome.PROTOCOL_ERROR,
        "close frame with a 1-byte payload",
        {"close_code": None, "client_close_code": 1002, "violation": "close_payload"},
        wire_close=1002,
    ),
    Case(
        "/close-bad-utf8",  # was closed_normal: RFC 6455 section 8.1 asks for 1007
        Outcome.PROTOCOL_ERROR,
        "close frame 1000 with a reason that is not UTF-8",
        {"close_code": 1000, "client_close_code": 1007, "violation": "close_reason_utf8"},
        wire_close=1007,
    ),
    # --- frames that break the rules ---------------------------------------------------
    Case(
        "/masked",
        Outcome.PROTOCOL_ERROR,
        "masked frame from the server",
        {"client_close_code": 1002, "violation": "masked_frame", "closed_by": "client"},
        wire_close=1002,
    ),
    Case(
        "/reserved-bits",
        Outcome.PROTOCOL_ERROR,
        "frame with reserved bits 100",
        {"client_close_code": 1002, "violation": "reserved_bits"},
        wire_close=1002,
    ),
    Case(
        "/reserved-opcode",
        Outcome.PROTOCOL_ERROR,
        "frame with reserved opcode 0x3",
        {"client_close_code": 1002, "violation": "reserved_opcode"},
        wire_close=1002,
    ),
    Case(
        "/bad-utf8-text",
        Outcome.PROTOCOL_ERROR,
        "text message that is not UTF-8",
        {"client_close_code": 1007, "violation": "text_utf8"},
        wire_close=1007,
    ),
    # --- limits ------------------------------------------------------------------------
    Case(
        "/huge-frame",  # 1 TiB declared: refused on its header, no payload read
        Outcome.LIMIT_EXCEEDED,
        "frame of 1099511627776 bytes over the limit of 1048576 (frame_size)",
        {"client_close_code": 1009, "violation": "frame_size"},
        within=0.0,
        wire_close=1009,
    ),
    Case(
        "/unsolicited/10000000",  # an unsolicited 10 MB frame: over the 1 MiB frame limit
        Outcome.LIMIT_EXCEEDED,
        "frame of 10000000 bytes over the limit",
        {"client_close_code": 1009, "violation": "frame_size", "msgs_recv": 0},
        within=0.0,
    ),
    Case(
        "/many-fragments/300",
        Outcome.LIMIT_EXCEEDED,
        "message of more than 256 fragments",
        {"client_close_code": 1009, "violation": "fragments"},
        plan=QUIET,
        within=0.0,
        wire_close=1009,
    ),
    Case(
        "/big-message",  # five 1 MiB fragments: over the 4 MiB message limit
        Outcome.LIMIT_EXCEEDED,
        "message of 5242880+ bytes over the limit of 4194304",
        {"client_close_code": 1009, "violation": "message_size"},
        plan=QUIET,
        within=0.0,
        wire_close=1009,
    ),
    # --- replies matched to what was sent ---------------------------------------------
    Case(
        "/unsolicited/100000",  # counted as received; the round trip is the echo's
        Outcome.ACCEPTED,
        None,
        {"msgs_recv": 2, "msgs_unmatched": 1},
        wire_close=1000,
    ),
    Case(
        "/echo-different",
        Outcome.TIMEOUT_REPLY,
        "gave up: no echo of our message within 1 s",
        {
            "gave_up": "reply",
            "msgs_recv": 1,
            "msgs_unmatched": 1,
            "rtt_ms_avg": None,
            "client_close_code": 1001,
        },
        within=QUICK.hold / 2 + QUICK.reply_timeout,
        at_least=QUICK.hold / 2 + QUICK.reply_timeout,
        wire_close=1001,
    ),
    # --- deadlines while open ----------------------------------------------------------
    Case(
        "/fragment-forever",  # was: open 13 s against hold 1, verdict ok
        Outcome.TIMEOUT_MESSAGE,
        "gave up: frame or message not complete within 1 s of its first byte",
        {"gave_up": "message", "client_close_code": 1001, "msgs_recv": 0},
        plan=QUIET,
        within=QUIET.message_timeout,
        at_least=QUIET.message_timeout,
        wire_close=1001,
    ),
    Case(
        "/drip-frame",
        Outcome.TIMEOUT_MESSAGE,
        "gave up: frame or message not complete within 1 s of its first byte",
        {"gave_up": "message", "client_close_code": 1001},
        plan=QUIET,
        within=QUIET.message_timeout,
        at_least=QUIET.message_timeout,
    ),
    *(
        Case(  # a ping at 0.2 s, its pong due by 0.7 s: a dead connection, within the hold
            path,
            Outcome.TIMEOUT_PONG,
            "gave up: no pong to our ping within 0.5 s (dead connection detected)",
            {"gave_up": "pong", "client_close_code": 1001, "client_pings": 1},
            plan=PINGING,
            within=PINGING.ping_interval + PINGING.ping_timeout,
            at_least=PINGING.ping_interval + PINGING.ping_timeout,
            wire_close=1001,
        )
        for path in ("/no-pong", "/pong-wrong")  # no pong; an unsolicited one and wrong ones
    ),
    Case(
        "/slow-reader/1000000",  # 16 MiB at 1 MB/s cannot be sent within 1 s: we give up
        Outcome.TIMEOUT_SEND,
        "gave up: frame not sent within 1 s (the server is not reading it)",
        {"gave_up": "send", "msgs_sent": 0, "client_close_code": None},
        plan=SessionPlan(
            hold=0.5, messages=1, message_bytes=16 * MIB, expect_reply=False, send_timeout=1.0
        ),
        within=0.25 + 1.0 + 1.0,  # the send at 0.25 s, 1 s to send, 16 MiB to generate
        at_least=0.25 + 1.0,
    ),
    Case(
        "/never-reads",
        Outcome.TIMEOUT_SEND,
        "gave up: frame not sent within 1 s",
        {"gave_up": "send", "msgs_sent": 0},
        plan=SessionPlan(
            hold=0.5, messages=1, message_bytes=8 * MIB, expect_reply=False, send_timeout=1.0
        ),
        within=0.25 + 1.0 + 0.5,
        at_least=0.25 + 1.0,
    ),
    Case(
        "/ping-flood-no-read",  # our pongs pile up until a send cannot finish in 0.5 s
        Outcome.TIMEOUT_SEND,
        "gave up: frame not sent within 0.5 s",
        {"gave_up": "send"},
        plan=SessionPlan(hold=30, messages=0, send_timeout=0.5),
        within=8.0,  # buffers of a few MB to fill first; far below the 30 s hold
        at_least=0.5,
    ),
    Case(
        "/ping-flood/0.5",  # a flood the client keeps up with: every ping answered
        Outcome.ACCEPTED,
        None,
        {"client_close_code": 1000, "gave_up": None},
        plan=SessionPlan(hold=1.5, messages=0, close_timeout=1.0),
        within=1.5 + 1.0,
        wire_close=1000,
    ),
]


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    with hostile_server() as srv:
        yield srv


def run(
    url: str, plan: SessionPlan, token: str = "tok-123456", **kw: Any
) -> tuple[AttemptRecord, Result, float]:
    """One attempt, its record and how long it took (s)."""
    req = Request(url=url, token=token, handshake_timeout=HANDSHAKE, **kw)
    t0 = time.monotonic()
    res = open_attempt(req, plan)
    elapsed = time.monotonic() - t0
    info = AttemptInfo("r", "local", 1, 1, "valid", "query", True, time.time())
    record, _ = build_record(info, res, DEFAULT_APP_CLOSE_CODES)
    return record, res, elapsed


def _wire_close(server: RawServer, path: str) -> object:
    deadline = time.monotonic() + scaled(2)
    while path not in server.closes and time.monotonic() < deadline:
        time.sleep(0.02)
    return server.closes.get(path, ABSENT)


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[c.path if len(c.path) < 40 else f"{c.path[:16]}..{len(c.path)}" for c in CASES],
)
def test_hostile_behaviour(server: RawServer, case: Case) -> None:
    record, res, elapsed = run(server.url + case.path, case.plan)
    assert record.outcome == case.outcome.value, res.error
    if case.error is None:
        assert record.error is None
    else:
        assert record.error is not None and case.error in record.error
    for name, value in case.fields.items():
        assert getattr(record, name) == value, name
    assert "tok-123456" not in (record.error or "")
    assert elapsed < case.within + SLACK, f"{elapsed:.2f} s"
    assert elapsed >= case.at_least - 0.05, f"{elapsed:.2f} s"
    if case.wire_close is not ABSENT:
        assert _wire_close(server, case.path) == case.wire_close


def test_unsolicited_frame_is_not_a_round_trip(server: RawServer) -> None:
    """The 100 kB unsolicited frame comes first and fast; the RTT is the echo's, measured
    from our send (so not near zero as it would be if the unsolicited frame were taken)."""
    record, res, _ = run(server.url + "/unsolicited/100000", QUICK)
    assert len(res.rtts_ms) == 1 and record.msgs_unmatched == 1
    plain, plain_res, _ = run(server.url + "/echo", QUICK)
    assert record.rtt_ms_avg is not None and plain.rtt_ms_avg is not None
    assert len(plain_res.rtts_ms) == 1


def test_raised_limits_take_the_unsolicited_10_mb_frame(server: RawServer) -> None:
    """The limits are the plan's: raised, the same frame is received (not a round trip)."""
    plan = SessionPlan(
        hold=0.3,
        messages=1,
        message_bytes=32,
        reply_timeout=2.0,
        max_frame_bytes=16 * MIB,
        max_message_bytes=16 * MIB,
    )
    record, res, _ = run(server.url + "/unsolicited/10000000", plan)
    assert record.outcome == Outcome.ACCEPTED.value, res.error
    assert (record.msgs_recv, record.msgs_unmatched, len(res.rtts_ms)) == (2, 1, 1)


def test_fragment_limit_is_the_plans(server: RawServer) -> None:
    record, _, _ = run(server.url + "/many-fragments/300", SessionPlan(hold=0.3, messages=0))
    assert record.violation == "fragments"
    roomy = SessionPlan(hold=0.3, messages=0, max_fragments=300)
    record, _, _ = run(server.url + "/many-fragments/300", roomy)
    assert record.outcome == Outcome.ACCEPTED.value and record.msgs_recv == 1


def test_a_stalled_tls_handshake_ends_at_the_one_deadline() -> None:
    """TLS and the upgrade share one deadline: a server hello sent one byte at a time (each
    read would wait its own timeout) ends at the handshake deadline."""
    with tls_stall_server(interval=0.1) as url:
        record, res, elapsed = run(url + "/ws", QUICK, verify_tls=False)
    assert record.outcome == Outcome.TIMEOUT_HANDSHAKE.value, res.error
    assert record.gave_up == "handshake"
    assert res.error == "gave up: TLS and upgrade response not done within 1 s"
    assert HANDSHAKE - 0.05 <= elapsed < HANDSHAKE + SLACK


GEVENT_SCRIPT = """
from gevent import monkey; monkey.patch_all()
import json, time
from harness.load.client import Request, SessionPlan, open_attempt
from harness.protocol.outcomes import classify
from tests.rawserver import hostile_server, tls_stall_server
quick = SessionPlan(hold=0.3, messages=1, message_bytes=32, reply_timeout=1.0,
                    send_timeout=1.0, message_timeout=1.0, close_timeout=0.5)
big = SessionPlan(hold=0.5, messages=1, message_bytes=8 * 2**20, expect_reply=False,
                  send_timeout=1.0)
out = {}
def one(url, plan, **kw):
    t = time.monotonic()
    res = open_attempt(Request(url=url, token="t", handshake_timeout=1.0, **kw), plan)
    return [classify(res.observation).value, time.monotonic() - t]
with hostile_server() as srv:
    for path, plan in [("/echo", quick), ("/drip-101/0.1", quick),
                       ("/fragment-forever", quick), ("/never-reads", big), ("/masked", quick)]:
        out[path] = one(srv.url + path, plan)
with tls_stall_server(0.1) as url:
    out["tls"] = one(url + "/ws", quick, verify_tls=False)
print(json.dumps(out))
"""


def test_deadlines_hold_under_gevent() -> None:
    """Locust users run with gevent's monkey-patching: the same deadlines, the same outcomes."""
    proc = subprocess.run(
        [sys.executable, "-c", GEVENT_SCRIPT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=scaled(60),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    expected = {
        "/echo": ("accepted", QUICK.hold + QUICK.close_timeout),
        "/drip-101/0.1": ("timeout_handshake", HANDSHAKE),
        "/fragment-forever": ("timeout_message", QUICK.message_timeout),
        "/never-reads": ("timeout_send", 0.25 + 1.0 + 0.5),
        "/masked": ("protocol_error", 0.0),
        "tls": ("timeout_handshake", HANDSHAKE),
    }
    for name, (outcome, within) in expected.items():
        assert got[name][0] == outcome, name
        assert got[name][1] < within + SLACK, (name, got[name][1])
