"""``harness validate FILE...``: check scenario files without running them."""

from __future__ import annotations

import argparse
from typing import Any

from harness.cli.args import add_allow_host_option, add_set_option

EPILOG = """\
Every error of a file is reported (file, line and key path), not only the first.

examples:
  harness validate scenarios/*.yaml
  harness validate my.yaml --set load.users=500     check an override too

exit codes: 0 every file is valid, 2 at least one is not
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "validate",
        help="check scenario files without running them",
        description="Check scenario files: every key, type and bound, the chaos windows' "
        "fault parameters, and the gates' references, without starting anything; a session "
        "hook (load.session.hook) is imported, as a run would.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("scenarios", nargs="+", metavar="FILE", help="scenario YAML files")
    add_set_option(p)
    add_allow_host_option(p)
    p.set_defaults(handler=main)


def main(args: argparse.Namespace, argv: list[str]) -> int:
    from harness.cli.exits import ExitCode, print_error
    from harness.config.loader import load_scenario, validate_scenario
    from harness.errors import ScenarioError
    from harness.load.hooks import check_hook

    bad = 0
    for path in args.scenarios:
        errors = validate_scenario(path, sets=args.set, allow_hosts=args.allow_host)
        if errors:
            bad += 1
            for error in errors:
                print_error(str(error))
            continue
        s = load_scenario(path, sets=args.set, allow_hosts=args.allow_host)
        try:
            check_hook(s)  # imports the session hook, as a run would
        except ScenarioError as exc:
            bad += 1
            print_error(str(exc))
            continue
        target = s.target.url or "embedded target"
        mix = ", ".join(f"{k}={w:g}" for k, w in s.load.mix.items())
        n = len(s.chaos)
        chaos = f"; {n} chaos window{'' if n == 1 else 's'}" if s.chaos else ""
        print(
            f"{path}: ok ({s.name}: {target}; {s.load.users} users, {s.load.duration:g} s; "
            f"mix {mix}; {len(s.gates)} gates{chaos})"
        )
    return int(ExitCode.CANNOT_RUN if bad else ExitCode.PASS)
