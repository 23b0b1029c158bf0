"""Tests of `harness compare` on run directories: loading, the report files, the command line.

Most runs here are written by the test (fast, known answers). The last tests use three real
4 s runs (two healthy, one with ``drop-before-handshake``) from the real CLI, started
together once per module.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.analysis.summary import summary_to_json
from harness.cli.compare import main
from harness.render.compare_html import format_table, render_html, render_markdown
from harness.render.compare_report import compare_runs, load_compared, write_comparison
from harness.render.report import build_report
from harness.rundir.layout import SUMMARY
from tests.analysis.builders import GATES, attempt, standard_records, write_run
from tests.conftest import ROOT, scaled

#: One worker runs this module: its real runs (a module fixture) are made once.
pytestmark = pytest.mark.xdist_group("compare-report-runs")


def healthy(run_dir: Path) -> Path:
    return write_run(run_dir, standard_records(), gates=GATES)


def dropping(run_dir: Path) -> Path:
    """The standard run, with every tenth valid attempt dropped before the 101 instead."""
    records = standard_records()
    for i, r in enumerate(records):
        if r.token_kind == "valid" and r.outcome == "accepted" and i % 10 == 3:
            records[i] = attempt(i, "valid", "abnormal_handshake", "abrupt", manner="abrupt")
    return write_run(run_dir, records, gates=GATES)


@pytest.mark.usefixtures("no_charts")
def test_missing_or_old_summary_is_rebuilt(tmp_path: Path) -> None:
    run_dir = healthy(tmp_path / "a")
    summary, run = load_compared(run_dir)  # no summary.json yet: built
    assert (run_dir / SUMMARY).is_file() and summary.run_id == "run-42"
    assert len(run.attempts) == 51 and run.path == run_dir
    old = {**summary_to_json(summary), "schema_version": 1, "schema_minor": 1}
    (run_dir / SUMMARY).write_text(json.dumps(old))
    again, _ = load_compared(run_dir)  # another schema version: rebuilt from the directory
    assert again == summary
    assert json.loads((run_dir / SUMMARY).read_text())["schema_version"] == 2


@pytest.mark.usefixtures("no_charts")
def test_compare_run_directories_and_write_the_report(tmp_path: Path) -> None:
    cmp = compare_runs(healthy(tmp_path / "a"), dropping(tmp_path / "b"))
    flagged = {(r.metric, r.scope) for r in cmp.regressions}
    assert {("success_rate", "valid"), ("abrupt_rate", "all"), ("gate", "valid ok")} <= flagged
    assert cmp.a.run is not None and cmp.a.path == tmp_path / "a"
    index = write_comparison(cmp, tmp_path / "cmp")
    assert index == tmp_path / "cmp" / "index.html"
    names = {p.name for p in (tmp_path / "cmp").iterdir()}
    assert names == {
        "compare.json",
        "compare.md",
        "index.html",
        "success_rate.png",
        "handshake_latency.png",
        "outcomes.png",
    }
    doc = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert doc["regression"] is True and doc["a"]["complete"] is True
    assert "data:image/png;base64," in index.read_text()


@pytest.mark.usefixtures("no_charts")
def test_gate_names_are_never_cut_in_the_terminal(tmp_path: Path) -> None:
    """A cut gate name could read like a threshold ("... under 25~")."""
    name = "valid handshake p95 under 250 ms in every phase"
    gates = [{"name": name, "metric": "handshake_p95_ms", "op": "<", "threshold": 250}]
    a = write_run(tmp_path / "a", standard_records(), gates=gates, torn=False)
    b = write_run(tmp_path / "b", standard_records(), gates=gates, torn=False)
    table = format_table(compare_runs(a, b))
    (line,) = [line for line in table.splitlines() if line.startswith("gate ")]
    assert f" {name} " in line and "~" not in table


@pytest.mark.usefixtures("no_charts")
def test_renderers_escape_and_name_regressions(tmp_path: Path) -> None:
    a = write_run(tmp_path / "a", standard_records(), scenario_name="<b>smoke</b>")
    b = dropping(tmp_path / "b")
    cmp = compare_runs(a, b)
    html = render_html(cmp, [])
    assert "<b>smoke</b>" not in html and "&lt;b&gt;smoke&lt;/b&gt;" in html
    assert "success_rate [valid]" in render_markdown(cmp)
    table = format_table(cmp)
    assert "regression(s) of B against A:" in table
    assert "  success_rate [valid]: 90.0% -> 80.0%, -10.0 pp" in table
    assert "WARNING: the runs are of different scenarios" in table


@pytest.mark.usefixtures("no_charts")
def test_main_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = healthy(tmp_path / "a"), dropping(tmp_path / "b")
    assert main([str(a), str(a), "--out", str(tmp_path / "same")]) == 0
    assert "No regression of B against A." in capsys.readouterr().out
    assert main([str(a), str(b), "--out", str(tmp_path / "worse")]) == 1
    printed = capsys.readouterr().out
    assert f"report: {(tmp_path / 'worse' / 'index.html').resolve().as_uri()}" in printed
    assert main([str(a), str(b), "--success-drop", "2"]) == 2
    assert capsys.readouterr().err.startswith("harness: error: tolerance success_rate_drop")


def test_missing_or_broken_run_dir_exits_2_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = healthy(tmp_path / "a")
    missing = tmp_path / "no-such-run"
    assert main([str(missing), str(a), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"harness: error: {missing}: ") and "Traceback" not in err
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    assert main([str(a), str(broken)]) == 2
    assert "cannot read summary.json" in capsys.readouterr().err


# --- Real run directories -----------------------------------------------------------------

RUNS = {"healthy_a": [], "healthy_b": [], "dropping": ["--defect", "drop-before-handshake"]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Three real 4 s smoke runs, started together: two healthy, one dropping handshakes."""
    root = tmp_path_factory.mktemp("runs")
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "scenarios/smoke.yaml", "--duration", "4",
             "--out", str(root / name), "-q", *extra],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, extra in RUNS.items()
    }  # fmt: skip
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


@pytest.mark.usefixtures("no_charts")
def test_missing_summary_of_a_real_run_is_rebuilt(runs: dict[str, Path], tmp_path: Path) -> None:
    run_dir = tmp_path / runs["healthy_a"].name
    shutil.copytree(runs["healthy_a"], run_dir)
    (run_dir / "summary.json").unlink()
    cmp = compare_runs(run_dir, runs["healthy_a"])
    assert (run_dir / "summary.json").is_file()
    assert not cmp.regressions
    assert build_report(run_dir).summary == cmp.a.summary
