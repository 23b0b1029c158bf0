"""``harness suite``: real runs of tiny scenarios against the embedded target, one after
another, and the suite report a CI job reads (exit code, summary.json, junit.xml, index.html)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, run_cli, scaled

TINY = """\
name: {name}
target:
  embedded: {{rejection: upgrade, defects: {defects}}}
load:
  users: 3
  spawn_rate: 10
  duration: {duration}
  mix: {{valid: 1, empty: 1}}
  session: {{hold: 0.2, messages: 1, wait: [0.05, 0.1]}}
gates:
  - {{name: valid tokens get a session, metric: success_rate, token_kind: valid,
      op: ">=", threshold: 0.9}}
  - {{name: no empty token accepted, metric: invalid_accepted, token_kind: empty,
      op: "==", threshold: 0}}
"""


def tiny(folder: Path, name: str, *, defects: str = "[]", duration: float = 1.5) -> None:
    text = TINY.format(name=name, defects=defects, duration=duration)
    (folder / f"{name}.yaml").write_text(text)


def suite_file(tmp_path: Path, *, long_first: bool = False) -> Path:
    tiny(tmp_path, "ok", duration=30 if long_first else 2)
    tiny(tmp_path, "bad", defects="[accept-empty-token]")
    tiny(tmp_path, "late")
    path = tmp_path / "suite.yaml"
    path.write_text(
        "name: three\n"
        "scenarios:\n"
        "  - {file: ok.yaml, tags: [smoke]}\n"
        "  - {file: bad.yaml, tags: [auth]}\n"
        "  - {file: late.yaml, tags: [smoke, auth]}\n"
    )
    return path


def suite_dir(out: Path) -> Path:
    (found,) = [p for p in out.iterdir() if p.name.startswith("suite-")]
    return found


def read(out: Path) -> tuple[dict[str, Any], ET.Element, str]:
    d = suite_dir(out)
    summary = json.loads((d / "summary.json").read_text())
    return summary, ET.parse(d / "junit.xml").getroot(), (d / "index.html").read_text()


def test_a_suite_runs_every_scenario_and_fails_on_the_one_that_fails(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    run = run_cli("suite", str(suite_file(tmp_path)), "-q", out_dir=out, timeout=180)
    assert run.code == 1, run.stdout + run.stderr
    assert "FAIL: 1 of 3 failed (02-bad)" in run.stderr
    assert "[suite 2/3] 02-bad: FAIL in" in run.stdout
    assert "gate 'no empty token accepted'" in run.stdout
    summary, junit, html = read(out)
    statuses = [(s["label"], s["status"]) for s in summary["scenarios"]]
    assert statuses == [("01-ok", "pass"), ("02-bad", "fail"), ("03-late", "pass")]
    assert summary["exit_code"] == 1 and summary["passed"] is False and summary["complete"]
    assert summary["scenarios"][1]["failed_gates"] == ["no empty token accepted"]
    for s in summary["scenarios"]:
        assert s["attempts"] > 0
        assert (suite_dir(out) / s["report"]).is_file()  # each run's own report
        assert f'href="{s["report"]}"' in html
    # one testsuite per scenario; every test name unique across them
    suites = junit.findall("testsuite")
    assert [s.get("name", "").split(":")[0] for s in suites] == ["01-ok", "02-bad", "03-late"]
    cases = junit.findall("testsuite/testcase")
    names = [(c.get("classname"), c.get("name")) for c in cases]
    assert len(set(names)) == len(names)
    assert len({c.get("name") for c in cases}) == len(cases)
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    # the failed gate, and the serious findings of that run, all under its label
    assert "02-bad: no empty token accepted" in failed
    assert all(str(f).startswith("02-bad: ") for f in failed)
    assert junit.get("failures") == str(len(failed)) and junit.get("errors") == "0"
    assert ">FAIL: 1 of 3 failed (02-bad)<" in html


def test_tags_select_and_fail_fast_stops_at_the_first_failure(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    run = run_cli(
        "suite", str(suite_file(tmp_path)), "--tags", "auth", "--fail-fast", "-q", out_dir=out,
        timeout=120,
    )  # fmt: skip
    assert run.code == 1, run.stdout + run.stderr
    summary, junit, _ = read(out)
    assert [(s["label"], s["status"]) for s in summary["scenarios"]] == [
        ("01-bad", "fail"),
        ("02-late", "not run"),
    ]
    assert summary["stop_reason"] == "fail-fast" and not summary["complete"]
    skipped = junit.findall("testsuite/testcase/skipped")
    assert len(skipped) == 1 and junit.get("skipped") == "1"
    assert not (suite_dir(out) / "02-late").exists()
    unknown = run_cli("suite", str(tmp_path / "suite.yaml"), "--tags", "nope", out_dir=out)
    assert unknown.code == 2 and "no scenario has the tag(s) nope (its tags: auth, smoke)" in (
        unknown.stderr
    )
    assert "Traceback" not in unknown.stderr


def test_sigterm_stops_the_suite_and_the_report_of_what_ran_is_written(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    cmd = [sys.executable, "-m", "harness", "suite", str(suite_file(tmp_path, long_first=True))]
    proc = subprocess.Popen(
        [*cmd, "-q", "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env={**os.environ},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + scaled(60)
        while time.monotonic() < deadline:  # the first scenario's run has started its users
            attempts = list(out.glob("suite-*/01-ok/*/attempts.jsonl"))
            if attempts and attempts[0].stat().st_size > 0:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the first scenario never made an attempt")
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=scaled(90))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, stdout + stderr
    summary, junit, html = read(out)
    assert summary["stop_reason"] == "interrupted"
    assert [s["status"] for s in summary["scenarios"]] == ["interrupted", "not run", "not run"]
    first = summary["scenarios"][0]
    assert first["report"] and first["attempts"] > 0 and first["seconds"] < 30
    errors = [c.find("error") for c in junit.findall("testsuite/testcase")]
    assert sum(e is not None for e in errors) == 1 and junit.get("skipped") == "2"
    assert "INTERRUPTED" in html
