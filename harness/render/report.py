"""The report writer: a run directory in, every report file out.

Files written into the run directory (each through a temporary file and a rename, so a
reader never sees half a file)::

    summary.json        the summary (see :mod:`harness.analysis.summary`) + gates + passed
    index.html          the self-contained page (:mod:`harness.render.html`)
    summary.md          for CI job summaries (:mod:`harness.render.markdown`)
    junit.xml           gates and high/critical findings as test cases (:mod:`~.junit`)
    token_kinds.csv     one row per token kind (:mod:`harness.render.tables`)
    phases.csv          one row per chaos phase and token kind
    charts/*.png        the charts (:mod:`harness.render.charts.run`)

This is the I/O edge of the report stage; everything it computes comes from the pure
modules (:mod:`~harness.analysis.summary`, :mod:`~harness.analysis.gates`, ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.frames import (
    gates_from_scenario,
    load_attempts,
    load_chaos,
    load_meta,
    load_samples,
    load_scenario,
)
from harness.analysis.gates import GateResult, all_passed, evaluate_gates
from harness.analysis.summary import compute_summary, run_start
from harness.config.scenario import Gate
from harness.numbers import finite
from harness.render.charts.run import CHART_CAPTIONS, write_charts
from harness.render.html import render_html
from harness.render.junit import junit_xml
from harness.render.markdown import summary_markdown
from harness.render.present import recovery
from harness.render.tables import kinds_table, phases_table
from harness.rundir.layout import (
    CHARTS,
    INDEX,
    JUNIT,
    KINDS_CSV,
    MARKDOWN,
    PHASES_CSV,
    SUMMARY,
    write_text_atomic,
)


@dataclass(frozen=True)
class ReportPaths:
    """Files written by :func:`build_report` (all inside the run directory)."""

    index_html: Path
    summary_json: Path
    summary_md: Path
    junit_xml: Path
    token_kinds_csv: Path
    phases_csv: Path
    charts: tuple[Path, ...] = field(default_factory=tuple)

    def all(self) -> tuple[Path, ...]:
        """Every file written, charts last."""
        return (
            self.index_html,
            self.summary_json,
            self.summary_md,
            self.junit_xml,
            self.token_kinds_csv,
            self.phases_csv,
            *self.charts,
        )


@dataclass(frozen=True)
class ReportResult:
    """What :func:`build_report` computed and wrote.

    Attributes:
        summary: the summary dict (see :mod:`harness.analysis.summary`), without gates.
        gate_results: one result per gate, in the gates' order.
        passed: every gate passed (True when there are no gates).
        paths: the files written.
    """

    summary: dict[str, Any]
    gate_results: list[GateResult]
    passed: bool
    paths: ReportPaths


def _write_csv(path: Path, table: pd.DataFrame) -> None:
    """A table as CSV (header always, no index, empty cell for no data)."""
    write_text_atomic(path, table.to_csv(index=False, lineterminator="\n"))


def planned_hold_s(scenario: Mapping[str, Any]) -> float | None:
    """How long a user holds a connection open (``load.session.hold``, s), if known."""
    load = scenario.get("load")
    session = load.get("session") if isinstance(load, Mapping) else None
    return finite(session.get("hold")) if isinstance(session, Mapping) else None


def build_report(run_dir: Path, gates: Sequence[Gate] | None = None) -> ReportResult:
    """Build the report of a run directory.

    Args:
        run_dir: the run directory (``attempts.jsonl``, ``samples.jsonl``, ``meta.json``,
            ``scenario.json``, ``chaos.jsonl``); it works on an empty attempts file, on a
            run cut short (no end time, a torn last line, a chaos window never reverted)
            and on a run without chaos.
        gates: the gates to evaluate; None means the scenario's (from ``scenario.json``).

    Returns:
        The summary, gate results, overall pass and the paths written (see the module
        docstring for the files).

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

    summary_path = run_dir / SUMMARY
    document = {**summary, "gates": [r.to_dict() for r in results], "passed": passed}
    write_text_atomic(summary_path, json.dumps(document, indent=2, allow_nan=False) + "\n")

    charts = write_charts(
        attempts,
        samples,
        meta,
        run_dir / CHARTS,
        windows=windows,
        phases=summary["phases"],
        recovery=recovery(summary),
        planned_hold_s=planned_hold_s(scenario),
    )
    paths = ReportPaths(
        index_html=run_dir / INDEX,
        summary_json=summary_path,
        summary_md=run_dir / MARKDOWN,
        junit_xml=run_dir / JUNIT,
        token_kinds_csv=run_dir / KINDS_CSV,
        phases_csv=run_dir / PHASES_CSV,
        charts=tuple(charts),
    )
    _write_csv(paths.token_kinds_csv, kinds_table(summary))
    _write_csv(paths.phases_csv, phases_table(summary))
    write_text_atomic(paths.junit_xml, junit_xml(summary, results))
    markdown = summary_markdown(
        summary, results, passed, charts, captions=CHART_CAPTIONS, run_dir=run_dir
    )
    write_text_atomic(paths.summary_md, markdown)
    write_text_atomic(
        paths.index_html, render_html(summary, results, passed, charts, meta, scenario)
    )
    return ReportResult(summary=summary, gate_results=results, passed=passed, paths=paths)
