"""The client's pings (``load.session.ping_interval``) against real servers on loopback ports.

The embedded target answers pings (``websockets`` does), so its sessions are accepted with
each ping's round trip recorded; the hostile server (:mod:`tests.rawserver`) never answers
them (``/no-pong``) or answers with the wrong payload after an unsolicited pong
(``/pong-wrong``): the attempt ends ``timeout_pong`` (a dead connection detected, the
client gave up and closed 1001), never ``abnormal_closure`` and never counted as a reply.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from harness.config.scenario import Auth, EmbeddedTarget, Load, Scenario, Session
from harness.load.attempt import AttemptInfo, build_record
from harness.load.client import GOING_AWAY, SessionPlan, open_attempt
from harness.load.plan import session_plan
from harness.load.request import Request, auth_request
from harness.load.result import Result
from harness.protocol.outcomes import DEFAULT_APP_CLOSE_CODES, Deadline, Outcome, classify
from harness.protocol.tokens import mint
from harness.rundir.records import AttemptRecord
from harness.target.process import TargetProcess, start_target
from tests.conftest import scaled
from tests.rawserver import RawServer, hostile_server

SECRET = "pings-test-secret-" + "0123456789abcdef" * 2
#: Pings every 0.2 s over a 1 s hold, one message echoed; 2 s for each pong.
PINGING = SessionPlan(hold=1.0, messages=1, ping_interval=0.2, ping_timeout=2.0)
#: Pings every 0.2 s over a 3 s hold, no messages; 0.5 s for each pong.
DEAD = SessionPlan(hold=3.0, messages=0, ping_interval=0.2, ping_timeout=0.5, message_timeout=1.0)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TargetProcess]:
    """The embedded target, pinging its clients every 0.25 s itself."""
    log = tmp_path_factory.mktemp("pings") / "target.log"
    with start_target(EmbeddedTarget(ping_interval=0.25), secret=SECRET, log_path=log) as t:
        yield t


@pytest.fixture(scope="module")
def server() -> Iterator[RawServer]:
    with hostile_server() as srv:
        yield srv


def record_of(res: Result) -> AttemptRecord:
    info = AttemptInfo(
        run_id="r",
        worker="local",
        user=1,
        attempt=1,
        token_kind="valid",
        placement="query",
        token_sent=True,
        t_start=0.0,
    )
    record, _ = build_record(info, res, DEFAULT_APP_CLOSE_CODES)
    return record


def raw_attempt(srv: RawServer, path: str, plan: SessionPlan) -> Result:
    return open_attempt(Request(url=srv.url + path, token="tok-123456"), plan)


def test_the_embedded_target_answers_every_ping_and_the_round_trips_are_recorded(
    target: TargetProcess,
) -> None:
    token = mint("valid", Auth(), SECRET)
    res = open_attempt(auth_request(target.url, Auth(), token), PINGING)
    assert classify(res.observation) is Outcome.ACCEPTED, res.error
    assert res.client_pings > 0
    # one ping at a time, and a pong awaited when the hold ends is waited for: all answered
    assert len(res.ping_rtts_ms) == res.client_pings
    assert all(rtt >= 0 for rtt in res.ping_rtts_ms)
    assert len(res.rtts_ms) == 1 and res.msgs_unmatched == 0  # pongs are not messages
    assert res.pings > 0  # the server's own pings, answered and counted apart
    rec = record_of(res)
    assert rec.outcome == "accepted" and rec.gave_up is None
    assert rec.client_pings == res.client_pings
    assert rec.ping_rtt_ms_avg is not None and rec.ping_rtt_ms_max is not None
    assert 0 <= rec.ping_rtt_ms_avg <= rec.ping_rtt_ms_max


def test_no_pings_by_default(target: TargetProcess) -> None:
    token = mint("valid", Auth(), SECRET)
    res = open_attempt(auth_request(target.url, Auth(), token), replace(PINGING, ping_interval=0))
    assert classify(res.observation) is Outcome.ACCEPTED, res.error
    assert res.client_pings == 0 and res.ping_rtts_ms == []
    rec = record_of(res)
    assert (rec.client_pings, rec.ping_rtt_ms_avg, rec.ping_rtt_ms_max) == (0, None, None)


def test_a_server_that_never_answers_pings_is_a_dead_connection(server: RawServer) -> None:
    res = raw_attempt(server, "/no-pong", DEAD)
    obs = res.observation
    assert classify(obs) is Outcome.TIMEOUT_PONG
    assert obs.gave_up is Deadline.PONG and obs.closed_by == "client"
    assert res.client_close_code == GOING_AWAY
    assert server.client_close("/no-pong", scaled(2)) == GOING_AWAY  # as read on the wire
    assert res.error == "gave up: no pong to our ping within 0.5 s (dead connection detected)"
    assert res.client_pings == 1 and res.ping_rtts_ms == []
    # the pong deadline ended it, woken on time: not the end of the 3 s hold
    assert res.open_s is not None and res.open_s < DEAD.hold
    rec = record_of(res)
    assert (rec.outcome, rec.gave_up, rec.manner, rec.verdict) == (
        "timeout_pong",
        "pong",
        "abrupt",
        "abrupt",
    )
    assert (rec.client_pings, rec.ping_rtt_ms_avg, rec.client_close_code) == (1, None, 1001)


def test_a_pong_awaited_when_the_hold_ends_is_waited_for(server: RawServer) -> None:
    """The ping goes at 0.2 s, the hold ends at 0.3 s: its pong is still awaited, to 0.7 s."""
    res = raw_attempt(server, "/no-pong", replace(DEAD, hold=0.3))
    assert classify(res.observation) is Outcome.TIMEOUT_PONG
    assert res.client_pings == 1


def test_unsolicited_and_wrong_pongs_are_not_replies(server: RawServer) -> None:
    res = raw_attempt(server, "/pong-wrong", DEAD)
    assert classify(res.observation) is Outcome.TIMEOUT_PONG
    assert res.client_pings == 1 and res.ping_rtts_ms == []
    assert res.msgs_recv == 0 and res.msgs_unmatched == 0


def test_an_unsolicited_pong_without_pings_is_ignored(server: RawServer) -> None:
    plan = SessionPlan(hold=0.3, messages=1, message_bytes=32, reply_timeout=2.0)
    res = raw_attempt(server, "/pong-wrong", plan)
    assert classify(res.observation) is Outcome.ACCEPTED, res.error
    assert res.client_pings == 0 and res.ping_rtts_ms == []
    assert len(res.rtts_ms) == 1 and res.msgs_unmatched == 0


def test_the_session_plan_takes_the_scenarios_ping_settings() -> None:
    session = Session(ping_interval=20.0, ping_timeout=3.0)
    plan = session_plan(Scenario(name="x", source="x.yaml", load=Load(session=session)))
    assert (plan.ping_interval, plan.ping_timeout) == (20.0, 3.0)
    assert (SessionPlan().ping_interval, Session().ping_interval, Session().ping_timeout) == (
        0.0,
        0.0,
        5.0,
    )


def test_the_record_fields_have_defaults() -> None:
    """Older attempt files (without the ping fields) still read."""
    rec = AttemptRecord(
        run_id="r",
        worker="w",
        user=1,
        attempt=1,
        token_kind="valid",
        placement="query",
        expected="accept",
        t_start=0.0,
    )
    assert (rec.client_pings, rec.ping_rtt_ms_avg, rec.ping_rtt_ms_max) == (0, None, None)
