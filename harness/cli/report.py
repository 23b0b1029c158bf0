"""``harness report RUN_DIR``: rebuild a run's report from its directory alone."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

EPILOG = """\
Rebuilds summary.json, index.html, summary.md, junit.xml, the CSVs and the charts from
the run directory's records (also for a run that was killed: the report says it was cut
short), and judges the scenario's gates again.

examples:
  harness report reports/20261201-120000-smoke-ab12
  harness report reports/$(ls -t reports | head -1)     the newest run

exit codes: as for the run: 0 every gate passed, 1 a gate failed or the target died,
  2 not a readable run directory (or the run's chaos plan or load generator failed),
  130 the run was cut short by a signal or killed (no end recorded)
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="rebuild the report of a run directory",
        description="Rebuild the report of a run directory and judge its gates again.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.analysis.verdict import judge_run
    from harness.cli.exits import print_verdict
    from harness.render.report import build_report
    from harness.render.terminal import format_terminal_summary
    from harness.rundir.layout import RunDir

    run = RunDir.existing(args.run_dir)
    report = build_report(run.path)
    print(format_terminal_summary(report.summary, report.gate_results))
    print(f"report: {report.paths.index_html.resolve().as_uri()}")
    return int(print_verdict(judge_run(report.summary, report.gate_results)))
