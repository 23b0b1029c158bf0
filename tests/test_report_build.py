"""Tests of build_report on run directories written by the test: files, charts, HTML."""

from __future__ import annotations

import base64
import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from harness.errors import RunDirError
from harness.record import AttemptRecord
from harness.report import build_report
from harness.scenario import Gate

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


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height in pixels from a PNG's IHDR chunk (asserting it is a PNG)."""
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


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

    # Charts: at least four valid PNGs of a sensible size.
    charts = list(result.paths.charts)
    assert len(charts) >= 4
    names = {p.name for p in charts}
    assert {"success_rate.png", "outcomes.png", "handshake_latency.png"} <= names
    assert "target_resources.png" in names
    for path in charts:
        assert path.parent == run_dir / "charts"
        width, height = png_size(path.read_bytes())
        assert 400 <= width <= 2000 and 200 <= height <= 1200

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
    assert "cut short" not in html
    assert "WS_SECRET" in html  # the resolved scenario is shown (it names the env var only)


def test_gates_argument_overrides_scenario(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", standard_records(), gates=GATES)
    gates = [Gate(name="enough", metric="attempts", op=">=", threshold=50)]
    result = build_report(run_dir, gates)
    assert [(r.name, r.passed, r.value) for r in result.gate_results] == [("enough", True, 51.0)]
    assert result.passed is True
    assert "PASS: all 1 gates passed" in (run_dir / "index.html").read_text(encoding="utf-8")


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
    assert len(result.paths.charts) >= 4
    for path in result.paths.charts:
        png_size(path.read_bytes())
    html = result.paths.index_html.read_text(encoding="utf-8")
    assert "the run was cut short" in html
    assert "no attempts recorded" in html
    doc = json.loads(result.paths.summary_json.read_text(encoding="utf-8"))
    assert doc["passed"] is False and doc["total"]["success_rate"] is None


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

    phases_png = run_dir / "charts" / "phases.png"
    assert phases_png in result.paths.charts
    width, height = png_size(phases_png.read_bytes())
    assert 400 <= width <= 2000 and 200 <= height <= 1200

    html = result.paths.index_html.read_text(encoding="utf-8")
    timeline = html[html.index("<h2>Chaos timeline</h2>") : html.index("<h2>Phases</h2>")]
    assert "<table>" in timeline
    assert "cpu_quota#1" in timeline and "percent=20" in timeline
    assert "setrlimit: &lt;denied&gt;" in timeline  # escaped
    phases = html[html.index("<h2>Phases</h2>") : html.index("<h2>Charts</h2>")]
    assert "after cpu_quota#1" in phases and "60.0%" in phases  # graceful share
    assert "No chaos in this run" not in html


def test_report_without_chaos_file(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", standard_records())
    result = build_report(run_dir)
    assert result.summary["chaos_windows"] == []
    # These records name a fault ("cpu_quota") but there is no chaos.jsonl: phases still work.
    assert list(result.summary["phases"]) == ["baseline", "during cpu_quota"]
    names = [p.name for p in result.paths.charts]
    assert names == [
        "success_rate.png",
        "outcomes.png",
        "handshake_latency.png",
        "attempts_rate.png",
        "target_resources.png",
        "phases.png",
    ]
    for path in result.paths.charts:
        png_size(path.read_bytes())
    plain = [r for r in standard_records() if not r.chaos]
    plain_dir = write_run(tmp_path / "plain", plain, samples=False)
    plain_result = build_report(plain_dir)
    assert list(plain_result.summary["phases"]) == ["baseline"]
    html = plain_result.paths.index_html.read_text(encoding="utf-8")
    assert "No chaos in this run" in html
    assert "Chaos timeline" not in html
