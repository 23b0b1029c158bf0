"""The comparison report writer: two run directories in, a :class:`Comparison` and its
report files out (the I/O edge of ``harness compare``).

Each run is read from its ``summary.json``; a missing one, or one of another schema
version, is rebuilt with :func:`harness.render.report.build_report` (which rewrites that
run's report too). The run's attempts are read as well: their raw handshake times feed the
latency rule, and the charts draw them. Files written into the output directory::

    compare.json   the comparison (:meth:`Comparison.to_dict`)
    compare.md     the verdict, warnings, regressions, improvements and every row
    *.png          the overlaid charts (:mod:`harness.render.charts.compare`)
    index.html     the self-contained page (:mod:`harness.render.compare_html`)
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.analysis.compare_rows import Comparison, compare_summaries
from harness.analysis.compare_rules import DEFAULT_TOLERANCE, Tolerance
from harness.analysis.run import Run, load_run
from harness.analysis.summary import Summary, SummaryVersionError, read_summary
from harness.errors import RunDirError
from harness.render.charts.compare import write_charts
from harness.render.compare_html import render_html, render_markdown
from harness.render.report import build_report
from harness.rundir.layout import SUMMARY, write_text_atomic

COMPARE_FILE = "compare.json"
MARKDOWN_FILE = "compare.md"
INDEX_FILE = "index.html"


def load_compared(run_dir: Path) -> tuple[Summary, Run]:
    """A run's summary (rebuilt when missing or of another schema version) and the run.

    Raises:
        RunDirError: the directory does not exist, or its summary or run cannot be read.
    """
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a run directory (does not exist)")
    if (run_dir / SUMMARY).exists():
        try:
            summary = read_summary(run_dir)
        except SummaryVersionError:
            summary = build_report(run_dir).summary
    else:
        summary = build_report(run_dir).summary
    return summary, load_run(run_dir)


def compare_runs(
    run_a: Path, run_b: Path, *, tolerance: Tolerance = DEFAULT_TOLERANCE
) -> Comparison:
    """Compare run directory A (the baseline) with run directory B (the candidate).

    Raises:
        RunDirError: a run directory is missing or unreadable.
    """
    (sa, ra), (sb, rb) = load_compared(run_a), load_compared(run_b)
    return compare_summaries(sa, sb, tolerance, runs=(ra, rb))


def default_out_dir(cmp: Comparison) -> Path:
    """``reports/compare-<run A>-vs-<run B>/`` (run directory names, else run ids)."""
    names = [i.path.resolve().name if i.path else i.run_id or i.label for i in (cmp.a, cmp.b)]
    return Path("reports") / f"compare-{names[0]}-vs-{names[1]}"


def write_comparison(cmp: Comparison, out_dir: Path | None = None) -> Path:
    """Write ``compare.json``, ``compare.md``, the charts and ``index.html`` into ``out_dir``.

    ``out_dir`` (default :func:`default_out_dir`) is created if needed. Returns the path of
    ``index.html``.

    Raises:
        OSError: the directory cannot be written.
    """
    out = default_out_dir(cmp) if out_dir is None else out_dir
    out.mkdir(parents=True, exist_ok=True)
    doc = json.dumps(cmp.to_dict(), indent=2, allow_nan=False)
    write_text_atomic(out / COMPARE_FILE, doc + "\n")
    write_text_atomic(out / MARKDOWN_FILE, render_markdown(cmp))
    charts = write_charts(cmp, out)
    index = out / INDEX_FILE
    write_text_atomic(index, render_html(cmp, charts))
    return index
