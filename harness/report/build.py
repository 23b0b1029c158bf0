"""The report writer: run directory in, ``summary.json``, ``charts/*.png``, ``index.html`` out.

This is the I/O edge of the report stage; everything it computes comes from the pure
modules (:mod:`~harness.report.summary`, :mod:`~harness.report.gates`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.report.charts import write_charts
from harness.report.frames import (
    gates_from_scenario,
    load_attempts,
    load_chaos,
    load_meta,
    load_samples,
    load_scenario,
)
from harness.report.gates import GateResult, all_passed, evaluate_gates
from harness.report.html import render_html
from harness.report.summary import compute_summary, run_start
from harness.scenario import Gate

SUMMARY_FILE = "summary.json"
INDEX_FILE = "index.html"
CHARTS_DIR = "charts"


@dataclass(frozen=True)
class ReportPaths:
    """Files written by :func:`build_report`."""

    index_html: Path
    summary_json: Path
    charts: tuple[Path, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` computed and wrote.

    Attributes:
        summary: the summary dict (see :mod:`harness.report.summary`), without gates.
        gate_results: one result per gate, in the gates' order.
        passed: every gate passed (True when there are no gates).
        paths: the files written.
    """

    summary: dict[str, Any]
    gate_results: list[GateResult]
    passed: bool
    paths: ReportPaths


def _write_text(path: Path, text: str) -> None:
    """Write through a temporary file and rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_report(run_dir: Path, gates: Sequence[Gate] | None = None) -> ReportResult:
    """Build the report of a run directory.

    Args:
        run_dir: the run directory (``attempts.jsonl``, ``samples.jsonl``, ``meta.json``,
            ``scenario.json``, ``chaos.jsonl``); it works on an empty attempts file, on a
            run cut short and on a run without chaos.
        gates: the gates to evaluate; None means the scenario's (from ``scenario.json``).

    Returns:
        The summary, gate results, overall pass and the paths written:
        ``summary.json`` (summary + ``gates`` + ``passed``), ``charts/*.png``, ``index.html``.

    Raises:
        RunDirError: ``run_dir`` or its ``meta.json`` is missing or unreadable.
    """
    meta = load_meta(run_dir)
    scenario = load_scenario(run_dir)
    if gates is None:
        gates = gates_from_scenario(scenario)
    attempts = load_attempts(run_dir)
    samples = load_samples(run_dir)
    windows = load_chaos(run_dir, started_at=run_start(attempts, meta))

    summary = compute_summary(attempts, meta, windows)
    results = evaluate_gates(summary, gates)
    passed = all_passed(results)

    summary_path = run_dir / SUMMARY_FILE
    document = {**summary, "gates": [r.to_dict() for r in results], "passed": passed}
    _write_text(summary_path, json.dumps(document, indent=2, allow_nan=False) + "\n")

    charts = write_charts(
        attempts, samples, meta, run_dir / CHARTS_DIR, windows=windows, phases=summary["phases"]
    )
    index_path = run_dir / INDEX_FILE
    _write_text(index_path, render_html(summary, results, passed, charts, meta, scenario))

    return ReportResult(
        summary=summary,
        gate_results=results,
        passed=passed,
        paths=ReportPaths(index_html=index_path, summary_json=summary_path, charts=tuple(charts)),
    )
