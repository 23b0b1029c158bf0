"""The Locust route: ``locust -f locustfile.py --scenario FILE`` (headless or the web UI).

Locust parses the command line and drives the load; this module adds the harness's options
to Locust's parser and, when Locust fires ``init``, loads the scenario and hangs the run
engine (:mod:`harness.load.lifecycle`, the one ``harness run`` uses) on Locust's events.
Every test is a run with its own directory, chaos timeline, report and verdict; the last
run's verdict is Locust's exit code (0 / 1 / 2 / 130, see :mod:`harness.cli.exits`).
``-u`` and ``-r`` default to the scenario's users and spawn rate (with ``load.stages`` the
scenario's shape runs instead, :mod:`harness.load.shape`); the load stops at the
scenario's duration unless ``-t`` (or the web UI's stop button) ends it earlier, and the
run is then marked incomplete.

Locust's distributed mode works the same: ``--master`` runs the engine (target, chaos,
records, report) and ``--worker`` only the users (:mod:`harness.load.master`,
:mod:`harness.load.worker`); give the workers the master's ``--scenario`` and ``--set``.
"""

from __future__ import annotations

import gevent

import os
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

from harness.cli.args import add_allow_host_option, add_secret_options, add_set_option
from harness.cli.exits import ExitCode, print_error, report_run
from harness.errors import HarnessError


def add_arguments(parser: Any) -> None:
    """The harness's options on Locust's parser (``init_command_line_parser``)."""
    group = parser.add_argument_group("harness", "the WebSocket scenario to run")
    group.add_argument(
        "--scenario",
        default="scenarios/smoke.yaml",
        help="scenario YAML file (default %(default)s)",
    )
    group.add_argument(
        "--out",
        default="reports",
        help="directory for run directories (default %(default)s/)",
    )
    add_set_option(group)
    add_allow_host_option(group)
    add_secret_options(group)


def on_init(environment: Any, **_: Any) -> None:
    """Load the scenario and attach the run engine; a bad scenario ends Locust with exit 2."""
    from harness.cli.scenario import scenario_from_args
    from harness.load.lifecycle import RunEngine, RunPlan
    from harness.load.master import MasterSide
    from harness.load.shape import install_shape
    from harness.load.worker import WorkerSide

    opts = environment.parsed_options
    if opts is None:  # the locustfile imported in library mode: the caller drives the runs
        return
    try:
        scenario = scenario_from_args(opts)
        if getattr(opts, "worker", False):  # users only: the master runs everything else
            WorkerSide(scenario, _say).attach(environment)
            print(f"harness: worker of scenario {scenario.name!r}; the master writes the runs")
            return
        master = MasterSide(_say) if getattr(opts, "master", False) else None
        if opts.num_users is None:
            opts.num_users = scenario.load.users
        if opts.spawn_rate is None:
            opts.spawn_rate = scenario.load.spawn_rate
        plan = RunPlan(
            scenario=scenario,
            out_dir=Path(opts.out),
            command=shlex.join(["locust", *sys.argv[1:]]),
            route="locust" if opts.headless else "locust web ui",
        )
        engine = RunEngine(plan, say=_say, on_finished=report_run, master=master)
        engine.prepare()
    except HarnessError as exc:
        print_error(str(exc))
        raise SystemExit(int(ExitCode.CANNOT_RUN)) from None
    install_shape(environment, scenario)  # load.stages: Locust's shape worker runs them
    if master is not None:
        master.attach(environment)
    engine.attach(environment.events)
    catch_ctrl_c()
    print(f"harness: scenario {scenario.name!r}; each test writes a run directory in {opts.out}")


def catch_ctrl_c() -> None:
    """Ctrl-C as Locust's SIGTERM: a clean shutdown through ``quitting``, whatever greenlet
    runs when it comes. Left to Python, SIGINT is a KeyboardInterrupt raised in the greenlet
    that happens to run, and one raised inside a user's greenlet ends that user, not the run
    (seen under load: the run went on to its end). Left alone when SIGINT is ignored (nohup)."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        return
    gevent.signal_handler(signal.SIGINT, os.kill, os.getpid(), signal.SIGTERM)


def _say(line: str) -> None:
    print(line, flush=True)


def install(events: Any) -> None:
    """Hang the harness on Locust's events (the locustfile calls this with ``locust.events``)."""
    events.init_command_line_parser.add_listener(add_arguments)
    events.init.add_listener(on_init)
