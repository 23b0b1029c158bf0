"""``harness compare RUN_A RUN_B``: the command line of a comparison (argparse, printing,
the exit code).

The comparison itself is :func:`harness.render.compare_report.compare_runs` (loading both
runs) over :func:`harness.analysis.compare_rows.compare_summaries` (the pure core, whose
rules are :mod:`harness.analysis.compare_rules`); the report is
:func:`harness.render.compare_report.write_comparison`. Exit 0: no regression of B against
A; 1: regressions; 2: a run directory is missing or unreadable, a tolerance is invalid, or
the report cannot be written (one line ``harness: error: ...``, no traceback).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.analysis.capacity_compare import DEFAULT_CAPACITY_DROP
from harness.analysis.compare_rules import DEFAULT_TOLERANCE, Tolerance
from harness.errors import HarnessError

# --- Command line -----------------------------------------------------------------------

EPILOG = """\
examples:
  harness compare reports/<run-a> reports/<run-b>
  harness compare base/ candidate/ --success-drop 0.02 --latency-ratio 1.5 --out /tmp/cmp
  harness compare reports/capacity-<a> reports/capacity-<b>   two capacity searches

Two capacity searches (directories with capacity.json, from harness capacity) compare
their capacities: B more than --capacity-drop below A is a regression.

exit codes: 0 no regression of B against A, 1 regressions (listed), 2 a run directory is
missing or unreadable, a tolerance is invalid, or the report cannot be written
"""

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
        description="Compare a baseline run A with a candidate run B: side-by-side tables per "
        "token kind and phase, overlaid charts, and regressions beyond the tolerances.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="baseline run directory")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="candidate run directory")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="report directory (default: reports/compare-<A>-vs-<B>/)",
    )
    parser.add_argument(
        "--capacity-drop",
        type=float,
        default=DEFAULT_CAPACITY_DROP,
        metavar="X",
        help="capacity searches: allowed drop of the capacity, a share of A's "
        f"(default: {DEFAULT_CAPACITY_DROP})",
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
    # The report stage (pandas, matplotlib) is imported only when a comparison is made.
    from harness.cli.exits import ExitCode, print_error
    from harness.render.compare_html import format_table
    from harness.render.compare_report import compare_runs, default_out_dir, write_comparison

    args = build_parser().parse_args(list(argv))
    from harness.render.capacity_compare import is_capacity_dir

    if is_capacity_dir(args.run_a) or is_capacity_dir(args.run_b):
        return compare_capacity_dirs(args)
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
        print_error(str(exc))
        return int(ExitCode.CANNOT_RUN)
    print(format_table(cmp))
    print(f"report: {index.resolve().as_uri()}")
    return int(ExitCode.FAILED if cmp.regressions else ExitCode.PASS)


def compare_capacity_dirs(args: argparse.Namespace) -> int:
    """Two capacity searches: print the table, write the report; 0 no regression, 1 a
    regression, 2 not both capacity searches, unreadable, or the capacity not judged."""
    from harness.analysis.capacity_compare import compare_capacities
    from harness.cli.exits import ExitCode, print_error
    from harness.render.capacity_compare import (
        format_capacity_table,
        is_capacity_dir,
        read_capacity,
        write_capacity_comparison,
    )

    try:
        for path in (args.run_a, args.run_b):
            if not is_capacity_dir(path):
                raise HarnessError(
                    f"{path}: not a capacity search (no capacity.json); a capacity search "
                    "compares only with another"
                )
        a, b = read_capacity(args.run_a), read_capacity(args.run_b)
        try:
            cmp = compare_capacities(a, b, drop=args.capacity_drop)
        except ValueError as exc:
            raise HarnessError(str(exc)) from exc
        names = (args.run_a.resolve().name, args.run_b.resolve().name)
        out = args.out or Path("reports") / f"compare-{names[0]}-vs-{names[1]}"
        try:
            index = write_capacity_comparison(cmp, out)
        except OSError as exc:
            raise HarnessError(f"{out}: cannot write the report: {exc}") from exc
    except HarnessError as exc:
        print_error(str(exc))
        return int(ExitCode.CANNOT_RUN)
    print(format_capacity_table(cmp))
    print(f"report: {index.resolve().as_uri()}")
    if cmp.regressions:
        return int(ExitCode.FAILED)
    return int(ExitCode.PASS if cmp.judged else ExitCode.CANNOT_RUN)
