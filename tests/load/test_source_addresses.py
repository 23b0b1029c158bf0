"""``load.source_addresses``: the users' connections come from the listed local addresses,
round robin by user (each address has its own ephemeral ports towards one target)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from harness.config.loader import load_scenario
from harness.errors import HarnessError
from harness.load.dial import tcp_connect
from harness.load.result import Result
from harness.protocol.outcomes import Observation, Stage
from tests.conftest import run_cli


def test_a_connection_comes_from_the_given_address() -> None:
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        for source in ("127.0.0.2", "127.0.0.3", None):
            res = Result(observation=Observation(stage=Stage.CONNECT))
            sock = tcp_connect("127.0.0.1", port, 5.0, res, [], source)
            assert isinstance(sock, socket.socket), res.error
            peer, _ = server.accept()
            with sock, peer:
                assert peer.getpeername()[0] == (source or "127.0.0.1")


def test_bad_addresses_are_refused_with_the_key(tmp_path: Path) -> None:
    cases = (("[nope]", "expected an IPv4 or IPv6 address"), ("[127.0.0.2, 127.0.0.2]", "twice"))
    for value, why in cases:
        with pytest.raises(HarnessError, match=rf"load\.source_addresses\[\d\]: .*{why}"):
            load_scenario("scenarios/smoke.yaml", sets=[f"load.source_addresses={value}"])


def test_users_take_the_addresses_in_turn(tmp_path: Path) -> None:
    run = run_cli(
        "run", "scenarios/smoke.yaml", "--duration", "3", "--users", "4", "--spawn-rate", "8",
        "--set", "load.source_addresses=[127.0.0.2, 127.0.0.3]", out_dir=tmp_path,
    )  # fmt: skip
    # 3 s of smoke may leave a token kind without attempts (a gate with no data):
    # what this test is about is that every attempt went as expected from its address
    assert run.code in (0, 1), run.stdout + run.stderr
    assert run.summary()["total"]["success_rate"] == 1.0, run.stdout
    log = (run.run_dir / "target.log").read_text()
    assert "accepted 127.0.0.2:" in log and "accepted 127.0.0.3:" in log
    assert "accepted 127.0.0.1:" not in log
