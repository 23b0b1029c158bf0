"""``harness worker SCENARIO --master-host HOST``: a distributed run's worker.

It connects to a master (``harness master`` or ``harness run --workers N``), runs the users
Locust gives it with what the master's ``harness_run`` says (target URL, run id, secret),
and sends every attempt record to the master (:mod:`harness.load.worker`). It writes no
run directory and applies no chaos. It exits when the master quits (0), or with 2 when it
cannot connect or its scenario is not the master's. Ctrl-C or SIGTERM stop its users,
send its last records and tell the master it left.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from harness.cli.args import add_scenario_overrides, positive_float
from harness.cli.master import DEFAULT_MASTER_PORT
from harness.config.scenario import DEFECTS
from harness.errors import HarnessError

EPILOG = """\
examples:
  harness worker scenarios/smoke.yaml --master-host 127.0.0.1
  harness worker scenarios/smoke.yaml --master-host 127.0.0.1 --master-port 6000 --users 4000

Give it the scenario file and overrides (--users, --set, ...) the master has: a worker whose
scenario differs refuses the run and says why. The secret comes from the master.
"""


def add_parser(sub: Any) -> None:
    worker = sub.add_parser(
        "worker",
        help="run the users of a master's run (harness master) on this machine",
        description="Connect to a distributed run's master and run the users it gives this "
        "process; every attempt record goes to the master, which writes the report.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.add_argument("scenario", help="scenario YAML file (the master's)")
    worker.add_argument(
        "--master-host",
        required=True,
        metavar="HOST",
        help="the master's host (loopback here, e.g. 127.0.0.1)",
    )
    worker.add_argument(
        "--master-port",
        type=int,
        default=DEFAULT_MASTER_PORT,
        metavar="PORT",
        help=f"the master's port (default {DEFAULT_MASTER_PORT})",
    )
    worker.add_argument(
        "--connect-timeout",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="give up when the master has not answered within this (default 60)",
    )
    add_scenario_overrides(worker, DEFECTS)
    worker.set_defaults(handler=main)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.cli.scenario import scenario_from_args

    if not 0 < args.master_port <= 65535:
        raise HarnessError(f"--master-port: {args.master_port} is not a port")
    scenario = scenario_from_args(args)
    # Locust monkey-patches with gevent on import: from here on, and before ssl & co.
    import gevent
    import locust
    import locust.runners
    from locust.env import Environment

    import signal

    from harness.cli.exits import ExitCode
    from harness.load.user import ScenarioUser
    from harness.load.worker import WorkerSide

    def say(line: str) -> None:
        print(line, flush=True)

    side = WorkerSide(scenario, say)
    env = Environment(user_classes=[ScenarioUser], events=locust.events)
    # Locust retries the first contact every CONNECT_TIMEOUT s, CONNECT_RETRY_COUNT times
    # (5 min by default): a mistyped host should not hang that long
    tries = math.ceil(args.connect_timeout / locust.runners.CONNECT_TIMEOUT)
    retries = max(0, tries - 1)
    locust.runners.CONNECT_RETRY_COUNT = retries
    try:
        runner = env.create_worker_runner(args.master_host, args.master_port)
    except ConnectionError:
        raise HarnessError(
            f"no master answered at {args.master_host}:{args.master_port} within"
            f" {args.connect_timeout:g} s (--connect-timeout): is `harness master` running"
            " there, on that --master-bind-port?"
        ) from None
    side.attach(env)
    env.events.init.fire(environment=env, runner=runner, web_ui=None)  # type: ignore[no-untyped-call]
    say(f"worker connected to the master at {args.master_host}:{args.master_port}")

    def leave(name: str) -> None:
        say(f"worker: {name}: stopping users, sending the last records")
        gevent.spawn(runner.quit)  # stops the users (test_stop: the last batch), then quits

    for sig in (signal.SIGINT, signal.SIGTERM):
        gevent.signal_handler(sig, leave, sig.name)
    runner.greenlet.join()
    env.events.quitting.fire(environment=env, reverse=True)  # type: ignore[no-untyped-call]
    return int(ExitCode.CANNOT_RUN) if side.refused else int(ExitCode.PASS)
