"""The ``harness`` command: the top-level parser and the dispatch to one module per command.

Building the parser imports no load generator, no chart library and no server: each
command module imports what it needs when it runs, so ``harness --help`` and
``harness validate`` stay light (a test checks it with ``python -X importtime``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from harness import __version__
from harness.cli import (
    capacity,
    chaos,
    doctor,
    master,
    report,
    run,
    suite,
    target,
    validate,
    worker,
)
from harness.cli.exits import ExitCode, print_error
from harness.errors import HarnessError

MAIN_EPILOG = """\
examples:
  harness run scenarios/smoke.yaml                 run a scenario against the embedded target
  harness run scenarios/smoke.yaml --duration 10 --defect accept-empty-token
  harness run scenarios/auth-matrix.yaml --target-url ws://127.0.0.1:9000/ws --secret-env KEY
  harness run scenarios/smoke.yaml --set load.users=50 --set load.duration=60
  harness run scenarios/smoke.yaml --workers 2     the users in 2 worker processes
  harness suite suites/smoke-suite.yaml --tags auth   scenarios one after another, one report
  harness capacity scenarios/smoke.yaml --users 50:400:50   the highest load that passes
  harness master scenarios/smoke.yaml --expect-workers 2   a master for workers elsewhere
  harness worker scenarios/smoke.yaml --master-host 127.0.0.1   one of its workers
  harness target --port 8765 --defect cache-past-expiry   serve the reference target alone
  harness report reports/<run-id>                  rebuild a run's report from its directory
  harness validate scenarios/*.yaml                check scenario files
  harness chaos check                              which chaos faults this machine supports
  harness doctor ws://127.0.0.1:8765/ws            quick diagnosis of a target (secret from env)
  harness compare reports/<run-a> reports/<run-b>  regressions between two runs
  locust -f locustfile.py --scenario scenarios/smoke.yaml   the same run in Locust's web UI

exit codes (harness run):
  0    every gate passed
  1    a gate failed (the terminal, summary.json and index.html name it)
  2    the harness could not run: bad scenario or flag, target failed to start,
       or the load generator's own faults dominate the results
  130  stopped by Ctrl-C or SIGTERM (a report of what ran is still written)
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Load-and-chaos testing harness for WebSocket services.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in (run, suite, capacity, master, worker, validate, report, doctor, target, chaos):
        command.add_parser(sub)
    sub.add_parser(
        "compare",
        help="compare two runs (baseline vs candidate); exit 1 on regressions",
        add_help=False,
    ).add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``harness`` console script; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["compare"]:  # its own parser, help and exit codes
        from harness.cli.compare import main as compare_main

        return compare_main(args_list[1:])
    args = build_parser().parse_args(args_list)
    try:
        return int(args.handler(args, args_list))
    except HarnessError as exc:
        print_error(str(exc))
        return int(ExitCode.CANNOT_RUN)
    except KeyboardInterrupt:
        print_error("interrupted")
        return int(ExitCode.INTERRUPTED)
