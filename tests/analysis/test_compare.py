"""Tests of `harness compare`: pure rules on hand-built summaries, then real run directories.

The real runs (two healthy, one with ``drop-before-handshake``) come from the real CLI in
subprocesses, started together once per module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.cli.compare import (
    IMPROVEMENT,
    INFO,
    NO_DATA,
    REGRESSION,
    SAME,
    Comparison,
    Row,
    Tolerance,
    compare_runs,
    compare_summaries,
    judge,
    main,
    quantile_ci,
    write_comparison,
)
from harness.render.compare_html import format_table, render_html, render_markdown
from tests.conftest import ROOT, scaled

# --- Hand-built summaries -----------------------------------------------------------------


def section(
    *,
    attempts: int = 100,
    success: float = 1.0,
    abrupt: float = 0.0,
    invalid_accepted: int = 0,
    expected: str = "accept",
    p95: float | None = 10.0,
    graceful_share: float | None = None,
) -> dict[str, Any]:
    """A summary section (see harness.analysis.summary) with just what the comparison reads."""
    return {
        "attempts": attempts,
        "counted": attempts,
        "expected": expected,
        "verdicts": {"ok": round(success * attempts), "invalid_accepted": invalid_accepted},
        "success_rate": success,
        "abrupt_rate": abrupt,
        "graceful_share": graceful_share,
        "handshake_ms": {"p50": None if p95 is None else p95 / 2, "p95": p95, "p99": p95},
    }


def summary(
    kinds: dict[str, dict[str, Any]] | None = None,
    *,
    scenario: str = "smoke",
    phases: dict[str, Any] | None = None,
    gates: list[dict[str, Any]] | None = None,
    generator_fault_share: float = 0.0,
) -> dict[str, Any]:
    kinds = {"valid": section()} if kinds is None else kinds
    return {
        "run_id": f"run-{scenario}",
        "scenario": scenario,
        "duration_s": 10.0,
        "complete": True,
        "generator_fault_share": generator_fault_share,
        "total": next(iter(kinds.values())) if kinds else section(attempts=0),
        "token_kinds": kinds,
        "phases": phases or {"baseline": {"total": section(), "token_kinds": kinds}},
        "gates": gates or [],
    }


def row(cmp: Comparison, metric: str, scope: str) -> Row:
    found = [r for r in cmp.rows if r.metric == metric and r.scope == scope]
    assert len(found) == 1, (metric, scope, [(r.metric, r.scope) for r in cmp.rows])
    return found[0]


# --- Rules --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "verdict"),
    [(0.995, SAME), (0.99, SAME), (0.98, REGRESSION), (1.0, SAME)],
)
def test_success_rate_drop_tolerance_edges(b: float, verdict: str) -> None:
    """0.01 allowed: a drop of 0.005 or exactly 0.01 is fine, 0.02 is a regression."""
    a_sum = summary({"valid": section(success=1.0)})
    b_sum = summary({"valid": section(success=b)})
    cmp = compare_summaries(a_sum, b_sum, Tolerance(success_rate_drop=0.01))
    assert row(cmp, "success_rate", "valid").verdict == verdict
    assert bool(cmp.regressions) == (verdict == REGRESSION)


def test_improvement_is_the_mirror_of_a_regression() -> None:
    cmp = compare_summaries(summary({"valid": section(success=0.9)}), summary())
    assert row(cmp, "success_rate", "valid").verdict == IMPROVEMENT
    assert cmp.improvements and not cmp.regressions


@pytest.mark.parametrize(
    ("a", "b", "verdict"),
    [
        (1.0, 2.5, SAME),  # x2.5, but 1.5 ms is under the 2 ms floor
        (10.0, 12.0, SAME),  # +2 ms but only x1.2
        (10.0, 20.0, REGRESSION),  # x2 and +10 ms (no raw samples: no noise check)
        (20.0, 10.0, IMPROVEMENT),
    ],
)
def test_latency_ratio_and_floor(a: float, b: float, verdict: str) -> None:
    cmp = compare_summaries(summary({"valid": section(p95=a)}), summary({"valid": section(p95=b)}))
    assert row(cmp, "handshake_p95_ms", "valid").verdict == verdict
    assert row(cmp, "handshake_p99_ms", "valid").verdict == INFO  # shown, never judged


def test_latency_needs_enough_samples_and_separate_confidence_intervals() -> None:
    rng = np.random.default_rng(7)
    tol = Tolerance()
    base = rng.normal(10.0, 1.0, 400)
    slow = rng.normal(30.0, 1.0, 400)
    assert judge("handshake_p95_ms", 10.0, 30.0, tol, base, slow)[0] == REGRESSION
    few = judge("handshake_p95_ms", 10.0, 30.0, tol, base[:50], slow[:50])
    assert few[0] == INFO and "too few handshakes" in few[1]
    # A long tail in A: B's p95 is beyond the ratio, but within A's p95 interval (noise).
    tail = np.concatenate([rng.normal(10.0, 1.0, 360), rng.uniform(10.0, 60.0, 40)])
    verdict, note = judge("handshake_p95_ms", 20.0, 30.0, tol, tail, tail[::-1] + 1.0)
    assert verdict == SAME and "within noise" in note
    off = Tolerance(latency_confidence=None, latency_min_samples=0)
    assert judge("handshake_p95_ms", 10.0, 30.0, off, base[:5], slow[:5])[0] == REGRESSION


def test_quantile_ci_brackets_the_sample_quantile() -> None:
    values = np.arange(1.0, 201.0)
    ci = quantile_ci(values, 0.95, 0.95)
    assert ci is not None
    assert ci[0] < float(np.quantile(values, 0.95)) < ci[1] <= 200.0
    assert quantile_ci([], 0.95, 0.95) is None


def test_any_rise_of_invalid_accepted_is_a_regression() -> None:
    a = summary({"empty": section(expected="reject", attempts=1000)})
    b = summary({"empty": section(expected="reject", attempts=1000, invalid_accepted=1)})
    cmp = compare_summaries(a, b)
    assert row(cmp, "invalid_accepted_rate", "empty").verdict == REGRESSION
    assert not [r for r in cmp.rows if r.metric == "valid_refused_rate" and r.scope == "empty"]


def test_abrupt_rate_rise_and_missing_values() -> None:
    cmp = compare_summaries(summary(), summary({"valid": section(abrupt=0.05, p95=None)}))
    assert row(cmp, "abrupt_rate", "valid").verdict == REGRESSION
    assert row(cmp, "handshake_p95_ms", "valid").verdict == NO_DATA


def test_gates_compared_by_name() -> None:
    def gate(name: str, passed: bool) -> dict[str, Any]:
        return {"name": name, "passed": passed, "message": f"{'PASS' if passed else 'FAIL'} x"}

    a = summary(gates=[gate("g1", True), gate("g2", False), gate("only-a", True)])
    b = summary(gates=[gate("g1", False), gate("g2", True), gate("only-b", False)])
    cmp = compare_summaries(a, b)
    assert row(cmp, "gate", "g1").verdict == REGRESSION
    assert row(cmp, "gate", "g2").verdict == IMPROVEMENT
    assert row(cmp, "gate", "only-a").verdict == INFO
    assert row(cmp, "gate", "only-b").verdict == INFO


def test_other_scenario_and_kinds_in_one_run_warn_without_regression() -> None:
    a = summary({"valid": section(), "expired": section(expected="reject")})
    b = summary({"valid": section(), "malformed": section(expected="reject")}, scenario="other")
    cmp = compare_summaries(a, b)
    assert not cmp.regressions
    assert cmp.only_in_a == ("expired",) and cmp.only_in_b == ("malformed",)
    text = "\n".join(cmp.warnings)
    assert "different scenarios" in text and "only in run A" in text and "malformed" in text
    assert not [r for r in cmp.rows if r.scope in ("expired", "malformed")]


def test_generator_faults_warn_and_are_never_a_regression() -> None:
    cmp = compare_summaries(summary(), summary(generator_fault_share=0.2))
    assert not cmp.regressions
    assert any("load generator" in w for w in cmp.warnings)


def test_phases_compared_only_when_both_runs_have_the_same() -> None:
    kinds = {"valid": section()}
    chaos = {
        "baseline": {"total": section(), "token_kinds": kinds, "start_s": 0, "end_s": 4},
        "during cpu#1": {"total": section(), "token_kinds": kinds, "start_s": 4, "end_s": 8},
    }
    worse = {**chaos, "during cpu#1": {**chaos["during cpu#1"], "total": section(success=0.5)}}
    cmp = compare_summaries(summary(phases=chaos), summary(phases=worse))
    assert row(cmp, "success_rate", "during cpu#1 / all").verdict == REGRESSION
    assert row(cmp, "attempts_per_s", "baseline / all").a == pytest.approx(25.0)  # 100 in 4 s
    plain = compare_summaries(summary(), summary(phases=worse))
    assert not [r for r in plain.rows if r.phase is not None]
    assert any("phases differ" in w for w in plain.warnings)
    same = compare_summaries(summary(), summary())  # no chaos: the one phase is the run
    assert not [r for r in same.rows if r.phase is not None]


def test_tolerance_is_validated() -> None:
    with pytest.raises(ValueError, match="success_rate_drop"):
        Tolerance(success_rate_drop=2.0)
    with pytest.raises(ValueError, match="latency_ratio"):
        Tolerance(latency_ratio=0.5)


def test_renderers_escape_and_name_regressions(tmp_path: Path) -> None:
    a = summary(scenario="<b>smoke</b>")
    cmp = compare_summaries(a, summary({"valid": section(success=0.5)}, scenario="<b>smoke</b>"))
    html = render_html(cmp, [])
    assert "<b>smoke</b>" not in html and "&lt;b&gt;smoke&lt;/b&gt;" in html
    assert "success_rate [valid]" in render_markdown(cmp)
    table = format_table(cmp)
    assert "2 regression(s) of B against A:" in table  # success_rate of all and of valid
    assert "  success_rate [valid]: 100.0% -> 50.0%, -50.0 pp" in table
    index = write_comparison(cmp, tmp_path / "out")  # no run directories: charts say no data
    doc = json.loads((tmp_path / "out" / "compare.json").read_text())
    assert doc["regression"] is True and index.name == "index.html"
    assert {p.name for p in (tmp_path / "out").glob("*.png")} == {
        "success_rate.png",
        "handshake_latency.png",
        "outcomes.png",
    }


# --- Real run directories -----------------------------------------------------------------

RUNS = {"healthy_a": [], "healthy_b": [], "dropping": ["--defect", "drop-before-handshake"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Three real 4 s smoke runs, started together: two healthy, one dropping handshakes."""
    root = tmp_path_factory.mktemp("runs")
    procs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "harness",
                "run",
                "scenarios/smoke.yaml",
                "--duration",
                "4",
                "--out",
                str(root / name),
                "-q",
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, extra in RUNS.items()
    }
    dirs = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=scaled(120))
        assert proc.returncode == (1 if name == "dropping" else 0), out
        (run_dir,) = (root / name).iterdir()
        dirs[name] = run_dir
    yield dirs


