"""``harness run SCENARIO``: the scenario against its target, in Locust's library mode.

The run itself is :mod:`harness.load.lifecycle`, the same engine the Locust route uses;
this module parses the command line, starts Locust's local runner, turns Ctrl-C and
SIGTERM into an interrupted run, and exits with the run's verdict.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from harness.cli.args import (
    add_metrics_options,
    add_out_option,
    add_scenario_overrides,
    add_secret_options,
    metrics_address,
)
from harness.cli.master import MAX_LOCAL_WORKERS, workers_count
from harness.config.scenario import DEFECTS

EPILOG = """\
examples:
  harness run scenarios/smoke.yaml                        the embedded target, 30 s
  harness run scenarios/smoke.yaml --duration 10 --defect accept-empty-token   (exit 1)
  harness run scenarios/smoke.yaml --target-url ws://127.0.0.1:9000/ws --secret-env MY_KEY
  harness run scenarios/cpu-starvation.yaml --set load.users=50 --set chaos[0].percent=10
  harness run scenarios/smoke.yaml -q --out /tmp/runs     no progress lines
  harness run scenarios/smoke.yaml --workers 2 --users 200   users in 2 worker processes
  harness run scenarios/smoke.yaml --metrics-port 9464   live counters for Prometheus

exit codes:
  0    every gate passed
  1    a gate failed (the terminal, summary.json and index.html name it)
  2    the harness could not run: bad scenario or flag, target failed to start, the
       load generator's own faults dominate the results, or a worker (--workers) was lost
  130  stopped by Ctrl-C or SIGTERM (the report of what ran is still written)
"""


def add_parser(sub: Any) -> None:
    run = sub.add_parser(
        "run",
        help="run a scenario and write a report",
        description="Run a scenario: start the target (embedded unless a URL is given), drive "
        "WebSocket users with the scenario's token mix, record every attempt, build the "
        "report and exit by the gates.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("scenario", help="scenario YAML file, e.g. scenarios/smoke.yaml")
    add_scenario_overrides(run, DEFECTS)
    add_out_option(run)
    run.add_argument(
        "--workers",
        type=workers_count,
        metavar="N",
        help="run the users in N worker processes on this machine (Locust's distributed "
        f"mode; 1 to {MAX_LOCAL_WORKERS}); this process is their master",
    )
    add_metrics_options(run)
    add_secret_options(run)
    run.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    run.set_defaults(handler=main)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    """Run the scenario; the exit code is the run's verdict (see :mod:`harness.cli.exits`)."""
    from harness.cli.scenario import scenario_from_args

    scenario = scenario_from_args(args)
    if args.workers:
        from harness.cli.master import run_master

        return run_master(args, argv, scenario, route="harness run", local=args.workers)
    # Locust monkey-patches with gevent on import: from here on, and before ssl & co.
    import gevent
    import locust
    from locust.env import Environment

    import signal

    from harness.cli.exits import ExitCode, report_run
    from harness.load.lifecycle import RunEngine, RunPlan
    from harness.load.shape import install_shape, start_load
    from harness.load.user import ScenarioUser

    def say(line: str) -> None:
        if not args.quiet or not line.startswith("["):
            print(line, flush=True)

    plan = RunPlan(
        scenario=scenario,
        out_dir=Path(args.out),
        command=shlex.join(["harness", *argv]),
        route="harness run",
        metrics=metrics_address(args),
    )
    engine = RunEngine(plan, say=say, on_finished=report_run)
    engine.prepare()
    env = Environment(user_classes=[ScenarioUser], events=locust.events)
    runner = env.create_local_runner()
    install_shape(env, scenario)
    engine.attach(env.events)
    env.events.init.fire(environment=env, runner=runner, web_ui=None)  # type: ignore[no-untyped-call]
    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, engine.interrupt, env, sig.name)
    start_load(env, scenario)
    runner.greenlet.join()
    env.events.quitting.fire(environment=env, reverse=True)  # type: ignore[no-untyped-call]
    if env.process_exit_code is None:  # no run reported (cannot happen unless Locust failed)
        return int(ExitCode.CANNOT_RUN)
    return int(env.process_exit_code)
