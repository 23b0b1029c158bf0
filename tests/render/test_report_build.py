"""Tests of build_report on run directories written by the test: files, charts, HTML.

Rendering charts costs about half a second each, so only the tests about charts draw
them; the others replace :func:`harness.render.report.write_charts` with a stub
(fixture ``no_charts``).
"""

from __future__ import annotations

import base64
import json
import re
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.cli.main import main as cli_main
from harness.config.scenario import Gate
from harness.errors import RunDirError
from harness.render import report as build
from harness.render.charts.run import CHART_FILES
from harness.render.report import build_report
from harness.render.tables import KIND_COLUMNS, PHASE_COLUMNS
from harness.render.terminal import format_terminal_summary
from harness.rundir.records import AttemptRecord

T0 = 1_700_000_000.0
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def attempt(i: int, kind: str, outcome: str, verdict: str, **kw: Any) -> AttemptRecord:
    return AttemptRecord(
        run_id="run-42",
        worker="local",
        user=i % 5,
        attempt=i,
        token_kind=kind,
        placement="query",
        expected="accept" if kind == "valid" else "reject",
        t_start=T0 + i * 0.5,
        outcome=outcome,
        verdict=verdict,
        **kw,
    )


def write_run(
    run_dir: Path,
    records: list[AttemptRecord],
    *,
    complete: bool = True,
    samples: bool = True,
    torn: bool = True,
    gates: list[dict[str, Any]] | None = None,
    scenario_name: str = "smoke",
) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "attempts.jsonl", "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(r.to_json() + "\n")
        if torn:
            fh.write('{"run_id": "run-42", "worker": "lo')  # killed mid-write
    if samples:
        with open(run_dir / "samples.jsonl", "w", encoding="utf-8") as fh:
            for s in range(30):
                fh.write(
                    json.dumps(
                        {
                            "t": T0 + s,
                            "cpu_percent": 10.0 + s,
                            "rss_mb": 50.0,
                            "fds": 10 + s,
                            "connections": s,
                            "threads": 4,
                        }
                    )
                    + "\n"
                )
    meta = {
        "run_id": "run-42",
        "scenario": scenario_name,
        "started_at": T0,
        "ended_at": T0 + 30.0 if complete else None,
        "duration_planned_s": 30.0,
        "target_url": "ws://127.0.0.1:8765/ws",
        "command": "harness run scenarios/smoke.yaml",
        "versions": {"harness": "0.1.0", "python": "3.11"},
        "complete": complete,
    }
    (run_dir / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    scenario = {
        "name": scenario_name,
        "auth": {"secret": {"env": "WS_SECRET"}, "algorithm": "HS256"},
        "gates": gates if gates is not None else [],
    }
    (run_dir / "scenario.json").write_text(json.dumps(scenario), encoding="utf-8")
    return run_dir


def standard_records() -> list[AttemptRecord]:
    """40 valid (36 ok, 4 refused 1013), 10 empty (8 rejected 401, 2 accepted), 1 excluded."""
    records = []
    for i in range(40):
        if i % 10 == 9:
            records.append(
                attempt(
                    i,
                    "valid",
                    "closed_try_again",
                    "valid_refused",
                    handshake_ms=30.0,
                    close_code=1013,
                    close_reason="overloaded",
                    chaos=["cpu_quota"],
                )
            )
        else:
            records.append(attempt(i, "valid", "accepted", "ok", handshake_ms=float(i)))
    for i in range(40, 50):
        if i < 48:
            records.append(
                attempt(i, "empty", "rejected_auth", "ok", handshake_ms=2.0, http_status=401)
            )
        else:
            records.append(attempt(i, "empty", "accepted", "invalid_accepted", handshake_ms=3.0))
    records.append(attempt(50, "valid", "interrupted", "excluded"))
    return records


GATES = [
    {
        "name": "valid ok",
        "metric": "success_rate",
        "op": ">=",
        "threshold": 0.85,
        "token_kind": "valid",
    },
    {
        "name": "no empty accepted",
        "metric": "invalid_accepted",
        "op": "==",
        "threshold": 0,
        "token_kind": "empty",
    },
]


@pytest.fixture
def no_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip drawing charts (for tests about everything else)."""
    monkeypatch.setattr(build, "write_charts", lambda *args, **kwargs: [])


def tiny_png(width: int, height: int) -> bytes:
    """A valid grey PNG of ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        PNG_MAGIC
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def fake_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Write a distinct tiny PNG per chart instead of drawing (for tests of the page)."""

    def write(*args: Any, **kwargs: Any) -> list[Path]:
        out_dir: Path = args[3]
        out_dir.mkdir(parents=True, exist_ok=True)
        names = [n for n in CHART_FILES if n != "recovery.png" or kwargs.get("recovery")]
        for i, name in enumerate(names):
            (out_dir / name).write_bytes(tiny_png(i + 1, 2))
        return [out_dir / name for name in names]

    monkeypatch.setattr(build, "write_charts", write)


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's IHDR chunk (asserting it is a PNG)."""
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.mark.usefixtures("fake_charts")  # real charts: the chaos and killed-run tests
def test_build_report_writes_summary_charts_html(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", standard_records(), gates=GATES)
    result = build_report(run_dir)

    # summary.json: counts, gates, overall verdict; the torn line was skipped.
    doc = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert result.paths.summary_json == run_dir / "summary.json"
    assert doc["schema_version"] == 1
    assert doc["total"]["attempts"] == 51
    assert doc["total"]["counted"] == 50
    assert doc["token_kinds"]["valid"]["attempts"] == 41
    assert doc["token_kinds"]["valid"]["success_rate"] == pytest.approx(36 / 40)
    assert doc["token_kinds"]["valid"]["close_codes"] == {"1013": 4}
    assert doc["token_kinds"]["empty"]["verdicts"]["invalid_accepted"] == 2
    assert doc["token_kinds"]["empty"]["outcomes"] == {"rejected_auth": 8, "accepted": 2}
    assert [g["name"] for g in doc["gates"]] == ["valid ok", "no empty accepted"]
    assert [g["passed"] for g in doc["gates"]] == [True, False]
    assert doc["gates"][1]["message"] == "FAIL invalid_accepted[empty] == 0: got 2"
    assert doc["passed"] is False
    assert result.passed is False
    assert [r.name for r in result.gate_results] == ["valid ok", "no empty accepted"]
    assert result.summary["total"] == doc["total"]

    # Charts: every chart but recovery (no chaos.jsonl: no window to recover from).
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
    phases = pd.read_csv(paths.phases_csv)
    assert list(phases.columns) == list(PHASE_COLUMNS)
    assert phases[["phase", "token_kind"]].values.tolist() == [
        ["baseline", "valid"],
        ["baseline", "empty"],
        ["during cpu_quota", "valid"],
    ]
    md = paths.summary_md.read_text(encoding="utf-8")
    assert "**FAIL**: 1 of 2 gates failed" in md
    assert "(charts/outcomes_by_phase.png)" in md and "(charts/recovery.png)" not in md


@pytest.mark.usefixtures("no_charts")
def test_gates_argument_overrides_scenario(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", standard_records(), gates=GATES)
    gates = [Gate(name="enough", metric="attempts", op=">=", threshold=50)]
    result = build_report(run_dir, gates)
    assert [(r.name, r.passed, r.value) for r in result.gate_results] == [("enough", True, 51.0)]
    assert result.passed is True
    assert "PASS: all 1 gates passed" in (run_dir / "index.html").read_text(encoding="utf-8")


@pytest.mark.usefixtures("no_charts")  # charts without data: see test_report_charts.py
def test_empty_attempts_and_cut_short_run(tmp_path: Path) -> None:
    gates = [{"name": "any ok", "metric": "ok", "op": ">=", "threshold": 0, "token_kind": None}]
    run_dir = write_run(
        tmp_path / "run", [], complete=False, samples=False, torn=False, gates=gates
    )
    (run_dir / "attempts.jsonl").write_text("", encoding="utf-8")
    result = build_report(run_dir)
    assert result.summary["total"]["attempts"] == 0
    assert result.summary["complete"] is False
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


def chaos_event(t: float, kind: str, label: str, **kw: Any) -> str:
    return json.dumps(
        {
            "t": T0 + t,
            "event": kind,
            "label": label,
            "fault": label.split("#")[0],
            "params": kw.get("params", {}),
            "planned_at": kw.get("planned_at", t),
            "planned_for": kw.get("planned_for"),
            "error": kw.get("error"),
        }
    )


def chaos_records() -> list[AttemptRecord]:
    """60 attempts, 0.5 s apart: valid tokens, refused with 1013 or reset during cpu_quota#1
    (10..20 s), accepted otherwise; every fifth an empty token rejected with 401."""
    records = []
    for i in range(60):
        t = i * 0.5
        chaos = ["cpu_quota#1"] if 10.0 <= t < 20.0 else []
        if i % 5 == 4:
            records.append(
                attempt(i, "empty", "rejected_auth", "ok", http_status=401, manner="graceful")
            )
        elif chaos and i % 2:
            records.append(attempt(i, "valid", "abnormal_handshake", "abrupt", manner="abrupt"))
        elif chaos:
            records.append(
                attempt(
                    i,
                    "valid",
                    "closed_try_again",
                    "valid_refused",
                    close_code=1013,
                    manner="graceful",
                    chaos=chaos,
                )
            )
        else:
            records.append(attempt(i, "valid", "accepted", "ok", handshake_ms=5.0))
        records[-1].chaos = chaos
    return records


#: Recovery and findings as the summary carries them (fixed here, whatever the rules find).
RECOVERY = {
    "cpu_quota#1": {
        "fault": "cpu_quota",
        "reverted_s": 20.0,
        "recovered_at_s": 23.5,
        "recovery_s": 3.5,
        "recovered": True,
        "status": "recovered",
        "baseline_success": 1.0,
        "margin": 0.05,
    },
    "kill_target#3": {
        "fault": "kill_target",
        "reverted_s": 26.0,
        "recovered_at_s": None,
        "recovery_s": None,
        "recovered": False,
        "status": "did not recover",
        "baseline_success": 1.0,
        "margin": 0.05,
    },
}
FINDINGS = [
    {
        "id": "slow-recovery",
        "type": "resource",
        "severity": "medium",
        "title": "Slow recovery",
        "evidence": "kill_target#3 did not recover",
        "meaning": "clients keep failing after the fault",
        "fix": "restart faster",
    },
    {
        "id": "closed-before-established",
        "type": "connection",
        "severity": "high",
        "title": "Connections were closed before they were established",
        "evidence": "8 of 60 attempts (13.3%) dropped before the 101",
        "meaning": "the server dropped handshakes & <b>said nothing</b>",
        "fix": "answer every upgrade (503 when full)",
    },
    {"id": "no-heartbeat", "severity": "low", "title": "No heartbeat", "evidence": "0 pings"},
]


@pytest.fixture
def extras(monkeypatch: pytest.MonkeyPatch) -> None:
    """Give every summary the :data:`RECOVERY` and :data:`FINDINGS` above."""
    real = build.compute_summary

    def compute(*args: Any, **kwargs: Any) -> dict[str, Any]:
        summary = real(*args, **kwargs)
        summary["recovery"] = RECOVERY
        summary["findings"] = FINDINGS
        summary["findings_by_severity"] = {"critical": 0, "high": 1, "medium": 1, "low": 1}
        return summary

    monkeypatch.setattr(build, "compute_summary", compute)


@pytest.mark.usefixtures("extras")
def test_build_report_with_chaos(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", chaos_records())
    lines = [
        chaos_event(10, "applied", "cpu_quota#1", params={"percent": 20}, planned_for=10),
        chaos_event(20, "reverted", "cpu_quota#1", planned_at=10, planned_for=10),
        chaos_event(25, "failed", "nofile#2", error="setrlimit: <denied>"),
    ]
    (run_dir / "chaos.jsonl").write_text("\n".join(lines) + '\n{"t": 17', encoding="utf-8")
    result = build_report(run_dir)

    doc = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    assert doc["schema_version"] == 1
    assert [(w["label"], w["status"]) for w in doc["chaos_windows"]] == [
        ("cpu_quota#1", "reverted"),
        ("nofile#2", "failed"),
    ]
    assert doc["chaos_windows"][0]["params"] == {"percent": 20}
    assert (doc["chaos_windows"][0]["applied_s"], doc["chaos_windows"][0]["reverted_s"]) == (
        10.0,
        20.0,
    )
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
    recovery = section("recovery", "phases")
    assert "recovered in 3.5 s" in recovery
    assert '<td class="l bad">did not recover</td>' in recovery
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


@pytest.mark.usefixtures("no_charts")
def test_report_without_chaos_file(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", standard_records())
    result = build_report(run_dir)
    assert result.summary["chaos_windows"] == []
    # These records name a fault ("cpu_quota") but there is no chaos.jsonl: phases still work.
    assert list(result.summary["phases"]) == ["baseline", "during cpu_quota"]
    plain = [r for r in standard_records() if not r.chaos]
    plain_dir = write_run(tmp_path / "plain", plain, samples=False)
    plain_result = build_report(plain_dir)
    assert list(plain_result.summary["phases"]) == ["baseline"]
    html = plain_result.paths.index_html.read_text(encoding="utf-8")
    assert "No chaos in this run" in html
    assert "Chaos timeline" not in html
    assert "## Chaos phases" not in plain_result.paths.summary_md.read_text(encoding="utf-8")


# --- A killed run -------------------------------------------------------------------------


def test_killed_run_produces_every_output_and_says_it_was_cut_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Killed at about 20 s of a planned 30 s: no end time, a torn last attempt, and a chaos
    # window that began applying and was never reverted (its revert is the torn line).
    records = chaos_records()[:40]
    run_dir = write_run(tmp_path / "run", records, complete=False, torn=True)
    events = [
        chaos_event(10, "applying", "cpu_quota#1", params={"percent": 20}, planned_for=10),
        chaos_event(10.2, "applied", "cpu_quota#1", params={"percent": 20}, planned_for=10),
    ]
    text = "\n".join(events) + '\n{"t": 1700000020.0, "event": "rever'
    (run_dir / "chaos.jsonl").write_text(text, encoding="utf-8")

    result = build_report(run_dir)
    assert all(p.is_file() and p.stat().st_size > 0 for p in result.paths.all())
    assert len(result.paths.charts) >= 9
    assert result.summary["complete"] is False
    assert result.summary["total"]["attempts"] == 40  # the torn line was skipped
    (window,) = result.summary["chaos_windows"]
    assert (window["status"], window["applied_s"], window["reverted_s"]) == (
        "active_at_end",
        10.0,
        None,
    )
    assert list(result.summary["phases"]) == ["baseline", "during cpu_quota#1"]

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
    assert cli_main(["report", str(run_dir)]) == 0  # no gates: nothing failed
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].endswith(" - CUT SHORT")
    assert "WARNING: The run was cut short (no end time was recorded" in printed
    assert (run_dir / "index.html").is_file()
