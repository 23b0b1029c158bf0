"""A plain WebSocket scenario pointed at a Socket.IO (Engine.IO) server: a configuration error."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harness.load.attempt import AttemptInfo, build_record
from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request
from harness.protocol.foreign import ENGINE_IO, foreign_protocol
from harness.protocol.frames import OP_BINARY, OP_TEXT
from harness.protocol.outcomes import DEFAULT_APP_CLOSE_CODES, Outcome, Verdict
from tests.rawserver import ENGINE_IO_OPEN, raw_server

QUICK = SessionPlan(hold=0.3, messages=1, message_bytes=32, reply_timeout=2)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with raw_server() as (url, _):
        yield url


@pytest.mark.parametrize("kind", ["valid", "bad_signature", "alg_none"])
def test_engine_io_open_packet_is_a_protocol_mismatch(base: str, kind: str) -> None:
    res = open_attempt(Request(url=f"{base}/engine-io", token="t", handshake_timeout=1.0), QUICK)
    assert res.observation.foreign_protocol == ENGINE_IO
    info = AttemptInfo("r", "local", 1, 1, kind, "query", True, time.time())
    rec, outcome = build_record(info, res, DEFAULT_APP_CLOSE_CODES)
    assert outcome is Outcome.PROTOCOL_MISMATCH
    assert rec.verdict == Verdict.EXCLUDED.value  # never invalid_accepted, never in the rates
    assert rec.client_close_code == 1000  # the client ended the session politely


def test_a_plain_echo_server_is_not_a_mismatch(base: str) -> None:
    res = open_attempt(Request(url=f"{base}/echo", token="t", handshake_timeout=1.0), QUICK)
    assert res.observation.foreign_protocol is None
    assert res.msgs_recv == 1


@pytest.mark.parametrize(
    ("opcode", "data", "expected"),
    [
        (OP_TEXT, ENGINE_IO_OPEN, ENGINE_IO),
        (OP_TEXT, b'0{"sid":"abc","pingInterval":20000,"pingTimeout":5000}', ENGINE_IO),
        (OP_TEXT, b'0{"sid":"abc","pingInterval":20000}', None),  # every server sends both
        (OP_BINARY, ENGINE_IO_OPEN, None),  # Engine.IO's OPEN is text
        (OP_TEXT, b'0{"sid":"abc"}', None),  # no handshake key beside sid
        (OP_TEXT, b'0{"sid":7,"upgrades":[]}', None),
        (OP_TEXT, b"0{not json", None),
        (OP_TEXT, b'{"sid":"abc","upgrades":[]}', None),  # no packet type
        (OP_TEXT, b"hello", None),
    ],
)
def test_foreign_protocol(opcode: int, data: bytes, expected: str | None) -> None:
    assert foreign_protocol(opcode, data) == expected
