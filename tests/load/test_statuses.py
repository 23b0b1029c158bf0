"""A refused upgrade's HTTP status, from a real raw server, classified by the target's table."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harness.load.attempt import AttemptInfo, build_record
from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request
from harness.load.result import Result
from harness.protocol.outcomes import DEFAULT_APP_CLOSE_CODES, DEFAULT_HTTP_STATUSES, Outcome
from tests.rawserver import raw_server

QUICK = SessionPlan(hold=0.3, messages=1, message_bytes=32, reply_timeout=2)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with raw_server() as (url, _):
        yield url


def refused(base: str, status: int) -> Result:
    req = Request(url=f"{base}/status/{status}", token="tok-123456", handshake_timeout=1.0)
    return open_attempt(req, QUICK)


def info(kind: str) -> AttemptInfo:
    return AttemptInfo("r", "local", 1, 1, kind, "query", True, time.time())


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (404, Outcome.REJECTED_NOT_FOUND),
        (410, Outcome.REJECTED_NOT_FOUND),
        (502, Outcome.REJECTED_UPSTREAM),
        (504, Outcome.REJECTED_UPSTREAM),
        (400, Outcome.REJECTED_STATUS),
    ],
)
def test_default_table_on_the_wire(base: str, status: int, outcome: Outcome) -> None:
    rec, got = build_record(info("valid"), refused(base, status), DEFAULT_APP_CLOSE_CODES)
    assert got is outcome
    assert (rec.outcome, rec.http_status, rec.verdict) == (outcome.value, status, "valid_refused")
    assert rec.manner == "graceful"


def test_a_target_that_refuses_bad_tokens_with_400(base: str) -> None:
    """``target.http_statuses: {400: auth}`` makes a 400 the auth refusal an empty token expects."""
    table = {**DEFAULT_HTTP_STATUSES, 400: "auth"}
    res = refused(base, 400)
    rec, got = build_record(info("empty"), res, DEFAULT_APP_CLOSE_CODES, table)
    assert got is Outcome.REJECTED_AUTH and rec.verdict == "ok"
    _, plain = build_record(info("empty"), res, DEFAULT_APP_CLOSE_CODES)
    assert plain is Outcome.REJECTED_STATUS  # without the table: not an auth refusal