def test_two_healthy_runs_no_regression(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    assert main([str(runs["healthy_a"]), str(runs["healthy_b"]), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "No regression of B against A." in printed
    assert f"report: {(out / 'index.html').resolve().as_uri()}" in printed
    doc = json.loads((out / "compare.json").read_text())
    assert doc["regression"] is False and doc["regressions"] == []
    assert {r["scope"] for r in doc["rows"]} >= {"all", "valid", "empty", "expired"}
    for name in ("compare.md", "success_rate.png", "handshake_latency.png", "outcomes.png"):
        assert (out / name).stat().st_size > 0
    assert "data:image/png;base64," in (out / "index.html").read_text()


def test_dropped_handshakes_are_regressions(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    assert main([str(runs["healthy_a"]), str(runs["dropping"]), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    doc = json.loads((out / "compare.json").read_text())
    flagged = {(r["metric"], r["scope"]) for r in doc["regressions"]}
    assert {("success_rate", "valid"), ("abrupt_rate", "all"), ("abrupt_rate", "valid")} <= flagged
    assert ("gate", "valid tokens get a session") in flagged
    assert "success_rate [valid]: 100.0% ->" in printed
    assert "success_rate [valid]: 100.0% ->" in (out / "compare.md").read_text()
    html = (out / "index.html").read_text()
    assert "REGRESSION:" in html
    assert '<tr class="fail"><td class="l">success_rate</td><td class="l">valid</td>' in html
    # The other way round the same changes are improvements, and nothing regressed.
    back = compare_runs(runs["dropping"], runs["healthy_b"])
    assert not back.regressions
    assert ("success_rate", "valid") in {(r.metric, r.scope) for r in back.improvements}


def test_missing_summary_is_rebuilt(runs: dict[str, Path], tmp_path: Path) -> None:
    run_dir = tmp_path / runs["healthy_a"].name
    shutil.copytree(runs["healthy_a"], run_dir)
    (run_dir / "summary.json").unlink()
    cmp = compare_runs(run_dir, runs["healthy_a"])
    assert (run_dir / "summary.json").is_file()
    assert not cmp.regressions


def test_missing_or_broken_run_dir_exits_2_without_traceback(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-run"
    assert main([str(missing), str(runs["healthy_a"]), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness: error: {missing}: ") and "Traceback" not in err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    assert main([str(runs["healthy_a"]), str(broken)]) == 2
    assert "cannot read summary.json" in capsys.readouterr().err
