"""End to end: real `harness run` processes, real Locust, the real reference target on port 0."""

from __future__ import annotations

import json
import re
import textwrap
from collections import Counter
from pathlib import Path

import jsonschema
import pytest

from harness.load.result import STOPPED_BY_HARNESS
from tests.conftest import ROOT, run_cli, scaled
from tests.rawserver import raw_server


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_smoke_short_run_passes_and_summary_matches_records(tmp_path: Path) -> None:
    run = run_cli("run", "scenarios/smoke.yaml", "--duration", "6", out_dir=tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    assert "PASS: all 6 gates passed" in run.stdout
    records = run.attempts()
    summary = run.summary()
    assert summary["total"]["attempts"] == len(records) > 20
    kinds = Counter(r["token_kind"] for r in records)
    for kind, section in summary["token_kinds"].items():
        assert section["attempts"] == kinds[kind]
    assert set(kinds) == {"valid", "empty", "expired"}
    # every record is complete and self-consistent
    for r in records:
        if r["verdict"] == "excluded":
            continue
        if r["token_kind"] == "valid":
            assert r["outcome"] == "accepted", r
            if not (r["error"] or "").startswith(STOPPED_BY_HARNESS):  # cut by the run's end
                assert r["msgs_recv"] == r["msgs_sent"] == 2, r
            assert r["handshake_ms"] is not None and r["connect_ms"] is not None
        else:
            assert (r["outcome"], r["http_status"]) == ("rejected_auth", 401), r
    rd = run.run_dir
    assert (rd / "index.html").is_file()
    assert len(list((rd / "charts").glob("*.png"))) >= 4
    assert (rd / "samples.jsonl").read_text().count("\n") >= 3  # target sampled each second
    meta = json.loads((rd / "meta.json").read_text())
    assert meta["complete"] is True and meta["attempts"] == len(records)
    # progress lines were printed while running
    assert run.stdout.count("] users ") >= 2
    # a healthy target: nothing high or critical to report
    serious = [f for f in summary["findings"] if f["severity"] in ("high", "critical")]
    assert serious == [], serious
    # the real run's summary.json is what the checked-in JSON Schema describes
    schema = json.loads((ROOT / "docs" / "summary.schema.json").read_text())
    jsonschema.validate(summary, schema)
    assert summary["schema_version"] == schema["properties"]["schema_version"]["const"]


def test_accept_empty_token_defect_fails_the_gate(tmp_path: Path) -> None:
    run = run_cli(
        "run",
        "scenarios/smoke.yaml",
        "--duration",
        "5",
        "--defect",
        "accept-empty-token",
        out_dir=tmp_path,
    )
    assert run.code == 1, run.stdout + run.stderr
    assert "no empty token accepted" in run.stderr  # the failed gate is named
    empty = run.summary()["token_kinds"]["empty"]
    assert empty["verdicts"]["invalid_accepted"] > 0
    assert empty["verdicts"]["invalid_accepted"] == empty["counted"]


def test_drop_before_handshake_is_counted_as_abrupt(tmp_path: Path) -> None:
    run = run_cli(
        "run",
        "scenarios/smoke.yaml",
        "--duration",
        "5",
        "--defect",
        "drop-before-handshake",
        out_dir=tmp_path,
    )
    assert run.code == 1, run.stdout + run.stderr
    records = run.attempts()
    dropped = [r for r in records if r["outcome"] == "abnormal_handshake"]
    assert dropped, "no connection was seen closed before the handshake completed"
    assert all(r["verdict"] == "abrupt" and r["manner"] == "abrupt" for r in dropped)
    assert all(r["http_status"] is None and r["stage"] == "handshake" for r in dropped)
    totals = run.summary()["total"]
    assert totals["verdicts"]["abrupt"] == len(dropped)
    assert "at most 1% abrupt closures" in run.stderr


CACHE_SCENARIO = """\
name: stale-tokens
target:
  embedded: {defects: []}
load:
  users: 4
  spawn_rate: 4
  duration: 7
  mix: {valid: 1, expired_reused: 3}
  session: {hold: 0.2, messages: 0, wait: [0.1, 0.2]}
gates:
  - name: stale tokens refused
    metric: invalid_accepted
    token_kind: expired_reused
    op: "=="
    threshold: 0
"""


@pytest.mark.parametrize("defect", [None, "cache-past-expiry"])
def test_cache_past_expiry_shows_as_invalid_accepted(tmp_path: Path, defect: str | None) -> None:
    scenario = write(tmp_path, "stale.yaml", CACHE_SCENARIO)
    extra = ["--defect", defect] if defect else []
    run = run_cli("run", str(scenario), *extra, out_dir=tmp_path / "out")
    # attempts the end of the run cut mid-handshake are excluded: nothing to judge
    stale = [
        r
        for r in run.attempts()
        if r["token_kind"] == "expired_reused" and r["verdict"] != "excluded"
    ]
    assert stale, run.stdout + run.stderr
    outcomes = Counter(r["outcome"] for r in stale)
    if defect:
        assert run.code == 1, run.stdout + run.stderr
        assert outcomes["accepted"] == len(stale), outcomes
        summary = run.summary()
        assert summary["token_kinds"]["expired_reused"]["verdicts"]["invalid_accepted"] == len(
            stale
        )
        (finding,) = [f for f in summary["findings"] if f["id"] == "stale-token-accepted"]
        assert finding["severity"] == "critical"
    else:
        assert run.code == 0, run.stdout + run.stderr
        assert outcomes["rejected_auth"] == len(stale), outcomes
        # the same token was accepted while it was still valid
        # (excluded: an attempt cut mid-handshake by the end of the run)
        assert all(r["verdict"] in ("ok", "excluded") for r in run.attempts())


def test_auth_matrix_every_kind_gets_its_expected_outcome(tmp_path: Path) -> None:
    run = run_cli("run", "scenarios/auth-matrix.yaml", "--duration", "6", out_dir=tmp_path)
    assert run.code == 0, run.stdout + run.stderr
    by_kind = run.summary()["token_kinds"]
    assert set(by_kind) == {
        "valid",
        "empty",
        "missing",
        "expired",
        "not_yet_valid",
        "bad_signature",
        "alg_none",
        "malformed",
    }
    for kind, section in by_kind.items():
        assert section["success_rate"] == 1.0, (kind, section)
        if kind != "valid":  # rejection mode "close": 101, then close 4401 with a reason
            seen = set(section["outcomes"]) - {"interrupted"}  # cut by the end of the run
            assert seen == {"closed_auth"}, (kind, section["outcomes"])
            assert set(section["close_codes"]) == {"4401"}, section["close_codes"]


BAD = """\
name: broken
load:
  users: 5
  mix: {valid: 1, expired: ten}
"""


def test_bad_scenario_exits_2_with_the_key_and_no_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", BAD)
    run = run_cli("run", str(path), out_dir=tmp_path / "out")
    assert run.code == 2
    assert "Traceback" not in run.stderr
    assert f"{path}:4: load.mix.expired: expected a number in [0, 1000000], got 'ten'" in run.stderr
    assert not (tmp_path / "out").exists()


def test_missing_scenario_file_exits_2(tmp_path: Path) -> None:
    run = run_cli("run", str(tmp_path / "nope.yaml"), out_dir=tmp_path)
    assert run.code == 2
    assert "nope.yaml" in run.stderr and "Traceback" not in run.stderr


EXTERNAL = """\
name: external-silent
target:
  url: {url}
auth:
  secret: {{env: TEST_SECRET}}
load:
  users: 6
  spawn_rate: 20
  duration: 1.5
  mix: {{valid: 1}}
  session: {{hold: 30, messages: 0}}
  timeouts: {{connect: 5, handshake: 60}}
gates:
  - {{metric: attempts, op: ">=", threshold: 0}}
"""


def test_users_stuck_in_a_handshake_stop_within_the_stop_timeout(tmp_path: Path) -> None:
    """websocket-client's close() swallows GreenletExit; a stuck user must still stop on time.

    The server reads each upgrade request and never answers, so every user sits in a
    60 s handshake read when the run ends; Locust's stop timeout (3 s) must end them.
    Run several times: the trap shows intermittently.
    """
    with raw_server() as (base, _):
        scenario = write(tmp_path, "silent.yaml", EXTERNAL.format(url=base + "/silent/40"))
        for i in range(3):
            run = run_cli(
                "run",
                str(scenario),
                out_dir=tmp_path / f"out{i}",
                env={"TEST_SECRET": "x" * 32},
                timeout=60,
            )
            assert run.code == 0, run.stdout + run.stderr
            meta = json.loads((run.run_dir / "meta.json").read_text())
            stopped_in = meta["ended_at"] - meta["started_at"] - 1.5  # after the 1.5 s load
            # Locust's stop timeout is 3 s; allow scheduling slack, not a hang
            assert stopped_in < scaled(6), f"run {i} took {stopped_in:.1f} s to stop"
            records = run.attempts()
            assert len(records) == 6  # each stuck user wrote its one record
            assert {r["outcome"] for r in records} == {"interrupted"}
            assert run.summary()["total"]["attempts"] == 6


def test_embedded_target_does_not_outlive_a_killed_run(tmp_path: Path) -> None:
    """SIGKILL the harness mid-run: the embedded target it started must exit too."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    out = tmp_path / "out"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness",
            "run",
            "scenarios/smoke.yaml",
            "--duration",
            "60",
            "--out",
            str(out),
            "-q",
        ],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + scaled(30)
        pid = None
        while time.monotonic() < deadline and pid is None:
            time.sleep(0.2)
            metas = list(out.glob("*/meta.json")) if out.exists() else []
            if metas:
                pid = json.loads(metas[0].read_text()).get("target_pid")
        assert pid is not None, "the run never recorded its target's PID"
        target = psutil.Process(pid)
        time.sleep(1.0)  # let users connect
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        target.wait(timeout=scaled(2))  # raises TimeoutExpired if it lingers
        assert not target.is_running()
        # what was recorded before the kill is still readable
        assert (metas[0].parent / "attempts.jsonl").exists()
    finally:
        if proc.poll() is None:
            proc.kill()


SECRET_SCENARIO = """\
name: secret-check
target:
  embedded: {{defects: [accept-empty-token]}}
auth:
  secret: {{env: HARNESS_TEST_SIGNING_KEY}}
  placement: {placement}
load:
  users: 4
  spawn_rate: 10
  duration: 3
  mix: {{valid: 2, expired: 1, bad_signature: 1, empty: 1}}
  session: {{hold: 0.2, messages: 1, wait: [0.05, 0.1]}}
gates:
  - {{metric: invalid_accepted, op: "==", threshold: 0}}
"""


@pytest.mark.parametrize("placement", ["query", "header"])
def test_no_secret_or_token_in_any_output(tmp_path: Path, placement: str) -> None:
    """Neither the signing key nor any token appears in the run directory or the terminal."""
    key = "sk-" + "7f3a9c" * 8
    scenario = write(tmp_path, "s.yaml", SECRET_SCENARIO.format(placement=placement))
    run = run_cli(
        "run", str(scenario), out_dir=tmp_path / "out", env={"HARNESS_TEST_SIGNING_KEY": key}
    )
    assert run.code == 1, run.stdout + run.stderr  # the defect fails the gate: a full report
    texts = {"stdout": run.stdout, "stderr": run.stderr}
    for path in run.run_dir.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            text = path.read_text(errors="replace")
            # embedded chart images are base64 too and may hold "eyJ" by chance
            texts[str(path)] = re.sub(r"data:image/\w+;base64,[A-Za-z0-9+/=]+", "", text)
    assert len(texts) > 8
    for where, text in texts.items():
        assert key not in text, f"signing key in {where}"
        assert "eyJ" not in text, f"a JWT in {where}"  # base64url of '{"' starts every JWT
