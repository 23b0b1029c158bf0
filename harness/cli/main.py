"""The `harness` command line: the only place that turns errors into exit codes."""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from harness import __version__
from harness.config.scenario import DEFECTS
from harness.errors import HarnessError

EXIT_HARNESS = 2

MAIN_EPILOG = """\
examples:
  harness run scenarios/smoke.yaml                 run a scenario against the embedded target
  harness run scenarios/smoke.yaml --duration 10 --defect accept-empty-token
  harness run scenarios/auth-matrix.yaml --target-url ws://127.0.0.1:9000/ws
  harness target --port 8765 --defect cache-past-expiry   serve the reference target alone
  harness report reports/<run-id>                  rebuild a run's report from its directory
  harness validate scenarios/*.yaml                check scenario files
  harness chaos check                              which chaos faults this machine supports
  harness doctor ws://127.0.0.1:8765/ws            quick diagnosis of a target (secret from env)
  harness compare reports/<run-a> reports/<run-b>  regressions between two runs

exit codes (harness run):
  0  every gate passed
  1  a gate failed (the terminal, summary.json and index.html name it)
  2  the harness could not run: bad scenario, target failed to start,
     or the load generator's own faults dominate the results
  130  stopped by Ctrl-C or SIGTERM (a report of what ran is still written)
"""


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Load-and-chaos testing harness for WebSocket services.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="run a scenario and write a report",
        description="Run a scenario: start the target (embedded unless a URL is given), drive "
        "WebSocket users with the scenario's token mix, record every attempt, build the "
        "report and exit 0/1/2 by the gates.",
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("scenario", help="scenario YAML file, e.g. scenarios/smoke.yaml")
    run.add_argument(
        "--duration", type=_positive_float, metavar="SECONDS", help="override load.duration"
    )
    run.add_argument("--users", type=_positive_int, help="override load.users")
    run.add_argument(
        "--spawn-rate", type=_positive_float, metavar="PER_SECOND", help="override load.spawn_rate"
    )
    run.add_argument(
        "--out",
        type=Path,
        default=Path("reports"),
        metavar="DIR",
        help="where run directories go (default: reports/)",
    )
    run.add_argument(
        "--target-url",
        metavar="URL",
        help="test this ws:// or wss:// URL instead of the scenario's target",
    )
    run.add_argument(
        "--defect",
        action="append",
        default=[],
        choices=DEFECTS,
        metavar="NAME",
        help="start the embedded target with this defect (repeatable): " + ", ".join(DEFECTS),
    )
    run.add_argument("-q", "--quiet", action="store_true", help="no progress lines")

    target = sub.add_parser(
        "target",
        help="serve the embedded reference target alone",
        description="Serve the reference WebSocket target (JWT checks, capacity limits, "
        "/health, /metrics) until Ctrl-C.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from harness.target.cli import add_arguments

    add_arguments(target)

    report = sub.add_parser("report", help="rebuild the report of a run directory")
    report.add_argument("run_dir", type=Path, help="a run directory, e.g. reports/<run-id>")

    validate = sub.add_parser("validate", help="check scenario files without running them")
    validate.add_argument("scenarios", nargs="+", help="scenario YAML files")

    doctor = sub.add_parser(
        "doctor",
        help="diagnose a target quickly: token kinds, heartbeat, a connection ramp, findings",
        description="A quick (~25 s) diagnosis of a WebSocket target: every token kind a few "
        "times, a heartbeat check, a short ramp of connections, then the findings.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from harness.load.doctor import EPILOG as DOCTOR_EPILOG
    from harness.load.doctor import add_arguments as doctor_arguments

    doctor.epilog = DOCTOR_EPILOG
    doctor_arguments(doctor)

    compare = sub.add_parser(
        "compare",
        help="compare two runs (baseline vs candidate); exit 1 on regressions",
        add_help=False,
    )
    compare.add_argument("rest", nargs=argparse.REMAINDER)

    chaos = sub.add_parser(
        "chaos",
        help="list chaos faults, or check which this machine supports",
        description="Chaos faults a scenario can schedule under `chaos:`.",
        epilog="examples:\n  harness chaos list\n  harness chaos check\n"
        "  harness chaos list --markdown > docs/chaos.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    chaos.add_argument(
        "action",
        choices=("list", "check"),
        help="list: faults and parameters; check: which faults this machine can apply, and why not",
    )
    chaos.add_argument("--markdown", action="store_true", help="list as Markdown")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `harness` console script; returns the process exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["compare"]:  # its own parser, help and exit codes
        from harness.cli.compare import main as compare_main

        return compare_main(args_list[1:])
    if args_list[:1] == ["run"]:
        # Locust monkey-patches with gevent on import; do it before anything imports ssl.
        import locust  # noqa: F401
    args = build_parser().parse_args(args_list)
    try:
        if args.command == "run":
            return _cmd_run(args, args_list)
        if args.command == "target":
            from harness.target.cli import main as target_main

            return target_main(args_list[1:])
        if args.command == "report":
            return _cmd_report(args.run_dir)
        if args.command == "validate":
            return _cmd_validate(args.scenarios)
        if args.command == "doctor":
            from harness.load.doctor import options_from_args, run_doctor

            code, _ = run_doctor(options_from_args(args))
            return code
        if args.command == "chaos":
            from harness.chaos.catalogue import catalogue_markdown, catalogue_text

            if args.markdown:
                print(catalogue_markdown(), end="")
            else:
                print(catalogue_text(check=args.action == "check"))
            return 0
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return EXIT_HARNESS
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    return EXIT_HARNESS


def _cmd_run(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.config.loader import load_scenario
    from harness.config.overrides import apply_overrides

    scenario = load_scenario(args.scenario)
    scenario = apply_overrides(
        scenario,
        duration=args.duration,
        users=args.users,
        spawn_rate=args.spawn_rate,
        target_url=args.target_url,
        defects=args.defect,
    )
    from harness.load import runner  # imports Locust: gevent monkey-patching from here on

    def say(line: str) -> None:
        if not args.quiet or not line.startswith("["):
            print(line, flush=True)

    result = runner.run(scenario, out_dir=args.out, command=shlex.join(["harness", *argv]), say=say)
    verdict = {0: "PASS", 1: "FAIL"}.get(result.exit_code, "ERROR")
    stream = sys.stdout if result.exit_code == 0 else sys.stderr
    print(f"{verdict}: {result.message}", file=stream, flush=True)
    return result.exit_code


def _cmd_report(run_dir: Path) -> int:
    from harness.errors import RunDirError
    from harness.render.report import build_report
    from harness.render.terminal import format_terminal_summary

    if not (run_dir / "meta.json").is_file():
        raise RunDirError(f"{run_dir}: not a run directory (no meta.json)")
    report = build_report(run_dir)
    print(format_terminal_summary(report.summary, report.gate_results))
    print(f"report: {report.paths.index_html.resolve().as_uri()}")
    return 0 if report.passed else 1


def _cmd_validate(paths: list[str]) -> int:
    from harness.config.loader import load_scenario

    bad = 0
    for path in paths:
        try:
            s = load_scenario(path)
        except HarnessError as exc:
            print(f"harness: error: {exc}", file=sys.stderr)
            bad += 1
            continue
        target = s.target.url or "embedded target"
        mix = ", ".join(f"{k}={w:g}" for k, w in s.load.mix.items())
        print(
            f"{path}: ok ({s.name}: {target}; {s.load.users} users, {s.load.duration:g} s; "
            f"mix {mix}; {len(s.gates)} gates)"
        )
    return EXIT_HARNESS if bad else 0
