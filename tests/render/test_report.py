"""Tests of build_report on run directories written by the test: files, charts, HTML.

Rendering charts costs about half a second each, so only the tests about charts draw
them; the others replace :func:`harness.render.report.write_charts` (fixtures
``no_charts`` and ``fake_charts``, in ``conftest.py``).
"""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.analysis.summary import Finding, Recovery, summary_from_json
from harness.cli.main import main as cli_main
from harness.config.scenario import Gate
from harness.errors import RunDirError
from harness.render import report as build
from harness.render.charts.captions import CHART_FILES, PHASE_CHARTS
from harness.render.report import build_report
from harness.render.tables import KIND_COLUMNS, PHASE_COLUMNS
from harness.render.terminal import format_terminal_summary
from tests.analysis.builders import (
    GATES,
    attempt,
    chaos_event,
    chaos_records,
    png_size,
    standard_records,
    write_run,
)


@pytest.mark.usefixtures("fake_charts")  # real charts: the chaos and killed-run tests
def test_build_report_writes_summary_charts_html(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", standard_records(), gates=GATES)
    result = build_report(run_dir)

    # summary.json: counts, gates, overall verdict; the torn line was skipped.
    doc = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert result.paths.summary_json == run_dir / "summary.json"
    assert doc["schema_version"] == 2
    assert (doc["total"]["attempts"], doc["total"]["counted"]) == (51, 50)
    assert doc["token_kinds"]["valid"]["attempts"] == 41
    assert doc["token_kinds"]["valid"]["success_rate"] == pytest.approx(36 / 40)
    assert doc["token_kinds"]["valid"]["close_codes"] == {"1013": 4}
    assert doc["token_kinds"]["empty"]["verdicts"]["invalid_accepted"] == 2
    assert doc["token_kinds"]["empty"]["outcomes"] == {"rejected_auth": 8, "accepted": 2}
    assert [g["name"] for g in doc["gates"]] == ["valid ok", "no empty accepted"]
    assert [g["passed"] for g in doc["gates"]] == [True, False]
    assert doc["gates"][1]["message"] == "FAIL invalid_accepted[empty] == 0: got 2"
    assert doc["passed"] is False and result.passed is False
    assert [r.name for r in result.gate_results] == ["valid ok", "no empty accepted"]
    assert summary_from_json(doc) == result.summary  # the file is the typed summary

    # Charts: every chart but recovery (no chaos.jsonl: no window to recover from); the
    # attempts recorded a fault, so the phase charts are drawn.
    charts = list(result.paths.charts)
    assert [p.name for p in charts] == [n for n in CHART_FILES if n != "recovery.png"]
    assert all(path.parent == run_dir / "charts" for path in charts)

    # index.html: self-contained, every chart embedded byte for byte.
    html = (run_dir / "index.html").read_text(encoding="utf-8")
    assert result.paths.index_html == run_dir / "index.html"
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(embedded) == len(charts)
    assert {base64.b64decode(e) for e in embedded} == {p.read_bytes() for p in charts}
    assert "<script" not in html.lower()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "FAIL: 1 of 2 gates failed" in html
    assert "no empty accepted" in html
    assert "run-42" in html and "smoke" in html
    assert "cut short" not in html.lower()
    assert "WS_SECRET" in html  # the resolved scenario is shown (it names the env var only)
    assert '<link rel="icon" href="data:,">' in html  # no favicon fetched from disk
    env = html[html.index('<h2 id="environment">') : html.index('<h2 id="scenario">')]
    assert "harness run scenarios/smoke.yaml" in env and "ws://127.0.0.1:8765/ws" in env
    assert "version of python" in env and "2023-11-14 22:13:50 UTC" in env  # ended
    codes = html[html.index('<table id="close-codes">') :]
    assert "1013 try again later: 4" in codes[: codes.index("</table>")]

    # The other outputs, next to index.html.
    paths = result.paths
    assert [p.name for p in paths.all()[:6]] == [
        "index.html",
        "summary.json",
        "summary.md",
        "junit.xml",
        "token_kinds.csv",
        "phases.csv",
    ]
    assert all(p.parent == run_dir and p.stat().st_size > 0 for p in paths.all()[:6])
    suite = ET.parse(paths.junit_xml).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "harness: smoke"
    assert [c.get("name") for c in suite.iter("testcase") if c.get("classname") == "gates"] == [
        "valid ok",
        "no empty accepted",
    ]
    kinds = pd.read_csv(paths.token_kinds_csv)
    assert list(kinds.columns) == list(KIND_COLUMNS)
    assert kinds["token_kind"].tolist() == ["valid", "empty"]
    assert kinds["attempts"].tolist() == [41, 10]
    assert kinds["invalid_accepted"].tolist() == [0, 2]
    assert kinds["success_rate"].tolist() == [0.9, 0.8]
    phases = pd.read_csv(paths.phases_csv)
    assert list(phases.columns) == list(PHASE_COLUMNS)
    assert phases[["phase", "token_kind"]].values.tolist() == [
        ["baseline", "valid"],
        ["baseline", "empty"],
        ["during cpu_quota", "valid"],
    ]
    md = paths.summary_md.read_text(encoding="utf-8")
    assert "**FAIL**: 1 of 2 gates failed" in md
    assert "](" not in md  # no relative link: a CI job summary would show a dead one
    assert "(`charts/outcomes_by_phase.png`)" in md and "recovery.png" not in md


@pytest.mark.usefixtures("fake_charts")
def test_summary_md_links_absolute_under_a_base(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", standard_records())
    base = "https://ci.example/artifacts/run-42/"
    md = build_report(run_dir, link_base=base).paths.summary_md.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)]+)\)", md)
    assert links and all(link.startswith(base) for link in links)
    assert f"[index.html]({base}index.html)" in md
    assert f"({base}charts/success_rate.png)" in md


