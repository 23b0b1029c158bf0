"""The target's memory reserve: under a soft RLIMIT_AS it refuses new connections with a
reason before its reads would fail (a real target process, a real soft limit set on it by
this test with prlimit(2), restored after)."""

from __future__ import annotations

from pathlib import Path

import psutil

from harness.config.scenario import EmbeddedTarget
from harness.target.process import start_target
from harness.target.server import MEMORY_RESERVE_MB, memory_left_mb
from tests.target.test_server import SECRET, open_ws, refused_status, token_for, ws_url


def test_no_soft_memory_limit_means_no_reserve_to_check() -> None:
    assert memory_left_mb() is None  # the test process has none (one getrlimit each)


def test_near_a_soft_address_space_limit_new_connections_are_refused_with_503(
    tmp_path: Path,
) -> None:
    with start_target(EmbeddedTarget(), secret=SECRET, log_path=tmp_path / "t.log") as target:
        assert target.pid is not None
        proc = psutil.Process(target.pid)
        before = proc.rlimit(psutil.RLIMIT_AS)
        valid = token_for(None)
        open_ws(target, valid).close()  # served while there is no limit
        # as the memory_rlimit fault does: the soft limit a little above what it maps now
        mib = 1024 * 1024
        proc.rlimit(psutil.RLIMIT_AS, (proc.memory_info().vms + 4 * mib, before[1]))
        try:
            refused = refused_status(ws_url(target, valid))
            assert refused.response.status_code == 503
            assert refused.response.headers["Retry-After"] == "1"
            body = refused.response.body.decode()
            assert "MB of memory left" in body and "try again later" in body
            left = float(body.split("try again later: ")[1].split(" MB")[0])
            assert left < MEMORY_RESERVE_MB
        finally:
            proc.rlimit(psutil.RLIMIT_AS, before)
        open_ws(target, valid).close()  # the limit lifted: served again
        assert "(memory_limit)" in (tmp_path / "t.log").read_text()
