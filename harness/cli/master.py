"""``harness master SCENARIO`` and ``harness run SCENARIO --workers N``: a distributed run's
master, on Locust's own master/worker protocol.

The master is the run: it owns the run directory, the embedded target, the probe, chaos,
the records and the report (the one engine of :mod:`harness.load.lifecycle`); Locust's
:class:`MasterRunner` spreads the users over the workers, whose records stream back
(:mod:`harness.load.master`). ``harness run --workers N`` starts N worker processes on this
machine (:mod:`harness.load.worker_processes`); ``harness master --expect-workers N`` waits
for N workers started elsewhere with ``harness worker``.
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
    positive_float,
    scenario_override_flags,
)
from harness.config.scenario import DEFECTS, Scenario
from harness.errors import HarnessError

#: At most this many worker processes on one machine (``--workers``).
MAX_LOCAL_WORKERS = 64
#: Locust's default port for workers to connect to.
DEFAULT_MASTER_PORT = 5557

EPILOG = """\
examples:
  harness master scenarios/smoke.yaml --expect-workers 2
      then on each load machine (with the same scenario file):
  harness worker scenarios/smoke.yaml --master-host 127.0.0.1
  harness master scenarios/capacity.yaml --expect-workers 4 --master-bind-port 6000 --users 4000
  harness run scenarios/smoke.yaml --workers 2           the same, both workers on this machine

The master owns the target, the chaos faults, the run directory and the report; workers
only run users and send their records. Give every machine the same scenario file and the
same overrides (--users, --set, ...): a worker whose scenario differs refuses the run. The
signing secret goes from the master to the workers over Locust's connection only.

