"""Every token placement against the real reference target, with real sockets.

One target process per placement (its placement follows ``auth.placement``, as in a
run); for each, a valid token opens a session whose echo comes back, and an empty or
expired token is refused the way the placement allows (HTTP 401 in the handshake, a
4401 close after the auth message).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from harness.config.scenario import Auth, EmbeddedTarget, FirstMessage
from harness.load.client import SessionPlan, is_ack, open_attempt
from harness.load.request import (
    Request,
    auth_request,
    build_auth_message,
    build_headers,
    build_subprotocols,
    build_url,
)
from harness.protocol.outcomes import EXPECTED_OUTCOMES, Deadline, Outcome, classify
from harness.protocol.tokens import mint
from harness.target.process import TargetProcess, start_target
from tests.rawserver import raw_server

SECRET = "placement-test-secret-" + "0123456789abcdef" * 2
PLAN = SessionPlan(hold=0.2, messages=1, reply_timeout=5.0)
CUSTOM = FirstMessage(
    template='{"op":"login","jwt":"{token}"}', ack_field="op", ack_value="welcome", timeout=5.0
)

AUTHS: dict[str, Auth] = {
    "query": Auth(placement="query", query_param="jwt"),
    "header-bearer": Auth(placement="header"),
    "header-scheme": Auth(placement="header", header="X-Auth", scheme="Token"),
    "header-bare": Auth(placement="header", scheme=""),
    "cookie": Auth(placement="cookie", cookie="session"),
    "subprotocol": Auth(placement="subprotocol"),
    "subprotocol-list": Auth(placement="subprotocol", subprotocol="access_token, {token}"),
    "first-message": Auth(placement="first_message"),
    "first-message-custom": Auth(placement="first_message", first_message=CUSTOM),
}


def request_for(url: str, auth: Auth, token: str | None) -> Request:
    return auth_request(url, auth, token)


@pytest.fixture(scope="module", params=list(AUTHS))
def placed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TargetProcess, Auth]]:
    auth = AUTHS[request.param]
    log = tmp_path_factory.mktemp("placements") / "target.log"
    opts = EmbeddedTarget(ping_interval=0)
    with start_target(
        opts, secret=SECRET, log_path=log, query_param=auth.query_param, auth=auth
    ) as t:
        yield t, auth


@pytest.mark.parametrize("kind", ["valid", "empty", "expired"])
def test_each_placement_accepts_valid_and_refuses_empty_and_expired(
    placed: tuple[TargetProcess, Auth], kind: str
) -> None:
    target, auth = placed
    token = mint(kind, auth, SECRET)
    res = open_attempt(request_for(target.url, auth, token), PLAN)
    outcome = classify(res.observation)
    assert outcome in EXPECTED_OUTCOMES[kind], (outcome, res.error)
    if kind == "valid":
        assert outcome is Outcome.ACCEPTED
        assert res.msgs_sent == 1 and len(res.rtts_ms) == 1  # the auth ack is not counted
        assert res.msgs_unmatched == 0
    elif auth.placement == "first_message":
        assert outcome is Outcome.CLOSED_AUTH and res.observation.close_code == 4401
    else:
        assert outcome is Outcome.REJECTED_AUTH and res.observation.http_status == 401
    assert token is None or token == "" or token not in (res.error or "")


def test_no_ack_is_its_own_deadline_and_the_token_stays_out_of_the_error() -> None:
    auth = Auth(placement="first_message", first_message=replace(FirstMessage(), timeout=0.5))
    token = "eyJhbGciOiJIUzI1NiJ9.e30.c2VjcmV0LXRva2Vu"
    with raw_server() as (base, _):  # /echo sends the auth message back: not the ack
        res = open_attempt(request_for(f"{base}/echo", auth, token), PLAN)
    assert res.observation.gave_up is Deadline.AUTH
    assert classify(res.observation) is Outcome.TIMEOUT_AUTH
    assert res.msgs_recv == 1 and res.msgs_unmatched == 1  # the echo, not an ack
    assert res.error and "auth" in res.error and token not in res.error


def test_a_server_that_picks_no_subprotocol_fails_the_handshake() -> None:
    auth = Auth(placement="subprotocol", subprotocol="access_token, {token}")
    token = "eyJhbGciOiJIUzI1NiJ9.e30.c2VjcmV0LXRva2Vu"
    with raw_server() as (base, seen):  # /echo answers without Sec-WebSocket-Protocol
        res = open_attempt(request_for(f"{base}/echo", auth, token), PLAN)
        headers = {k.lower(): v for k, v in seen[-1][1].items()}
    assert headers["sec-websocket-protocol"] == f"access_token,{token}"
    assert classify(res.observation) is Outcome.PROTOCOL_ERROR
    assert token not in (res.error or "")


def test_handshake_pieces_carry_the_token_where_placed() -> None:
    base = Request(url="ws://127.0.0.1:1/ws?a=1", token="T0K")
    assert build_url(base) == "ws://127.0.0.1:1/ws?a=1&token=T0K"
    header = replace(base, placement="header", header="X-Auth", scheme="Token")
    assert build_url(header) == base.url and build_headers(header) == ["X-Auth: Token T0K"]
    assert build_headers(replace(header, scheme="")) == ["X-Auth: T0K"]
    assert build_headers(replace(base, placement="cookie", cookie="s")) == ["Cookie: s=T0K"]
    sub = replace(base, placement="subprotocol", subprotocol="access_token, {token}")
    assert build_subprotocols(sub) == ["access_token", "T0K"] and build_headers(sub) == []
    assert build_subprotocols(base) is None and build_auth_message(base) is None
    first = replace(base, placement="first_message")
    assert build_auth_message(first) == b'{"type":"auth","token":"T0K"}'
    assert build_auth_message(replace(first, token=None)) is None


@pytest.mark.parametrize(
    ("data", "ok"),
    [
        (b'{"type":"auth_ok"}', True),
        (b'{"type":"auth_ok","user":"u"}', True),
        (b'{"type":"auth"}', False),
        (b'{"kind":"auth_ok"}', False),
        (b'["auth_ok"]', False),
        (b"not json", False),
    ],
)
def test_the_ack_is_the_json_field_with_the_value(data: bytes, ok: bool) -> None:
    assert is_ack(data, FirstMessage()) is ok
    assert is_ack(b'{"n":5}', FirstMessage(ack_field="n", ack_value="5"))
