"""Every token kind against the real reference target in both rejection modes, judged by the
harness's own client, classifier and verdict table."""

from __future__ import annotations

import time
from collections.abc import Iterator

import jwt
import pytest

from harness.config.scenario import TOKEN_KINDS, Auth, EmbeddedTarget
from harness.load.attempt import AttemptInfo, build_record
from harness.load.client import SessionPlan, open_attempt
from harness.load.request import Request
from harness.protocol.outcomes import DEFAULT_APP_CLOSE_CODES
from harness.protocol.tokens import mint
from harness.target.process import TargetProcess, start_target

SECRET = "matrix-secret-" + "abcdef0123456789" * 2
PLAN = SessionPlan(hold=0.2, messages=1, message_bytes=16, reply_timeout=3)


@pytest.fixture(scope="module", params=["upgrade", "close"])
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TargetProcess]:
    log = tmp_path_factory.mktemp("t") / "target.log"
    with start_target(EmbeddedTarget(rejection=request.param), secret=SECRET, log_path=log) as t:
        yield t


@pytest.mark.parametrize("placement", ["query", "header"])
@pytest.mark.parametrize("kind", TOKEN_KINDS)
def test_kind_gets_its_expected_outcome(target: TargetProcess, kind: str, placement: str) -> None:
    auth = Auth(placement=placement)
    token = mint(kind, auth, SECRET)
    req = Request(url=target.url, token=token, placement=placement)
    if kind == "expired_reused":  # used once while valid, then after it expired
        assert token is not None
        assert open_attempt(req, PLAN).observation.closed_by == "client"
        exp = jwt.decode(token, options={"verify_signature": False})["exp"]
        time.sleep(max(0.0, exp + 1.05 - time.time()))
    res = open_attempt(req, PLAN)
    info = AttemptInfo("r", "w", 1, 1, kind, placement, token is not None, time.time())
    record, outcome = build_record(info, res, DEFAULT_APP_CLOSE_CODES)
    assert record.verdict == "ok", (kind, outcome, record.http_status, record.close_code)
    if kind != "valid":
        assert record.manner == "graceful"
        assert (record.http_status in (401, 403)) or (record.close_code in (4401, 4403))