@pytest.mark.usefixtures("no_charts")
def test_gates_argument_overrides_scenario(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", standard_records(), gates=GATES)
    gates = [Gate(name="enough", metric="attempts", op=">=", threshold=50)]
    result = build_report(run_dir, gates)
    assert [(r.name, r.passed, r.value) for r in result.gate_results] == [("enough", True, 51.0)]
    assert result.passed is True and result.summary.passed is True
    assert "PASS: all 1 gates passed" in (run_dir / "index.html").read_text(encoding="utf-8")


@pytest.mark.usefixtures("no_charts")
def test_empty_attempts_and_cut_short_run(tmp_path: Path) -> None:
    gates = [{"name": "any ok", "metric": "ok", "op": ">=", "threshold": 0, "token_kind": None}]
    run_dir = write_run(
        tmp_path / "run", [], complete=False, samples=False, torn=False, gates=gates
    )
    (run_dir / "attempts.jsonl").write_text("", encoding="utf-8")
    result = build_report(run_dir)
    assert result.summary.total.attempts == 0
    assert result.summary.complete is False
    assert result.passed is False  # a gate never passes on no data
    assert "no data" in result.gate_results[0].message
    html = result.paths.index_html.read_text(encoding="utf-8")
    assert "no: The run was cut short (no end time was recorded" in html
    assert "no attempts recorded" in html
    assert pd.read_csv(result.paths.token_kinds_csv).empty  # a header and no rows
    doc = json.loads(result.paths.summary_json.read_text(encoding="utf-8"))
    assert doc["passed"] is False and doc["total"]["success_rate"] is None


@pytest.mark.usefixtures("no_charts")
def test_html_escapes_run_values(tmp_path: Path) -> None:
    records = [attempt(0, "valid", "accepted", "ok", handshake_ms=1.0)]
    run_dir = write_run(tmp_path / "run", records, scenario_name="<script>alert(1)</script>")
    html = build_report(run_dir).paths.index_html.read_text(encoding="utf-8")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_missing_run_dir_is_a_harness_error(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="not a run directory"):
        build_report(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(RunDirError, match=r"no meta\.json"):
        build_report(tmp_path / "half")


# --- Chaos -------------------------------------------------------------------------------


def recovery(label: str, fault: str, reverted: float, at: float | None) -> Recovery:
    """A recovery entry as the summary carries it: recovered at ``at``, or never (None)."""
    return Recovery(
        label=label, fault=fault, window_status="reverted", applied_s=reverted - 10.0,
        reverted_s=reverted, baseline_success_rate=1.0, baseline_attempts=20,
        baseline_assumed=False, margin=0.05, threshold=0.95, success_rate_during=0.0,
        worst_rate_during=0.0, degraded=True, horizon_end_s=30.0, attempts_after=10,
        success_rate_after=0.9 if at else 0.1, recovered_at_s=at,
        recovery_s=None if at is None else at - reverted, recovered=at is not None,
        status="recovered" if at is not None else "did not recover",
    )  # fmt: skip


#: Recovery and findings as the summary carries them (fixed here, whatever the rules find).
RECOVERY = {
    "cpu_quota#1": recovery("cpu_quota#1", "cpu_quota", 20.0, 23.5),
    "kill_target#3": recovery("kill_target#3", "kill_target", 26.0, None),
}
FINDINGS = (
    Finding("closed-before-established", "connection", "high",
            "Connections were closed before they were established",
            "8 of 60 attempts (13.3%) dropped before the 101",
            "the server dropped handshakes & <b>said nothing</b>",
            "answer every upgrade (503 when full)"),
    Finding("slow-recovery", "resource", "medium", "Slow recovery",
            "kill_target#3 did not recover", "clients keep failing after the fault",
            "restart faster"),
    Finding("no-heartbeat", "connection", "low", "No heartbeat", "0 pings", "m", "f"),
)  # fmt: skip


@pytest.fixture
def extras(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every summary the :data:`RECOVERY` and :data:`FINDINGS` above."""
    real = build.summarize

    def summarize(*args: Any, **kwargs: Any) -> Any:
        counts = {"critical": 0, "high": 1, "medium": 1, "low": 1}
        summary = real(*args, **kwargs)
        return replace(summary, recovery=RECOVERY, findings=FINDINGS, findings_by_severity=counts)

    monkeypatch.setattr(build, "summarize", summarize)


CHAOS = [
    chaos_event(10, "applied", "cpu_quota#1", params={"percent": 20}, planned_for=10),
    chaos_event(20, "reverted", "cpu_quota#1", planned_at=10, planned_for=10),
    chaos_event(25, "failed", "nofile#2", error="setrlimit: <denied>", fault_kind="connections"),
]


@pytest.mark.usefixtures("extras")
def test_build_report_with_chaos(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", chaos_records(), chaos=CHAOS, chaos_tail='{"t": 17')
    result = build_report(run_dir)

    doc = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert [(w["label"], w["status"], w["kind"]) for w in doc["chaos_windows"]] == [
        ("cpu_quota#1", "reverted", "cpu"),
        ("nofile#2", "failed", "connections"),
    ]
    assert doc["chaos_windows"][0]["params"] == {"percent": 20}
    window = doc["chaos_windows"][0]
    assert (window["applied_s"], window["reverted_s"]) == (10.0, 20.0)
    assert list(doc["phases"]) == ["baseline", "during cpu_quota#1", "after cpu_quota#1"]
    during = doc["phases"]["during cpu_quota#1"]
    assert (during["start_s"], during["end_s"]) == (10.0, 20.0)
    assert during["total"]["attempts"] == 20
    # 16 valid: 8 refused with 1013, 8 reset; 4 empty rejected with 401.
    assert during["token_kinds"]["valid"]["success_rate"] == 0.0
    assert (during["total"]["graceful"], during["total"]["abrupt"]) == (12, 8)
    assert during["total"]["graceful_share"] == pytest.approx(0.6)
    assert doc["phases"]["after cpu_quota#1"]["token_kinds"]["valid"]["success_rate"] == 1.0
    assert doc["phases"]["after cpu_quota#1"]["end_s"] == 30.0

    assert [p.name for p in result.paths.charts] == list(CHART_FILES)  # recovery.png too
    for path in result.paths.charts:
        width, height = png_size(path.read_bytes())
        assert 400 <= width <= 2000 and 200 <= height <= 1200

    html = result.paths.index_html.read_text(encoding="utf-8")

    def section(start: str, end: str) -> str:
        return html[html.index(f'<h2 id="{start}">') : html.index(f'<h2 id="{end}">')]

    timeline = section("chaos", "recovery")
    assert "<table>" in timeline
    assert "cpu_quota#1" in timeline and "percent=20" in timeline
    assert "setrlimit: &lt;denied&gt;" in timeline  # escaped
    recovery_html = section("recovery", "phases")
    assert "recovered in 3.5 s" in recovery_html
    assert '<td class="l bad">did not recover</td>' in recovery_html
    phases = section("phases", "charts")
    assert "after cpu_quota#1" in phases and "60.0%" in phases  # graceful share
    assert "No chaos in this run" not in html
    found = section("findings", "kinds")
    assert found.count('<tr class="finding">') == 3
    assert found.index("sev high") < found.index("sev medium") < found.index("sev low")
    assert "&amp; &lt;b&gt;said nothing&lt;/b&gt;" in found  # escaped

    # JUnit: 0 gates + the one finding of high severity (medium and low stay out).
    suite = ET.parse(result.paths.junit_xml).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("1", "1")
    (case,) = suite.iter("testcase")
    assert case.get("name") == (
        "closed-before-established: Connections were closed before they were established"
    )
    md = result.paths.summary_md.read_text(encoding="utf-8")
    assert "## Recovery after each fault" in md and "**did not recover**" in md
    assert "## Chaos phases" in md and "| during cpu\\_quota\\#1 | 10.0 | 20.0 | 20 |" in md
    text = format_terminal_summary(result.summary, result.gate_results)
    assert "  [HIGH] closed-before-established: 8 of 60 attempts (13.3%) dropped" in text
    assert "  [MEDIUM] slow-recovery: kill_target#3 did not recover" in text
    assert "no-heartbeat" not in text  # low severity: HTML, Markdown and JSON only
    assert "  cpu_quota#1 (cpu_quota) reverted at 20.0 s: recovered in 3.5 s" in text
    assert "  kill_target#3 (kill_target) reverted at 26.0 s: did not recover" in text
    assert max(len(line) for line in text.splitlines()) <= 110


@pytest.mark.usefixtures("fake_charts")
def test_report_without_chaos(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", standard_records())
    result = build_report(run_dir)
    assert result.summary.chaos_windows == ()
    # These records name a fault ("cpu_quota") but there is no chaos.jsonl: phases still work.
    assert list(result.summary.phases) == ["baseline", "during cpu_quota"]
    plain = [r for r in standard_records() if not r.chaos]
    plain_result = build_report(write_run(tmp_path / "plain", plain, samples=False))
    assert list(plain_result.summary.phases) == ["baseline"]
    names = [p.name for p in plain_result.paths.charts]
    assert not PHASE_CHARTS & set(names) and "success_rate.png" in names  # no phase charts
    html = plain_result.paths.index_html.read_text(encoding="utf-8")
    assert "No chaos in this run" in html
    assert "Chaos timeline" not in html
    md = plain_result.paths.summary_md.read_text(encoding="utf-8")
    assert "## Chaos phases" not in md and "phases.png" not in md


# --- A killed run -------------------------------------------------------------------------


def test_killed_run_produces_every_output_and_says_it_was_cut_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Killed at about 20 s of a planned 30 s: no end time, a torn last attempt, and a chaos
    # window that began applying and was never reverted (its revert is the torn line).
    events = [
        chaos_event(10, "applying", "cpu_quota#1", params={"percent": 20}, planned_for=10),
        chaos_event(10.2, "applied", "cpu_quota#1", params={"percent": 20}, planned_for=10),
    ]
    run_dir = write_run(
        tmp_path / "run",
        chaos_records()[:40],
        complete=False,
        torn=True,
        chaos=events,
        chaos_tail='{"t": 1700000020.0, "event": "rever',
    )

    result = build_report(run_dir)
    assert all(p.is_file() and p.stat().st_size > 0 for p in result.paths.all())
    assert len(result.paths.charts) >= 9
    assert result.summary.complete is False
    assert result.summary.total.attempts == 40  # the torn line was skipped
    (window,) = result.summary.chaos_windows
    assert (window.status, window.applied_s, window.reverted_s) == ("active_at_end", 10.0, None)
    assert list(result.summary.phases) == ["baseline", "during cpu_quota#1"]

    html = result.paths.index_html.read_text(encoding="utf-8")
    assert '<div class="banner cut">CUT SHORT: The run was cut short (no end time was' in html
    assert "the records cover 19.5 s of the planned 30.0 s" in html
    assert "cpu_quota#1 (cpu_quota) was applied but no revert was recorded" in html
    assert "still active at the end (no revert recorded)" in html
    md = result.paths.summary_md.read_text(encoding="utf-8")
    assert md.splitlines()[2].endswith("· **run cut short**")
    assert "> **WARNING**: The run was cut short" in md
    root = ET.parse(result.paths.junit_xml).getroot()
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["complete"] == "false"
    out = root.find("testsuite/system-out")
    assert out is not None and (out.text or "").startswith("CUT SHORT: The run was cut short")
    phases = pd.read_csv(result.paths.phases_csv)
    assert phases["phase"].unique().tolist() == ["baseline", "during cpu_quota#1"]
    assert phases["attempts"].sum() == 40

    # `harness report RUN_DIR` rebuilds from the directory alone and says so too.
    monkeypatch.setattr(build, "write_charts", lambda *args, **kwargs: [])  # drawn above
    (run_dir / "index.html").unlink()
    # killed (no end recorded): never a silent PASS, although no gate failed
    assert cli_main(["report", str(run_dir)]) == 130
    captured = capsys.readouterr()
    printed = captured.out
    assert printed.splitlines()[0].endswith(" - CUT SHORT")
    assert "WARNING: The run was cut short (no end time was recorded" in printed
    assert "INTERRUPTED: run stopped early by a kill: the run has no end recorded" in captured.err
    assert (run_dir / "index.html").is_file()
