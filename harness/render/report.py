"""The report writer: a run directory in, every report file out.

Files written into the run directory (each through a temporary file and a rename, so a
reader never sees half a file)::

    summary.json        the summary with its gates (:mod:`harness.analysis.summary`;
                        schema: docs/summary.schema.json)
    index.html          the self-contained page (:mod:`harness.render.html`)
    summary.md          for CI job summaries (:mod:`harness.render.markdown`)
    junit.xml           gates and high/critical findings as test cases (:mod:`~.junit`)
    token_kinds.csv     one row per token kind (:mod:`harness.render.tables`)
    phases.csv          one row per chaos phase and token kind
    charts/*.png        the charts (:mod:`harness.render.charts.run`)

This is the I/O edge of the report stage; everything it computes comes from the pure
modules: the run is read once (:func:`harness.analysis.run.load_run`), summarised
(:func:`harness.analysis.summarize.summarize`) and its gates evaluated
(:func:`harness.analysis.gates.with_gates`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from harness.analysis.gates import with_gates
from harness.analysis.run import load_run
from harness.analysis.summarize import summarize
from harness.analysis.summary import GateResult, Summary, summary_to_json
from harness.config.scenario import Gate
from harness.render.charts.captions import CHART_CAPTIONS
from harness.render.charts.run import write_charts
from harness.render.html import render_html
from harness.render.junit import junit_xml
from harness.render.markdown import summary_markdown
from harness.render.tables import csv_text, kinds_table, phases_table
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
        summary: the summary, with its gates (``summary.gates``, ``summary.passed``).
        gate_results: one result per gate, in the gates' order (``summary.gates`` as a list).
        passed: every gate passed (True when there are no gates).
        paths: the files written.
    """

    summary: Summary
    gate_results: list[GateResult]
    passed: bool
    paths: ReportPaths


def build_report(
    run_dir: Path, gates: Sequence[Gate] | None = None, *, link_base: str | None = None
) -> ReportResult:
    """Build the report of a run directory.

    Args:
        run_dir: the run directory (``attempts.jsonl``, ``samples.jsonl``, ``meta.json``,
            ``scenario.json``, ``chaos.jsonl``); it works on an empty attempts file, on a
            run cut short (no end time, a torn last line, a chaos window never reverted)
            and on a run without chaos.
        gates: the gates to evaluate; None means the scenario's (from ``scenario.json``).
        link_base: where the run directory is published (an absolute URL); ``summary.md``
            links the charts and the page under it. None: it names the files, no links.

    Returns:
        The summary, gate results, overall pass and the paths written (see the module
        docstring for the files).

    Raises:
        RunDirError: ``run_dir`` or its ``meta.json`` is missing or unreadable.
    """
    run = load_run(run_dir, gates)
    summary = with_gates(summarize(run), run.gates)
    results = list(summary.gates)

    summary_path = run_dir / SUMMARY
    document = json.dumps(summary_to_json(summary), indent=2, allow_nan=False)
    write_text_atomic(summary_path, document + "\n")

    charts = write_charts(run, summary, run_dir / CHARTS)
    paths = ReportPaths(
        index_html=run_dir / INDEX,
        summary_json=summary_path,
        summary_md=run_dir / MARKDOWN,
        junit_xml=run_dir / JUNIT,
        token_kinds_csv=run_dir / KINDS_CSV,
        phases_csv=run_dir / PHASES_CSV,
        charts=tuple(charts),
    )
    write_text_atomic(paths.token_kinds_csv, csv_text(kinds_table(summary)))
    write_text_atomic(paths.phases_csv, csv_text(phases_table(summary)))
    write_text_atomic(paths.junit_xml, junit_xml(summary, results))
    markdown = summary_markdown(
        summary, results, summary.passed, charts, captions=CHART_CAPTIONS, link_base=link_base
    )
    write_text_atomic(paths.summary_md, markdown)
    html = render_html(summary, results, summary.passed, charts, run.meta, run.scenario)
    write_text_atomic(paths.index_html, html)
    return ReportResult(summary=summary, gate_results=results, passed=summary.passed, paths=paths)
