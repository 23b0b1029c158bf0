"""The report stage: a run directory in, tables, charts, gates and a verdict out.

Modules, from pure to I/O:

- :mod:`~harness.report.phases`: chaos windows -> phase of each attempt (pure);
- :mod:`~harness.report.summary`: attempts + chaos windows -> summary dict (pure);
- :mod:`~harness.report.gates`: summary + gates -> gate results (pure);
- :mod:`~harness.report.timeline`: time binning for the charts (pure);
- :mod:`~harness.report.terminal`: the plain-text table printed after a run (pure);
- :mod:`~harness.report.frames`: run directory -> DataFrames and dicts (incl. chaos windows);
- :mod:`~harness.report.charts`: DataFrames -> PNG files (matplotlib, Agg), with
  :mod:`~harness.report.chaos_marks` (windows on time axes),
  :mod:`~harness.report.outcome_chart` and :mod:`~harness.report.phase_chart`;
- :mod:`~harness.report.html`: the self-contained ``index.html``;
- :mod:`~harness.report.build`: :func:`build_report`, which ties them together.
"""

from __future__ import annotations

from harness.report.build import ReportPaths, ReportResult, build_report
from harness.report.frames import load_attempts, load_chaos, load_samples
from harness.report.gates import GateResult, evaluate_gates
from harness.report.summary import compute_summary
from harness.report.terminal import format_terminal_summary

__all__ = [
    "GateResult",
    "ReportPaths",
    "ReportResult",
    "build_report",
    "compute_summary",
    "evaluate_gates",
    "format_terminal_summary",
    "load_attempts",
    "load_chaos",
    "load_samples",
]