exit codes: as harness run (0 pass, 1 a gate failed, 2 could not run, 130 interrupted)
"""


def workers_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 1 <= value <= MAX_LOCAL_WORKERS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_LOCAL_WORKERS} workers, got {value}")
    return value


def add_parser(sub: Any) -> None:
    master = sub.add_parser(
        "master",
        help="run a scenario as the master of workers on other machines",
        description="Run a scenario as a distributed run's master: wait for the workers "
        "(harness worker), spread the users over them, take their records, write the run "
        "directory and the report, exit by the gates.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    master.add_argument("scenario", help="scenario YAML file, e.g. scenarios/smoke.yaml")
    master.add_argument(
        "--expect-workers",
        type=workers_count,
        default=1,
        metavar="N",
        help="start the load once N workers are connected (default 1)",
    )
    master.add_argument(
        "--expect-workers-timeout",
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="give up when the workers have not connected within this (default 60)",
    )
    master.add_argument(
        "--master-bind-host",
        default="127.0.0.1",
        metavar="HOST",
        help="interface the workers connect to (default 127.0.0.1: this machine only)",
    )
    master.add_argument(
        "--master-bind-port",
        type=int,
        default=DEFAULT_MASTER_PORT,
        metavar="PORT",
        help=f"port the workers connect to (default {DEFAULT_MASTER_PORT})",
    )
    add_scenario_overrides(master, DEFECTS)
    add_out_option(master)
    add_metrics_options(master)
    add_secret_options(master)
    master.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    master.set_defaults(handler=main)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.cli.scenario import scenario_from_args

    if not 0 <= args.master_bind_port <= 65535:
        raise HarnessError(f"--master-bind-port: {args.master_bind_port} is not a port")
    scenario = scenario_from_args(args)
    return run_master(
        args,
        argv,
        scenario,
        route="harness master",
        expect=args.expect_workers,
        host=args.master_bind_host,
        port=args.master_bind_port,
        timeout=args.expect_workers_timeout,
    )


def run_master(
    args: argparse.Namespace,
    argv: list[str],
    scenario: Scenario,
    *,
    route: str,
    local: int = 0,
    expect: int = 0,
    host: str = "127.0.0.1",
    port: int = 0,
    timeout: float | None = None,
) -> int:
    """Run ``scenario`` as a master: with ``local`` worker processes started here, or
    waiting for ``expect`` workers started elsewhere. The exit code is the run's verdict."""
    # Locust monkey-patches with gevent on import: from here on, and before ssl & co.
    import gevent
    import locust
    from locust.env import Environment
    from locust.exception import RPCError

    import signal
    from contextlib import ExitStack

    from harness.cli.exits import ExitCode, report_run
    from harness.load.lifecycle import RunEngine, RunPlan, end_and_quit
    from harness.load.master import MasterSide
    from harness.load.shape import install_shape, start_load
    from harness.load.user import ScenarioUser
    from harness.load.worker_processes import (
        CONNECT_TIMEOUT_S,
        WorkerProcesses,
        worker_command,
    )

    def say(line: str) -> None:
        if not args.quiet or not line.startswith("["):
            print(line, flush=True)

    plan = RunPlan(
        scenario=scenario,
        out_dir=Path(args.out),
        command=shlex.join(["harness", *argv]),
        route=route,
        metrics=metrics_address(args),
    )
    procs: WorkerProcesses | None = None
    master = MasterSide(say, exit_of=lambda pid: procs.exit_of(pid) if procs else None)
    engine = RunEngine(plan, say=say, on_finished=report_run, master=master)
    engine.prepare()
    env = Environment(user_classes=[ScenarioUser], events=locust.events)
    try:
        runner = env.create_master_runner(host, port)
    except (RPCError, SystemExit) as exc:  # Locust exits on a busy port (its message logged)
        why = str(exc) if isinstance(exc, RPCError) else "the address is in use"
        raise HarnessError(
            f"--master-bind-host/--master-bind-port: cannot listen on {host}:{port}: {why}"
            " (another master still running?)"
        ) from None
    install_shape(env, scenario)
    master.attach(env)
    engine.attach(env.events)
    quit_once: list[bool] = []

    def quit_after_test(environment: Any, **_: Any) -> None:
        """A headless master ends with its test, whoever stopped it (Locust stops the test
        itself when its last worker is gone)."""
        if not quit_once:
            quit_once.append(True)
            gevent.spawn(end_and_quit, runner)

    env.events.test_stop.add_listener(quit_after_test)  # type: ignore[no-untyped-call]
    env.events.init.fire(environment=env, runner=runner, web_ui=None)  # type: ignore[no-untyped-call]
    count = local or expect
    with ExitStack() as stack:
        if local:
            command = worker_command(
                scenario.source or args.scenario, runner.server.port, scenario_override_flags(args)
            )
            procs = stack.enter_context(WorkerProcesses(command, local).start())
            say(
                f"started {local} worker processes (PIDs {', '.join(map(str, procs.pids))});"
                f" master on 127.0.0.1:{runner.server.port}"
            )
            procs.wait_connected(lambda: len(master.connected()), CONNECT_TIMEOUT_S)
        else:
            say(
                f"master on {host}:{runner.server.port}: waiting for {expect} workers"
                f" (harness worker {args.scenario} --master-host HOST"
                f" --master-port {runner.server.port})"
            )
            wait_for_workers(master, expect, timeout or 60.0)
        say(f"{count} workers connected")
        for sig in (signal.SIGINT, signal.SIGTERM):
            gevent.signal_handler(sig, engine.interrupt, env, sig.name)
        start_load(env, scenario)
        runner.greenlet.join()
        env.events.quitting.fire(environment=env, reverse=True)  # type: ignore[no-untyped-call]
    if env.process_exit_code is None:
        return int(ExitCode.CANNOT_RUN)
    return int(env.process_exit_code)


def wait_for_workers(master: Any, expect: int, timeout: float) -> None:
    """Wait until ``expect`` workers are connected to ``master`` (a MasterSide).

    Raises:
        HarnessError: fewer connected within ``timeout`` s.
    """
    import gevent

    import time

    deadline = time.monotonic() + timeout
    while len(master.connected()) < expect:
        if time.monotonic() > deadline:
            raise HarnessError(
                f"only {len(master.connected())} of {expect} workers connected within"
                f" {timeout:g} s (--expect-workers-timeout)"
            )
        gevent.sleep(0.2)
