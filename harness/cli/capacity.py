"""``harness capacity SCENARIO --users START:STOP:STEP``: the highest load that passes the
scenario's gates, step by step (:mod:`harness.series.capacity`)."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from harness.cli.args import (
    add_allow_host_option,
    add_out_option,
    add_secret_options,
    add_set_option,
    child_run_flags,
    positive_float,
    positive_int,
)

EPILOG = """\
Each step runs the scenario as its own `harness run` (a fresh embedded target) with
load.users set to the step's users and load.duration to the ramp (users / spawn_rate)
plus --hold (--rate: one arrival-rate stage of that many new sessions per second, 2 s
to start its users plus --hold); its gates judge it. The search stops at the first
step that fails, then bisects between the last pass and that failure (--refine rounds).

examples:
  harness capacity scenarios/smoke.yaml --users 50:400:50
  harness capacity scenarios/smoke.yaml --rate 20:200:20     new sessions per second
  harness capacity scenarios/smoke.yaml --users 100:1000:100 --hold 30 --require 500
  harness capacity my.yaml --users 20:200:20 --set target.url=ws://127.0.0.1:9000/ws \\
      --secret-env MY_KEY

A step where the load generator hit its own limit (its faults, out of file descriptors
or ports, or its CPU saturated) ends the search: that is the generator's capacity, not
the service's, and the result is "at least" the last passing step.

exit codes:
  0    capacity found (and at least --require); or, with --require, the generator's limit
       came after it
  1    below --require, or even START users failed
  2    could not run (a bad scenario or flag, a step that could not run), or the load
       generator's limit came first and no --require was met
  130  stopped by Ctrl-C or SIGTERM (capacity.json of what ran is still written)
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "capacity",
        help="find the highest load that passes a scenario's gates, step by step",
        description="Capacity search: run the scenario at rising users, one run per step, "
        "judged by its gates; stop at the first failing step, refine between the last "
        "pass and it, and write capacity.json and a report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenario", help="scenario YAML file, e.g. scenarios/smoke.yaml")
    axis = p.add_mutually_exclusive_group(required=True)
    axis.add_argument(
        "--users",
        metavar="START:STOP:STEP",
        help="the users of the steps, e.g. 50:400:50 (at most 50 steps)",
    )
    axis.add_argument(
        "--rate",
        metavar="START:STOP:STEP",
        help="new sessions per second of the steps (an arrival-rate stage each, open "
        "model), e.g. 10:200:10",
    )
    p.add_argument(
        "--hold",
        type=positive_float,
        default=20.0,
        metavar="SECONDS",
        help="seconds each step holds its load after the ramp (default 20)",
    )
    p.add_argument(
        "--refine",
        type=int,
        default=2,
        choices=range(0, 7),
        metavar="N",
        help="bisection rounds between the last pass and the first failure (0-6, default 2)",
    )
    p.add_argument(
        "--require",
        type=positive_int,
        metavar="N",
        help="exit 1 unless the capacity is at least N (users, or sessions/s with --rate)",
    )
    add_set_option(p)
    add_allow_host_option(p)
    add_out_option(p)
    add_secret_options(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines of the steps")
    p.set_defaults(handler=main)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.config.loader import load_scenario
    from harness.render.capacity_report import write_capacity_report
    from harness.series.capacity import Range, Search, capacity_json, new_directory, run_search
    from harness.series.child import interrupt_on_sigterm

    users = Range.parse(args.users, "users") if args.users else Range.parse(args.rate, "rate")
    scenario = load_scenario(args.scenario, args.set, allow_hosts=args.allow_host)
    run_args = [a for s in args.set for a in ("--set", s)] + child_run_flags(args)
    search = Search(
        scenario=scenario,
        scenario_file=args.scenario,
        range=users,
        hold_s=args.hold,
        refine=args.refine,
        directory=new_directory(Path(args.out), scenario.name),
        require=args.require,
        command=shlex.join(["harness", *argv]),
        run_args=tuple(run_args),
    )
    loads = ", ".join(str(n) for n in users.loads())
    unit = "users" if users.axis == "users" else "new sessions/s"
    print(f"capacity of {scenario.name}: {unit} {loads}; {args.hold:g} s hold", flush=True)
    try:
        with interrupt_on_sigterm():
            run_search(search, say=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        search.stop_reason = "interrupted"
    result = capacity_json(search)
    index = write_capacity_report(search.directory, result)
    print()
    for s in result["steps"]:
        shown = users.shown(int(s["load"]))
        print(f"  {shown:>11}  {s['status'].upper():<18} {s['why'] or ''}")
    print(f"capacity report: {index.resolve().as_uri()}")
    code = int(result["exit_code"])
    word = {0: "FOUND", 1: "BELOW", 130: "INTERRUPTED"}.get(code, "ERROR")
    stream = sys.stdout if code == 0 else sys.stderr
    print(f"{word}: {result['verdict']}", file=stream, flush=True)
    return code
