"""Compare two runs, a baseline release A against a candidate B: what regressed, what improved.

Each run is read from its ``summary.json`` (rebuilt with :func:`harness.render.report.build_report`
when missing) and, for the latency rule, its raw handshake times (``attempts.jsonl``).
Modules, from pure to I/O:

- :mod:`harness.analysis.compare_rules`: :class:`Tolerance`, the metric table :data:`METRICS` (its
  module docstring lists every rule) and :func:`judge`;
- :mod:`harness.analysis.compare_rows`: :func:`compare_summaries`, two summaries ->
  a :class:`Comparison`;
- :mod:`harness.render.compare_html` (with :mod:`harness.render.charts.compare`):
  ``compare.md``, the charts and ``index.html``;
- this module: run directories, ``compare.json`` and the ``harness compare`` command line.

Every public name of the rules and rows is re-exported here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.compare_rows import (
    COMPARE_SCHEMA_VERSION,
    Comparison,
    Row,
    RunInfo,
    Samples,
    compare_summaries,
    section_metrics,
)
from harness.analysis.compare_rules import (
    DEFAULT_TOLERANCE,
    IMPROVEMENT,
    INFO,
    METRICS,
    NO_DATA,
    REGRESSION,
    SAME,
    Metric,
    Tolerance,
    judge,
    quantile_ci,
)
from harness.errors import HarnessError, RunDirError

__all__ = [
    "COMPARE_FILE",
    "COMPARE_SCHEMA_VERSION",
    "DEFAULT_TOLERANCE",
    "IMPROVEMENT",
    "INFO",
    "METRICS",
    "NO_DATA",
    "OPTIONS",
    "REGRESSION",
    "SAME",
    "Comparison",
    "Metric",
    "Row",
    "RunInfo",
    "Samples",
    "Tolerance",
    "build_parser",
    "compare_runs",
    "compare_summaries",
    "default_out_dir",
    "handshake_samples",
    "judge",
    "load_summary",
    "main",
    "quantile_ci",
    "section_metrics",
    "write_comparison",
]

COMPARE_FILE = "compare.json"


# --- Run directories (I/O) ---------------------------------------------------------------


def load_summary(run_dir: Path) -> dict[str, Any]:
    """A run's ``summary.json``; built with :func:`harness.render.report.build_report` when missing.

    Raises:
        RunDirError: the directory does not exist, or its summary cannot be read or built.
    """
    if not run_dir.is_dir():
        raise RunDirError(f"{run_dir}: not a run directory (does not exist)")
    path = run_dir / "summary.json"
    if not path.exists():
        from harness.render.report import build_report

        build_report(run_dir)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(
            f"{run_dir}: cannot read summary.json ({exc}); rebuild it with"
            f" `harness report {run_dir}`"
        ) from exc
    if not isinstance(doc, dict):
        raise RunDirError(f"{run_dir}: summary.json is not a JSON object")
    return doc


def handshake_samples(run_dir: Path) -> Samples | None:
    """Raw handshake times (ms) of a run per (phase, kind) scope; None without attempts."""
    from harness.analysis.frames import load_attempts, load_chaos, load_meta
    from harness.analysis.summary import attempt_phases, run_start

    attempts = load_attempts(run_dir)
    if attempts.empty:
        return None
    meta = load_meta(run_dir) if (run_dir / "meta.json").exists() else {}
    windows = load_chaos(run_dir, started_at=run_start(attempts, meta))
    phase = pd.Series(attempt_phases(attempts, meta, windows)[0]).astype(str).to_numpy()
    kind = attempts["token_kind"].astype(str).to_numpy()
    ms = pd.to_numeric(attempts["handshake_ms"], errors="coerce").to_numpy(dtype=float)
    has = ~np.isnan(ms)
    out: dict[tuple[str | None, str | None], np.ndarray[Any, np.dtype[np.float64]]] = {}
    for p in [None, *sorted(set(phase))]:
        for k in [None, *sorted(set(kind))]:
            mask = has & (True if p is None else phase == p) & (True if k is None else kind == k)
            out[(p, k)] = ms[mask]
    return out


def compare_runs(
    run_a: Path, run_b: Path, *, tolerance: Tolerance = DEFAULT_TOLERANCE
) -> Comparison:
    """Compare run directory A (the baseline) with run directory B (the candidate).

    Raises:
        RunDirError: a run directory is missing or unreadable.
    """
    from harness.analysis.frames import load_scenario

    summaries = [load_summary(d) for d in (run_a, run_b)]
    return compare_summaries(
        summaries[0],
        summaries[1],
        tolerance,
        samples=(handshake_samples(run_a), handshake_samples(run_b)),
        scenarios=(load_scenario(run_a), load_scenario(run_b)),
        paths=(run_a, run_b),
    )


def default_out_dir(cmp: Comparison) -> Path:
    """``reports/compare-<run A>-vs-<run B>/`` (run directory names, else run ids)."""
    names = [i.path.resolve().name if i.path else i.run_id or i.label for i in (cmp.a, cmp.b)]
    return Path("reports") / f"compare-{names[0]}-vs-{names[1]}"


def write_comparison(cmp: Comparison, out_dir: Path | None = None) -> Path:
    """Write ``compare.json``, ``compare.md``, the charts and ``index.html`` into ``out_dir``.

    ``out_dir`` (default :func:`default_out_dir`) is created if needed. Returns the path of
    ``index.html``. Raises OSError when the directory cannot be written.
    """
    from harness.render.compare_html import write_report

    out = default_out_dir(cmp) if out_dir is None else out_dir
    out.mkdir(parents=True, exist_ok=True)
    (out / COMPARE_FILE).write_text(
        json.dumps(cmp.to_dict(), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return write_report(cmp, out)


# --- Command line -----------------------------------------------------------------------

#: Tolerance options of ``harness compare``: flag -> (Tolerance field, type, help).
OPTIONS: Mapping[str, tuple[str, type, str]] = {
    "--success-drop": ("success_rate_drop", float, "allowed absolute drop of success rates"),
    "--abrupt-rise": ("abrupt_rate_rise", float, "allowed absolute rise of abrupt rates"),
    "--latency-ratio": ("latency_ratio", float, "allowed growth factor of handshake p95"),
    "--latency-floor": ("latency_floor_ms", float, "p95 difference always allowed (ms)"),
    "--latency-min-samples": ("latency_min_samples", int, "handshakes needed to judge a p95"),
    "--rate-drop": ("attempts_rate_drop", float, "allowed relative drop of attempts/s"),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``harness compare`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="harness compare",
        description="Compare a baseline run A with a candidate run B. Exit 0: no regression;"
        " 1: regressions; 2: a run directory is missing or unreadable.",
    )
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="baseline run directory")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="candidate run directory")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="report directory (default: reports/compare-<A>-vs-<B>/)",
    )
    for flag, (name, kind, text) in OPTIONS.items():
        default = getattr(DEFAULT_TOLERANCE, name)
        shown = "not judged" if default is None else default
        parser.add_argument(
            flag,
            type=kind,
            default=default,
            dest=name,
            metavar="N" if kind is int else "X",
            help=f"{text} (default: {shown})",
        )
    return parser


def main(argv: Sequence[str]) -> int:
    """``harness compare RUN_A RUN_B``: print the table, write the report, return 0, 1 or 2."""
    from harness.render.compare_html import format_table

    args = build_parser().parse_args(list(argv))
    try:
        try:
            tol = Tolerance(**{name: getattr(args, name) for name, _, _ in OPTIONS.values()})
        except ValueError as exc:
            raise HarnessError(str(exc)) from exc
        cmp = compare_runs(args.run_a, args.run_b, tolerance=tol)
        out = args.out or default_out_dir(cmp)
        try:
            index = write_comparison(cmp, out)
        except OSError as exc:
            raise HarnessError(f"{out}: cannot write the report: {exc}") from exc
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    print(format_table(cmp))
    print(f"report: {index.resolve().as_uri()}")
    return 1 if cmp.regressions else 0
