"""`harness doctor` against the real reference target: healthy, and with two defects."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.config.scenario import EmbeddedTarget
from harness.target.process import TargetProcess, start_target
from tests.conftest import run_cli

SECRET = "doctor-test-secret-" + "0123456789abcdef" * 2


@pytest.fixture
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TargetProcess]:
    defects = tuple(request.param)
    opts = EmbeddedTarget(max_connections=15, ping_interval=1.0, defects=defects)
    with start_target(opts, secret=SECRET, log_path=tmp_path / "target.log") as t:
        yield t


def doctor(target: TargetProcess, out: Path, *extra: str) -> tuple[int, str, dict[str, object]]:
    run = run_cli(
        "doctor",
        target.url,
        "--ramp",
        "25",
        *extra,
        out_dir=out,
        env={"HARNESS_JWT_SECRET": SECRET},
        timeout=90,
    )
    assert "Traceback" not in run.stderr, run.stderr
    summary = json.loads(next(out.glob("doctor-*/summary.json")).read_text())
    return run.code, run.stdout, summary


@pytest.mark.parametrize("target", [()], indirect=True)
def test_healthy_target_has_no_serious_findings(target: TargetProcess, tmp_path: Path) -> None:
    code, out, summary = doctor(target, tmp_path, "--heartbeat", "3")
    assert code == 0, out
    assert "ramp to 25: " in out and "rejected_capacity" in out  # refused gracefully at 15
    assert "HTTP 401" in out and "HTTP 503" in out
    assert "heartbeat: " in out and "server pings" in out
    serious = [f for f in summary["findings"] if f["severity"] in ("high", "critical")]  # type: ignore[index, union-attr]
    assert serious == []
    # outside the ramp every valid token was accepted; in the ramp refusals were graceful
    base = summary["phases"]["baseline"]["token_kinds"]["valid"]  # type: ignore[index]
    assert base["verdicts"]["ok"] == base["counted"] > 0
    ramp = summary["phases"]["during ramp"]["total"]  # type: ignore[index]
    assert ramp["abrupt"] == 0 and ramp["graceful"] > 0


@pytest.mark.parametrize("target", [("accept-empty-token",)], indirect=True)
def test_accept_empty_token_is_a_critical_finding(target: TargetProcess, tmp_path: Path) -> None:
    code, out, summary = doctor(target, tmp_path, "--heartbeat", "2")
    assert code == 1, out
    ids = {f["id"]: f for f in summary["findings"]}  # type: ignore[attr-defined, union-attr]
    assert ids["invalid-token-accepted"]["severity"] == "critical"
    assert "empty" in ids["invalid-token-accepted"]["evidence"]
    assert "CRITICAL" in out and "invalid-token-accepted" in out


@pytest.mark.parametrize("target", [("drop-before-handshake",)], indirect=True)
def test_dropped_handshakes_are_found(target: TargetProcess, tmp_path: Path) -> None:
    code, out, summary = doctor(target, tmp_path, "--heartbeat", "2")
    assert code == 1, out
    ids = {f["id"]: f for f in summary["findings"]}  # type: ignore[attr-defined, union-attr]
    assert ids["closed-before-established"]["severity"] == "high"
    assert "abnormal_handshake" in out


def test_bad_url_and_missing_secret_exit_2(tmp_path: Path) -> None:
    run = run_cli(
        "doctor", "http://127.0.0.1:1/ws", out_dir=tmp_path, env={"HARNESS_JWT_SECRET": "x"}
    )
    assert run.code == 2 and "expected a ws:// or wss:// URL" in run.stderr
    run = run_cli("doctor", "ws://127.0.0.1:1/ws", "--secret-env", "NOPE_NOT_SET", out_dir=tmp_path)
    assert run.code == 2 and "no signing secret: set env:NOPE_NOT_SET" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.fixture
def small_target(tmp_path: Path) -> Iterator[TargetProcess]:
    """A service that takes 6 connections at once (as a per-client limit would)."""
    opts = EmbeddedTarget(max_connections=6, ping_interval=1.0)
    with start_target(opts, secret=SECRET, log_path=tmp_path / "target.log") as t:
        yield t


def test_doctor_paces_its_token_probes_under_a_small_connection_limit(
    small_target: TargetProcess, tmp_path: Path
) -> None:
    """Four token probes at once plus the heartbeat's connection stay under a limit of 6:
    no capacity refusal outside the ramp, so no finding blames the service for the doctor."""
    code, out, summary = doctor(small_target, tmp_path, "--heartbeat", "2")
    assert code == 0, out
    base = summary["phases"]["baseline"]["total"]  # type: ignore[index]
    assert "rejected_capacity" not in base["outcomes"]
    valid = summary["phases"]["baseline"]["token_kinds"]["valid"]  # type: ignore[index]
    assert valid["verdicts"]["ok"] == valid["counted"] > 0
    serious = [f for f in summary["findings"] if f["severity"] in ("high", "critical")]  # type: ignore[index, union-attr]
    assert serious == []


def test_doctor_concurrency_is_checked(tmp_path: Path) -> None:
    run = run_cli(
        "doctor", "ws://127.0.0.1:1/ws", "--concurrency", "0", out_dir=tmp_path,
        env={"HARNESS_JWT_SECRET": SECRET},
    )  # fmt: skip
    assert run.code == 2
    assert "harness: error: --concurrency: expected an integer in [1, 64], got 0" in run.stderr
