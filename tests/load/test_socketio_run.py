"""Socket.IO end to end: the shipped ``scenarios/socketio.yaml`` in a real ``harness run``
against the embedded target in Socket.IO mode, and the same users against a target with
the accept-empty-token defect (the report must say so)."""

from __future__ import annotations

import json
from pathlib import Path

from harness.config.scenario import EmbeddedTarget
from harness.target.process import start_target
from tests.conftest import run_cli

# short sessions, so every kind of the mix gets attempts in a few seconds
QUICK = [
    *("--duration", "5", "--users", "6", "--spawn-rate", "6"),
    *("--set", "load.session.hold=0.5", "--set", "load.session.messages=1"),
]


def test_the_shipped_scenario_passes_its_gates(tmp_path: Path) -> None:
    run = run_cli("run", "scenarios/socketio.yaml", *QUICK, out_dir=tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    assert "PASS: all 5 gates passed" in run.stdout
    records = run.attempts()
    kinds = {r["token_kind"] for r in records}
    assert {"valid", "empty", "expired", "missing"} <= kinds
    timed = 0
    for r in records:
        if r["verdict"] == "excluded":
            continue
        if r["token_kind"] == "valid":
            assert r["outcome"] == "accepted", r
            assert r["transport"] == "websocket", r
            timed += r["rtt_ms_avg"] is not None
        else:
            assert r["outcome"] == "connect_error_auth", r
            assert "unauthorized" in r["connect_error"], r
    valid = sum(r["token_kind"] == "valid" for r in records)
    assert timed >= valid - 6  # all but the sessions the run's stop cut short
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["total"]["outcomes"].get("connect_error_auth", 0) > 0


def test_an_accepted_empty_token_fails_the_gates(tmp_path: Path) -> None:
    run = run_cli(
        "run",
        "scenarios/socketio.yaml",
        *QUICK,
        "--defect",
        "accept-empty-token",
        out_dir=tmp_path,
    )
    assert run.code == 1, run.stdout + run.stderr
    assert "FAIL" in run.stdout and "empty refused" in run.stdout
    assert "invalid-token-accepted" in run.stdout


def test_a_proxy_that_blocks_websockets_is_a_finding(tmp_path: Path) -> None:
    run = run_cli(
        "run",
        "scenarios/socketio.yaml",
        *QUICK,
        "--set",
        "target.embedded.socketio_transports=[polling]",
        out_dir=tmp_path,
    )
    assert run.code == 0, run.stdout + run.stderr  # clients still connect: the gates pass
    assert "websocket-blocked" in run.stdout
    summary = json.loads((run.run_dir / "summary.json").read_text())
    sio = summary["socketio"]
    assert sio["fallbacks"] > 0 and set(sio["attempts_by_transport"]) == {"polling"}


def test_a_plain_client_at_a_socketio_path_is_a_configuration_error(tmp_path: Path) -> None:
    secret = "plain-at-sio-secret-" + "0123456789abcdef" * 2
    with start_target(
        EmbeddedTarget(), secret=secret, log_path=tmp_path / "t.log", protocol="socketio"
    ) as target:
        scenario = tmp_path / "plain.yaml"
        scenario.write_text(
            f"name: plain-at-sio\ntarget: {{url: '{target.url}'}}\n"
            "auth: {secret: {env: PLAIN_AT_SIO_SECRET}}\n"
            "load: {users: 3, spawn_rate: 3, duration: 3, "
            "session: {hold: 0.2, wait: [0.1, 0.2]}}\n"
        )
        run = run_cli(
            "run", str(scenario), out_dir=tmp_path / "out", env={"PLAIN_AT_SIO_SECRET": secret}
        )
    assert run.code == 0, run.stdout + run.stderr  # no gates: findings do not fail the run
    assert "[CRITICAL] socketio-path" in run.stdout
    # the refusals are the scenario's error: never "at capacity", never a token finding
    assert "valid-refused-without-chaos" not in run.stdout
    assert "invalid-token-accepted" not in run.stdout


def test_sessions_reconnect_over_socketio_after_a_restart(tmp_path: Path) -> None:
    run = run_cli(
        "run",
        "scenarios/reconnect-storm.yaml",
        "--users",
        "20",
        "--spawn-rate",
        "20",
        "--duration",
        "9",
        "--set",
        "chaos[0].at=3",
        "--set",
        "target.protocol=socketio",
        "--set",
        "auth.placement=socketio_auth",
        out_dir=tmp_path,
    )
    assert run.code == 0, run.stdout + run.stderr
    summary = json.loads((run.run_dir / "summary.json").read_text())
    restart = summary["sessions"]["restarts"]["restart_target#1"]
    # the restart closed the Engine.IO sessions ("transport close"): every one came back,
    # as socket.io-client reconnects; none was told "io server disconnect"
    assert restart["lost"] == 20 and restart["reconnected"] == 20, restart
    assert summary["socketio"]["server_disconnects"] == 0
    cut = [r for r in run.attempts() if r["session_attempt"] == 0 and r["outcome"] != "accepted"]
    assert cut and all(r["outcome"] == "closed_normal" for r in cut), cut
    assert all(r["close_reason"] == "Engine.IO close" for r in cut)


def test_a_server_disconnect_is_not_retried_by_the_front_end(tmp_path: Path) -> None:
    run = run_cli(
        "run",
        "scenarios/socketio.yaml",
        *("--duration", "4", "--users", "4", "--spawn-rate", "4"),
        *("--set", "load.session.hold=10"),
        *("--set", "target.embedded.disconnect_after=0.5"),
        *("--set", "load.reconnect.preset=front-end"),
        out_dir=tmp_path,
    )
    records = [r for r in run.attempts() if r["verdict"] != "excluded"]
    kicked = [r for r in records if r["outcome"] == "server_disconnect"]
    assert kicked, run.stdout + run.stderr
    # "io server disconnect" is deliberate: the front end does not reconnect after it
    assert all(r["session_attempt"] == 0 for r in records), records
    assert all(r["closed_by"] == "server" for r in kicked)
